"""Lookups: loading from a provider, reload with change notification, shipping, enrichment."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.lookup import (
    CallableLookupProvider,
    DictionaryLookup,
    Lookup,
    LookupLoadError,
    MappingLookup,
    MemoryLookupProvider,
)

COUNTRIES = {"1.1.1.1": "AU", "8.8.8.8": "US"}


def changes_of(app: pump.Application) -> list[Lookup]:
    """Every lookup published as changed on the app's PubSub, in order."""
    seen: list[Lookup] = []
    app.PubSub.subscribe("Lookup.changed!", lambda _msg, lookup: seen.append(lookup))
    return seen


class FlakySource:
    """A load function: returns the next planned result, or raises it if it is an exception."""

    def __init__(self, *results):
        self.results = list(results)
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        result = self.results[min(self.calls, len(self.results)) - 1]
        if isinstance(result, Exception):
            raise result
        return result


async def test_dictionary_lookup_loads_from_its_provider_on_start():
    app = pump.Application()
    lookup = app.add_lookup(DictionaryLookup(app, "geo", provider=COUNTRIES))
    changes = changes_of(app)
    assert len(lookup) == 0  # nothing before start

    await app.start()
    try:
        assert changes == [lookup]  # loading is a change: subscribers build on it
        assert lookup["8.8.8.8"] == "US"
        assert lookup.get("1.1.1.1") == "AU"
        assert lookup.get("10.0.0.1") is None
        assert lookup.get("10.0.0.1", "??") == "??"
        assert "8.8.8.8" in lookup and "10.0.0.1" not in lookup
        assert len(lookup) == 2
        assert sorted(lookup) == ["1.1.1.1", "8.8.8.8"]
        assert dict(lookup.items()) == COUNTRIES
        with pytest.raises(KeyError):
            lookup["10.0.0.1"]
        assert lookup.loaded_at is not None
        assert app.locate_lookup("geo") is lookup
    finally:
        await app.stop()


async def test_lookup_is_configured_from_its_lookup_section():
    app = pump.Application(config={"lookup:geo": {"reload_interval": 60}})
    lookup = DictionaryLookup(app, "geo")
    assert lookup.config_section() == "lookup:geo"
    assert lookup.Config["reload_interval"] == 60.0

    with pytest.raises(pump.ConfigError, match="reload_every"):
        DictionaryLookup(app, "other", config={"reload_every": 5})


def test_mapping_lookup_is_abstract_and_lookups_are_hashable():
    app = pump.Application()
    with pytest.raises(TypeError):
        MappingLookup(app, "m")
    a, b = DictionaryLookup(app, "a"), DictionaryLookup(app, "b")
    assert a != b  # same (empty) content, still two lookups
    assert len({a, b}) == 2


async def test_reload_publishes_lookup_changed_only_when_content_changed():
    app = pump.Application()
    provider = MemoryLookupProvider(app, COUNTRIES)
    lookup = app.add_lookup(DictionaryLookup(app, "geo", provider=provider))
    await app.start()
    changes = changes_of(app)
    called: list[Lookup] = []
    lookup.on_change(called.append)
    async_called = asyncio.Event()

    @lookup.on_change
    async def on_change_async(changed):
        async_called.set()

    try:
        assert await lookup.reload() is False  # same content: no notification
        assert changes == [] and called == []

        provider.set({**COUNTRIES, "9.9.9.9": "CH"})
        assert await lookup.reload() is True
        assert lookup["9.9.9.9"] == "CH"
        assert changes == [lookup]
        assert called == [lookup]
        await asyncio.wait_for(async_called.wait(), 1)
    finally:
        await app.stop()


async def test_set_replaces_the_content_at_once_and_notifies():
    app = pump.Application()
    lookup = DictionaryLookup(app, "geo")
    changes = changes_of(app)
    lookup.set(COUNTRIES)
    held = lookup.Dictionary  # a reader in the middle of using the old table

    lookup.set({"4.4.4.4": "US"})

    assert dict(lookup) == {"4.4.4.4": "US"}
    assert held == COUNTRIES  # the old table was swapped out, not edited in place
    assert changes == [lookup, lookup]
    lookup.set({"4.4.4.4": "US"})
    assert len(changes) == 2  # no change, no notification


