"""BSPump's Configuration Quickstart, ported by changing imports: custom keys `url` and
`api_key` in the pipeline's own INI section, read with `self.Config[...]`; the pump runs as
`python mypump.py -c mypump.conf` and stops gracefully on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from port_helpers import JsonServer, pprinted

import pump

HERE = Path(__file__).parent
API_KEY = "k3y-0f-the-test"

PUMP_SCRIPT = """
#!/usr/bin/env python3
import pump
import pump.common
import pump.trigger
import pump_http


class SamplePipeline(pump.Pipeline):

    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)

        self.build(
            pump_http.HTTPClientSource(app, self,
            config={'url': self.Config['url'].format(api_key=self.Config['api_key'])}
            ).on(pump.trigger.PeriodicTrigger(app, 0.1)),
            pump.common.StdJsonToDictParser(app, self),
            pump.common.PPrintSink(app, self)
        )


if __name__ == '__main__':
    app = pump.BSPumpApplication()

    svc = app.get_service("bspump.PumpService")
    pl = SamplePipeline(app, 'SamplePipeline')
    svc.add_pipeline(pl)

    app.run()
"""


def weather(path: str) -> tuple[int, Any]:
    if f"appid={API_KEY}" not in path:
        return 401, {"message": "Invalid API key"}
    return 200, {"name": "London", "main": {"temp": 11.5}}


def test_quickstart_reads_custom_pipeline_keys_from_the_config_file(tmp_path: Path) -> None:
    script = tmp_path / "mypump.py"
    script.write_text(PUMP_SCRIPT.lstrip())
    with JsonServer(weather) as server:
        conf = tmp_path / "mypump.conf"
        conf.write_text(
            textwrap.dedent(f"""\
            [pipeline:SamplePipeline]
            url = {server.url}/data/2.5/weather?q=London&units=metric&appid={{api_key}}
            api_key = {API_KEY}
            """)
        )
        env = {**os.environ, "PYTHONPATH": str(HERE), "PYTHONUNBUFFERED": "1"}
        env.pop("PUMP_IGNORE_ARGV", None)
        process = subprocess.Popen(
            [sys.executable, str(script), "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + 20
            while len(server.paths) < 3 and time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()

    assert process.returncode == 0, err
    assert len(server.paths) >= 3, err
    assert all(f"appid={API_KEY}" in path for path in server.paths)
    printed = pprinted(out)
    assert printed and all(e == {"name": "London", "main": {"temp": 11.5}} for e in printed)
    assert API_KEY not in err  # the key is never logged


def test_custom_keys_of_a_pipeline_are_kept_and_secret_looking_ones_masked() -> None:
    class SamplePipeline(pump.Pipeline):
        pass

    app = pump.BSPumpApplication(
        config={"pipeline:SamplePipeline": {"url": "https://x/{api_key}", "api_key": API_KEY}},
        args=[],
    )
    pl = SamplePipeline(app, "SamplePipeline")
    assert pl.Config["url"].format(api_key=pl.Config["api_key"]) == f"https://x/{API_KEY}"
    assert pl.Config.get("missing", "default") == "default"
    masked = pl.Config.masked()
    assert masked["url"] == "https://x/{api_key}"
    assert masked["api_key"] == "*****"
    assert API_KEY not in repr(pl.Config)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"max_in_flihgt": "5"}, "key 'max_in_flihgt': unknown key; did you mean 'max_in_flight'?"),
        ({"max_in_flight": "many"}, "key 'max_in_flight': Input should be a valid integer"),
    ],
)
def test_declared_pipeline_keys_stay_typed_and_misspellings_are_errors(
    section: dict[str, str], problem: str
) -> None:
    class SamplePipeline(pump.Pipeline):
        pass

    app = pump.Application(config={"pipeline:SamplePipeline": section}, args=[])
    with pytest.raises(pump.ConfigError) as error:
        SamplePipeline(app, "SamplePipeline")
    assert problem in str(error.value)


def test_a_pipeline_declaring_a_model_rejects_unknown_keys() -> None:
    class Typed(pump.Pipeline):
        class ConfigModel(pump.PipelineConfig):
            url: str = ""

    class TypedChild(Typed):
        pass

    app = pump.Application(config={"pipeline:p": {"api_key": "x"}}, args=[])
    for cls in (Typed, TypedChild, pump.Pipeline):
        with pytest.raises(pump.ConfigError, match="key 'api_key': unknown key"):
            cls(app, "p")


def test_config_defaults_of_a_pipeline_are_typed_and_other_keys_kept() -> None:
    class WithDefaults(pump.Pipeline):
        ConfigDefaults = {"port": 8080}

    app = pump.Application(config={"pipeline:p": {"port": "9090", "host": "h"}}, args=[])
    pl = WithDefaults(app, "p")
    assert pl.Config["port"] == 9090
    assert pl.Config["host"] == "h"
