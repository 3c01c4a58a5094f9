"""Every entry point the package declares loads, is configurable, described and namespaced."""

from __future__ import annotations

import json

from pump.testing import PluginContract

from pump_redis import RedisConnection, RedisStreamSink, RedisStreamSource


class TestPlugins(PluginContract):
    distribution = "pump-redis"
    declared = {
        ("connection", "redis"): RedisConnection,
        ("source", "redis.stream"): RedisStreamSource,
        ("sink", "redis.stream"): RedisStreamSink,
    }


def test_pump_plugins_lists_the_components(capsys) -> None:
    from pump.cli import main

    assert main(["plugins", "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["distribution"] == "pump-redis"]
    assert {(r["kind"], r["name"], r["status"]) for r in rows} == {
        ("connection", "redis", "ok"),
        ("source", "redis.stream", "ok"),
        ("sink", "redis.stream", "ok"),
    }