async def test_periodic_reload_picks_up_new_content():
    app = pump.Application()
    version = {"n": 0}

    def load():
        version["n"] += 1
        return {"version": version["n"]}

    lookup = app.add_lookup(
        DictionaryLookup(app, "v", config={"reload_interval": 0.03}, provider=load)
    )
    changes = changes_of(app)
    await app.start()
    try:
        assert lookup["version"] == 1
        await asyncio.sleep(0.2)
        assert 4 <= lookup["version"] <= 8
        assert len(changes) == lookup["version"]  # the first load is a change too
    finally:
        await app.stop()
    loads = version["n"]
    await asyncio.sleep(0.08)
    assert version["n"] == loads  # stopped: no more reloads


async def test_failed_reload_keeps_the_old_content_and_names_the_lookup(caplog):
    app = pump.Application()
    source = FlakySource(COUNTRIES, ConnectionError("store unreachable"))
    lookup = app.add_lookup(DictionaryLookup(app, "geo", provider=source))
    await app.start()
    changes = changes_of(app)
    try:
        with pytest.raises(LookupLoadError) as failure:
            await lookup.reload()
        message = str(failure.value)
        assert "DictionaryLookup 'geo'" in message
        assert "ConnectionError: store unreachable" in message
        assert "previous content is kept" in message
        assert isinstance(failure.value.__cause__, ConnectionError)
        assert dict(lookup) == COUNTRIES
        assert isinstance(lookup.load_error, ConnectionError)
        assert lookup.counters.errors == 1
        assert changes == []
        assert "DictionaryLookup 'geo'" in caplog.text
    finally:
        await app.stop()


async def test_periodic_reload_survives_failures_and_recovers():
    app = pump.Application()
    source = FlakySource({"k": 1}, RuntimeError("down"), RuntimeError("down"), {"k": 2})
    lookup = app.add_lookup(
        DictionaryLookup(app, "k", config={"reload_interval": 0.02}, provider=source)
    )
    await app.start()
    try:
        deadline = asyncio.get_running_loop().time() + 2
        while lookup.get("k") != 2 and asyncio.get_running_loop().time() < deadline:
            assert lookup["k"] == 1  # old content all through the failures
            await asyncio.sleep(0.005)
        assert lookup["k"] == 2
        assert lookup.load_error is None
        assert lookup.counters.errors == 2
    finally:
        await app.stop()


async def test_load_returning_a_non_mapping_is_a_load_error():
    app = pump.Application()
    lookup = DictionaryLookup(app, "bad", provider=lambda: ["not", "a", "mapping"])
    with pytest.raises(LookupLoadError, match="returned list, not a mapping"):
        await lookup.start()


async def test_first_load_failing_fails_the_application_start(kit):
    app = pump.Application()
    app.add_lookup(DictionaryLookup(app, "geo", provider=FlakySource(FileNotFoundError("geo.csv"))))
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [{"n": 1}])
    pipeline.build(source, kit.CollectSink(app, pipeline))
    app.add_pipeline(pipeline)

    with pytest.raises(LookupLoadError, match=r"DictionaryLookup 'geo': loading from .* failed"):
        await asyncio.wait_for(app.main(), 5)
    assert source.task is None  # pipelines never started


async def test_lookup_subclass_loads_by_overriding_load():
    class Ports(DictionaryLookup):
        async def load(self):
            return {80: "http", 443: "https"}

    app = pump.Application()
    lookup = Ports(app, "ports")
    await lookup.start()
    assert lookup[443] == "https"
    await lookup.stop()


