"""The examples in examples/http-coindesk and examples/http-weather (BSPump's Coindesk and
Weather tutorials), run against local stand-ins of their APIs."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import pump
from pump.testing import wait_until
from pump_http.testing import serve

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
COINDESK = EXAMPLES / "http-coindesk"
WEATHER = EXAMPLES / "http-weather"

pytestmark = pytest.mark.skipif(
    not COINDESK.is_dir(), reason="the examples are not here (an sdist of pump-http alone)"
)


def load(path: Path):
    """Import an example's module by its path (its folder is put on sys.path by it)."""
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    return module


def pprinted(text: str) -> list:
    """The objects PPrintSink printed (each starts on a new line with `{` or `[`)."""
    chunks = re.split(r"\n(?=[\[{])", text.strip())
    return [ast.literal_eval(chunk) for chunk in chunks if chunk]


def run_script(script: Path, *args: str) -> list:
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr
    return pprinted(done.stdout)


def test_the_coindesk_script_prints_prices_with_yen():
    printed = run_script(COINDESK / "coindesk.py", "--count", "2", "--interval", "0.2")
    assert len(printed) == 2
    first, second = printed
    assert first["bpi"]["USD"]["rate_float"] != second["bpi"]["USD"]["rate_float"]
    for event in printed:
        usd = event["bpi"]["USD"]["rate_float"]
        assert event["bpi"]["JPY"]["rate_float"] == pytest.approx(usd * 113.70)


async def test_coindesk_prints_a_price_once_however_often_it_is_polled(capsys):
    coindesk = load(COINDESK / "coindesk.py")
    server = load(COINDESK / "price_server.py")
    market = server.Market()
    async with serve(server.make_app(market)) as base:
        app = pump.Application(exit_when_finished=False, args=[])
        pipeline = coindesk.CoindeskPipeline(app, "coindesk", base + server.PATH, 0.02)
        app.add_pipeline(pipeline)
        await app.start()
        try:
            for moves in range(3):
                assert await wait_until(lambda m=moves: pipeline.counters.events_out == m + 1, 5)
                polls = market.requests
                assert await wait_until(lambda p=polls: market.requests >= p + 3, 5)
                market.move()
        finally:
            await app.stop()
    assert market.not_modified >= 6  # unchanged prices: 304, nothing printed
    printed = pprinted(capsys.readouterr().out)
    assert [e["time"]["updated"] for e in printed[:3]] == ["move 0", "move 1", "move 2"]


def test_the_weather_script_reports_every_city():
    printed = run_script(WEATHER / "weather.py", "--count", "3", "--interval", "0.2")
    assert sorted(e["city"] for e in printed) == ["Berlin", "London", "New York"]
    london = next(e for e in printed if e["city"] == "London")
    assert london == {
        "city": "London",
        "country": "GB",
        "temp": 8.91,
        "feels_like": 6.86,
        "pressure": 1030,
        "humidity": 71,
        "sky": "scattered clouds",
    }


async def test_weather_with_a_wrong_key_keeps_running_and_never_shows_the_key(caplog):
    weather = load(WEATHER / "weather.py")
    server = load(WEATHER / "weather_server.py")
    async with serve(server.make_app("right-key")) as base:
        app = pump.Application(exit_when_finished=False, args=[])
        pipeline = weather.WeatherPipeline(app, "weather", base + server.PATH, "WRONG-key", 0.02)
        app.add_pipeline(pipeline)
        await app.start()
        try:
            assert await wait_until(lambda: pipeline.counters.errors >= 6, 5)
            assert not pipeline.is_error()
            assert pipeline.counters.events_out == 0
            errors = [str(e.error) for e in pipeline.errors]
        finally:
            await app.stop()
    assert any("answered 401" in e for e in errors)
    assert "WRONG-key" not in caplog.text
    assert not any("WRONG-key" in e for e in errors)


def test_weather_yaml_under_pump_run(tmp_path):
    pytest.importorskip("pump_file", reason="weather.yaml writes with pump-file's file.jsonl")
    server = load(WEATHER / "weather_server.py")
    out = tmp_path / "weather.jsonl"

    api = server.make_app("yaml-key")

    async def main():
        async with serve(api) as base:
            env = {
                **os.environ,
                "WEATHER_URL": base + server.PATH,
                "OPENWEATHER_API_KEY": "yaml-key",
                "WEATHER_INTERVAL": "0.1",
                "WEATHER_OUT": str(out),
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "pump",
                "run",
                "weather.yaml",
                "--progress",
                "off",
                cwd=WEATHER,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(api[server.REQUESTS]) < 6:
                await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
            return process.returncode, stderr.decode()

    code, stderr = asyncio.run(main())
    assert code == 0, stderr
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(records) >= 4
    assert {r["city"] for r in records} == {"London", "Berlin"}
    assert "yaml-key" not in stderr
