"""A BSPump file CSV pipeline, ported by changing imports: FileCSVSource with `post: noop` on
a RunOnceTrigger → a Processor → FileCSVSink; the app ends by itself when the file is read.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Any

import pump
import pump.common
import pump.trigger
import pump_file  # bspump.file


class NameLengthProcessor(pump.Processor):
    def process(self, context, event):
        event["name_length"] = str(len(event["name"]))
        return event


class SampleCSVPipeline(pump.Pipeline):
    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)
        self.Source = pump_file.FileCSVSource(
            app,
            self,
            config={
                "path": self.Config["input"],
                "delimiter": ";",
                "post": "noop",  # one of 'delete', 'noop' and 'move'
            },
        )
        self.Sink = pump_file.FileCSVSink(app, self, config={"path": self.Config["output"]})
        self.build(
            self.Source.on(pump.trigger.RunOnceTrigger(app)),
            NameLengthProcessor(app, self),
            self.Sink,
        )


def run_pump(conf: Path) -> int:
    app = pump.BSPumpApplication(args=["-c", str(conf)])
    svc = app.get_service("bspump.PumpService")
    svc.add_pipeline(SampleCSVPipeline(app, "SampleCSVPipeline"))
    return app.run()


def test_csv_pipeline_reads_once_and_writes_the_enriched_rows(tmp_path: Path) -> None:
    source = tmp_path / "countries.csv"
    source.write_text("name;code\nCzechia;CZ\nSlovakia;SK\nAustria;AT\n")
    output = tmp_path / "countries-out.csv"
    conf = tmp_path / "pump.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        [pipeline:SampleCSVPipeline]
        input = {source}
        output = {output}
        """)
    )

    assert run_pump(conf) == 0

    with output.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [
        {"name": "Czechia", "code": "CZ", "name_length": "7"},
        {"name": "Slovakia", "code": "SK", "name_length": "8"},
        {"name": "Austria", "code": "AT", "name_length": "7"},
    ]
    # post: noop leaves the file where it was (BSPump renamed it back after reading)
    assert source.read_text() == "name;code\nCzechia;CZ\nSlovakia;SK\nAustria;AT\n"
    assert not (tmp_path / "countries.csv-processed").exists()


def test_post_noop_does_not_read_an_unchanged_file_again(tmp_path: Path) -> None:
    # The deliberate difference (docs/porting-from-bspump.md): BSPump's noop read the same
    # file again on the next trigger; Pump's (post_process: keep) reads it again only changed.
    source = tmp_path / "in.csv"
    source.write_text("name;code\nCzechia;CZ\n")
    output = tmp_path / "out.csv"
    conf = tmp_path / "pump.conf"
    conf.write_text(f"[pipeline:SampleCSVPipeline]\ninput = {source}\noutput = {output}\n")
    assert run_pump(conf) == 0
    output.unlink()

    assert run_pump(conf) == 0
    assert not output.exists()

    source.write_text("name;code\nCzechia;CZ\nPoland;PL\n")
    assert run_pump(conf) == 0
    assert output.read_text().splitlines()[-1] == "Poland,PL,6"


def test_post_values_map_to_post_process(tmp_path: Path) -> None:
    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "p")
    mapping = {"move": "rename", "noop": "keep", "delete": "delete"}
    for post, post_process in mapping.items():
        source = pump_file.FileLineSource(app, pipeline, config={"path": "x", "post": post})
        assert source.Config.post_process == post_process


def test_post_contradicting_post_process_is_an_error() -> None:
    app = pump.Application(args=[])
    pipeline = pump.Pipeline(app, "p")
    try:
        pump_file.FileLineSource(
            app, pipeline, config={"path": "x", "post": "noop", "post_process": "delete"}
        )
    except pump.ConfigError as exc:
        assert "key 'post': 'noop' (BSPump's key) means post_process 'keep'" in str(exc)
    else:
        raise AssertionError("no ConfigError")


def test_file_source_on_a_periodic_trigger_scans_on_every_fire(tmp_path: Path) -> None:
    import asyncio

    from port_helpers import run_until

    (tmp_path / "a.csv").write_text("name\nfirst\n")
    app = pump.Application(args=[])
    pl = pump.Pipeline(app, "p")
    sink = pump.common.ListSink(app, pl)
    pl.build(
        pump_file.FileCSVSource(app, pl, config={"path": str(tmp_path / "*.csv")}).on(
            pump.trigger.PeriodicTrigger(app, 0.05)
        ),
        sink,
    )
    app.add_pipeline(pl)

    async def scenario() -> int:
        async def add_second_file() -> None:
            while not sink.events:
                await asyncio.sleep(0.01)
            (tmp_path / "b.csv").write_text("name\nsecond\n")

        task = asyncio.get_running_loop().create_task(add_second_file())
        code = await run_until(app, lambda: len(sink.events) >= 2)
        await task
        return code

    assert asyncio.run(scenario()) == 0
    assert sink.events == [{"name": "first"}, {"name": "second"}]
    assert (tmp_path / "b.csv-processed").exists()


def test_a_triggered_scan_that_finds_nothing_says_why(tmp_path: Path, caplog: Any) -> None:
    app = pump.Application(args=[])
    pl = pump.Pipeline(app, "p")
    pl.build(
        pump_file.FileCSVSource(app, pl, config={"path": str(tmp_path / "nodir" / "*.csv")}).on(
            pump.trigger.RunOnceTrigger(app)
        ),
        pump.common.NullSink(app, pl),
    )
    app.add_pipeline(pl)
    assert app.run() == 0
    assert "nothing to read" in caplog.text and "no such folder" in caplog.text


def test_yaml_file_source_takes_a_trigger_and_post(tmp_path: Path) -> None:
    from pump.declarative import build

    source = tmp_path / "in.csv"
    source.write_text("name;code\nCzechia;CZ\n")
    spec = {
        "pipelines": {
            "p": {
                "source": {
                    "type": "file.csv",
                    "path": str(source),
                    "delimiter": ";",
                    "post": "noop",
                    "trigger": "run_once",
                },
                "processors": [{"type": "mapping.keys"}],
                "sink": {"type": "list"},
            }
        }
    }
    app = build(spec)
    assert app.run() == 0
    assert app.locate("p").sink.events == [["name", "code"]]
    assert source.exists()