async def test_callable_provider_may_be_sync_or_async():
    app = pump.Application()
    sync = DictionaryLookup(app, "s", provider=CallableLookupProvider(app, load=lambda: {"a": 1}))

    async def load_async():
        return {"b": 2}

    async_ = DictionaryLookup(app, "a", provider=load_async)
    await sync.start()
    await async_.start()
    assert dict(sync) == {"a": 1}
    assert dict(async_) == {"b": 2}
    with pytest.raises(NotImplementedError, match="does not implement get"):
        await sync.Provider.get("a")


def test_provider_must_be_a_provider_mapping_or_callable():
    with pytest.raises(TypeError, match="lookup 'x': provider must be"):
        DictionaryLookup(pump.Application(), "x", provider=42)


async def test_serialize_and_deserialize_ship_the_content():
    app = pump.Application()
    master = DictionaryLookup(app, "geo")
    master.set({**COUNTRIES, "nested": {"a": [1, 2]}})
    data = master.serialize()
    assert isinstance(data, bytes)

    replica = DictionaryLookup(app, "geo-replica")
    changes = changes_of(app)
    replica.deserialize(data)

    assert dict(replica) == dict(master)
    assert changes == [replica]


def test_serialized_keys_come_back_as_strings():
    app = pump.Application()
    lookup = DictionaryLookup(app, "ports")
    lookup.set({80: "http"})
    lookup.deserialize(lookup.serialize())
    assert dict(lookup) == {"80": "http"}


def test_deserialize_rejects_what_is_not_a_json_object():
    lookup = DictionaryLookup(pump.Application(), "geo")
    lookup.set(COUNTRIES)
    with pytest.raises(ValueError, match="DictionaryLookup 'geo': cannot deserialize"):
        lookup.deserialize(b"[1, 2]")
    with pytest.raises(ValueError, match="cannot deserialize"):
        lookup.deserialize(b"{not json")
    assert dict(lookup) == COUNTRIES


class Enrich(pump.Processor):
    """BSPump's pattern: locate the lookup once, read it per event."""

    writes_context = False

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id, config)
        self.Lookup = app.locate_lookup("geo")

    def process(self, context, event):
        event["country"] = self.Lookup.get(event["ip"], "unknown")
        return event


async def test_processor_enriches_events_from_a_located_lookup(kit):
    app = pump.Application()
    provider = MemoryLookupProvider(app, COUNTRIES)
    lookup = app.add_lookup(DictionaryLookup(app, "geo", provider=provider))
    pipeline = pump.Pipeline(app, "enrich")
    gate = asyncio.Event()

    class TwoRounds(pump.Source):
        async def main(self):
            await self.emit([{"ip": "8.8.8.8"}, {"ip": "9.9.9.9"}])
            await gate.wait()  # the test reloads the lookup in between
            await self.emit([{"ip": "9.9.9.9"}])

    sink = kit.CollectSink(app, pipeline)
    pipeline.build(TwoRounds(app, pipeline), Enrich(app, pipeline), sink)
    app.add_pipeline(pipeline)

    runner = asyncio.create_task(kit.run_app(app))
    while len(sink.events) < 2:
        await asyncio.sleep(0.005)
    provider.set({**COUNTRIES, "9.9.9.9": "CH"})
    assert await lookup.reload()
    gate.set()

    assert await runner == 0
    assert [e["country"] for e in sink.events] == ["US", "unknown", "CH"]


def test_dictionary_lookup_get_follows_a_replaced_table():
    from pump.lookup import DictionaryLookup

    app = pump.Application()
    lookup = DictionaryLookup(app, "l")
    lookup.set({"a": 1})
    assert lookup.get("a") == 1
    lookup.Dictionary = {"a": 2}  # BSPump code assigns the table directly
    assert (lookup.get("a"), lookup.get("b", "?"), lookup["a"]) == (2, "?", 2)

    class Upper(DictionaryLookup):
        def get(self, key, default=None):
            return super().get(key.lower(), default)

    upper = Upper(app, "u")
    upper.set({"a": 3})
    assert upper.get("A") == 3  # an overridden get is kept
