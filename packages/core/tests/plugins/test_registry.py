"""The plugin registry, through real installed distributions (see fixture_dists/)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pump
from pump.plugins import (
    KINDS,
    PluginConflictError,
    PluginLoadError,
    Registry,
    UnknownPluginError,
    normalize_kind,
)

pytestmark = pytest.mark.usefixtures("fixture_dists")


def test_components_of_a_third_party_distribution_are_discovered_with_their_distribution():
    registry = Registry(environ={})
    assert {"test.numbers", "test.ticks", "test.connected"} <= set(registry.names("source"))
    spec = registry.resolve("processor", "test.add")
    assert spec.distribution == "pump-test-plugins"
    assert spec.version == "1.2.3"
    assert spec.value == "pump_test_plugins:AddProcessor"
    cls = registry.load("processor", "test.add")
    assert cls.__module__ == "pump_test_plugins" and cls.__name__ == "AddProcessor"
    assert issubclass(cls, pump.Processor)
    assert registry.load("connection", "test.conn").__name__ == "TestConnection"
    assert registry.load("sink", "test.jsonl").__name__ == "JsonLinesSink"


def test_discovery_imports_nothing_until_a_class_is_used():
    # A fresh interpreter: listing every name of every kind must not import any component.
    code = (
        "import sys\n"
        "from pump.plugins import Registry, KINDS\n"
        "r = Registry()\n"
        "names = {k: r.names(k) for k in KINDS}\n"
        "assert 'test.add' in names['processor'] and 'json.parse' in names['processor']\n"
        "print(sorted(m for m in ('pump_test_plugins', 'pump_test_plugins_broken', "
        "'pump.common', 'pump.pipeline', 'pydantic') if m in sys.modules))\n"
        "r.load('processor', 'test.add')\n"
        "print('pump_test_plugins' in sys.modules, 'pump_test_plugins_broken' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "True False"]


def test_two_distributions_claiming_one_name_is_an_error_naming_both():
    registry = Registry(environ={})
    with pytest.raises(PluginConflictError) as caught:
        registry.load("processor", "test.shared")
    message = str(caught.value)
    assert "pump-test-plugins 1.2.3" in message
    assert "pump-test-plugins-conflict 0.0.1" in message
    assert "test.shared" in message
    # Only that name is affected.
    assert registry.load("processor", "test.add").__name__ == "AddProcessor"


def test_the_conflict_is_reported_in_the_inventory_for_both_distributions():
    rows = [r for r in Registry(environ={}).inventory(["processor"]) if r.name == "test.shared"]
    assert {r.distribution for r in rows} == {"pump-test-plugins", "pump-test-plugins-conflict"}
    assert {r.status for r in rows} == {"conflict"}
    by_dist = {r.distribution: r.error for r in rows}
    assert "pump-test-plugins-conflict" in by_dist["pump-test-plugins"]
    assert "pump-test-plugins" in by_dist["pump-test-plugins-conflict"]


def test_denying_one_distribution_resolves_the_conflict():
    registry = Registry(environ={"PUMP_PLUGINS_DENY": "pump-test-plugins-conflict"})
    cls = registry.load("processor", "test.shared")
    assert cls.__module__ == "pump_test_plugins"
    rows = {
        r.distribution: r.status
        for r in registry.inventory(["processor"])
        if r.name == "test.shared"
    }
    assert rows == {"pump-test-plugins": "ok", "pump-test-plugins-conflict": "denied"}


def test_a_plugin_that_fails_to_import_is_reported_and_the_others_work():
    registry = Registry(environ={})
    rows = {r.name: r for r in registry.inventory(["processor"])}
    broken = rows["test.broken"]
    assert broken.status == "error"
    assert broken.distribution == "pump-test-plugins-broken"
    assert "ImportError" in broken.error and "broken on purpose" in broken.error
    notaclass = rows["test.notaclass"]
    assert notaclass.status == "error" and "not a subclass of Processor" in notaclass.error
    # The same distribution's good entry, another distribution's and the core's still load.
    assert rows["test.fine"].status == "ok"
    assert rows["test.add"].status == "ok"
    assert rows["json.parse"].status == "ok"
    with pytest.raises(PluginLoadError, match=r"pump-test-plugins-broken 0\.0\.2 failed to load"):
        registry.load("processor", "test.broken")
    assert registry.load("processor", "test.fine").__name__ == "FineProcessor"


def test_deny_list_by_entry_name_and_by_kinded_name():
    registry = Registry(environ={"PUMP_PLUGINS_DENY": " test.add , sink:test.jsonl"})
    with pytest.raises(
        UnknownPluginError, match="disabled by PUMP_PLUGINS_ALLOW/PUMP_PLUGINS_DENY"
    ):
        registry.load("processor", "test.add")
    with pytest.raises(UnknownPluginError, match="disabled"):
        registry.load("sink", "test.jsonl")
    assert "test.add" not in registry.names("processor")
    assert registry.load("processor", "test.fail").__name__ == "FailProcessor"


def test_allow_list_keeps_other_third_party_plugins_out_but_not_the_core():
    registry = Registry(environ={"PUMP_PLUGINS_ALLOW": "pump-test-plugins,processor:test.fine"})
    assert registry.load("processor", "test.add").__name__ == "AddProcessor"
    assert registry.load("processor", "test.fine").__name__ == "FineProcessor"
    assert registry.load("processor", "json.parse").__name__ == "JsonParser"  # pump-core
    with pytest.raises(UnknownPluginError, match="disabled"):
        registry.load("processor", "test.broken")
    # The conflicting distribution is not allowed, so the name is no longer claimed twice.
    assert registry.load("processor", "test.shared").__module__ == "pump_test_plugins"
    statuses = {(r.name, r.distribution): r.status for r in registry.inventory(["processor"])}
    assert statuses[("test.broken", "pump-test-plugins-broken")] == "denied"
    assert statuses[("test.notaclass", "pump-test-plugins-broken")] == "denied"


def test_deny_wins_over_allow():
    registry = Registry(
        environ={"PUMP_PLUGINS_ALLOW": "pump-test-plugins", "PUMP_PLUGINS_DENY": "test.add"}
    )
    with pytest.raises(UnknownPluginError):
        registry.load("processor", "test.add")


def test_an_unknown_name_suggests_the_closest_and_the_kind_it_belongs_to():
    registry = Registry(environ={})
    with pytest.raises(UnknownPluginError) as caught:
        registry.load("processor", "json.prase")
    assert "did you mean 'json.parse'?" in str(caught.value)
    with pytest.raises(UnknownPluginError) as caught:
        registry.load("processor", "null")
    assert "'null' is a sink type" in str(caught.value)


def test_every_core_component_is_registered_through_entry_points_and_loads():
    registry = Registry(environ={})
    core = [r for r in registry.inventory() if r.distribution == "pump-core"]
    assert {r.status for r in core} == {"ok"}, [r for r in core if r.status != "ok"]
    from pump.common import (
        FlattenDictProcessor,
        IteratorSource,
        JsonParser,
        JsonSerializer,
        NullSink,
    )
    from pump.declarative import PythonProcessor
    from pump.lookup import DictionaryLookup

    assert registry.load("processor", "json.parse") is JsonParser
    assert registry.load("processor", "json.serialize") is JsonSerializer
    assert registry.load("processor", "flatten") is FlattenDictProcessor
    assert registry.load("processor", "python") is PythonProcessor
    assert registry.load("processor", "tee") is pump.TeeProcessor
    assert registry.load("sink", "null") is NullSink
    assert registry.load("sink", "router") is pump.RouterSink
    assert registry.load("source", "iterator") is IteratorSource
    assert registry.load("source", "internal") is pump.InternalSource
    assert registry.load("lookup", "dictionary") is DictionaryLookup
    assert registry.load("trigger", "periodic") is pump.PeriodicTrigger
    assert registry.load("trigger", "run_once") is pump.RunOnceTrigger
    kinds = {r.kind for r in core}
    assert kinds == set(KINDS) - {"connection"}


def test_kind_names_accept_plural_and_reject_unknown():
    assert normalize_kind("Processors") == "processor"
    with pytest.raises(UnknownPluginError, match="unknown component kind 'widget'"):
        normalize_kind("widget")


FIRST_PARTY_NAMES = [
    ("sink", "file.jsonl", "pump-file"),
    ("source", "file.csv", "pump-file"),
    ("source", "kafka", "pump-kafka"),
    ("processor", "kafka.topic_initializer", "pump-kafka"),
    ("sink", "amqp", "pump-amqp"),
    ("sink", "elasticsearch", "pump-elastic"),
    ("source", "elasticsearch.aggs", "pump-elastic"),
    ("sink", "mysql", "pump-mysql"),
    ("source", "mysql.binlog", "pump-mysql"),
    ("sink", "influxdb", "pump-influxdb"),
    ("processor", "pandas.to_frame", "pump-pandas"),
    ("processor", "pandas.function", "pump-pandas"),
    ("processor", "pandas.from_frame", "pump-pandas"),
    ("sink", "pandas.parquet", "pump-pandas"),
    ("sink", "pandas.csv", "pump-pandas"),
    ("source", "http.server", "pump-http"),
    ("sink", "http.client", "pump-http"),
    ("source", "websocket.client", "pump-http"),
]


@pytest.mark.parametrize("kind, name, distribution", FIRST_PARTY_NAMES)
def test_an_unknown_first_party_type_names_its_package_and_how_to_install_it(
    monkeypatch, kind, name, distribution
):
    # As if the distribution were not installed (some of them are, in the test venv).
    monkeypatch.setattr("pump.plugins.installed", lambda dist: False)
    registry = Registry(environ={})
    registry._specs[kind] = {}  # its entry points are not there either
    with pytest.raises(UnknownPluginError) as caught:
        registry.load(kind, name)
    message = str(caught.value)
    assert f"unknown {kind} type '{name}'" in message
    assert f"{distribution} provides it" in message and f"pip install {distribution}" in message
    assert distribution in str(registry.unknown_anywhere(name))


def test_every_installed_first_party_package_registers_names_under_its_prefix():
    from pump.plugins import FIRST_PARTY, first_party_distribution, installed

    registry = Registry(environ={})
    for kind in KINDS:
        for name, specs in registry.specs(kind).items():
            dist = first_party_distribution(name)
            if dist is not None:
                assert {s.distribution for s in specs} == {dist}, (kind, name)
    for distribution in ("pump-file", "pump-kafka", "pump-amqp"):
        assert distribution in FIRST_PARTY.values()
        assert installed(distribution)


def test_an_unknown_name_of_an_installed_first_party_package_gets_no_install_hint():
    registry = Registry(environ={})
    with pytest.raises(UnknownPluginError) as caught:
        registry.load("sink", "file.jsonx")
    assert "pip install" not in str(caught.value)
    assert "did you mean 'file.jsonl'?" in str(caught.value)
