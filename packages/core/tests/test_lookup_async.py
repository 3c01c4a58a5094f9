"""Async lookups: `await get(key)` from a remote store through a bounded, expiring cache."""

from __future__ import annotations

import asyncio

import pytest

import pump
from pump.lookup import AsyncLookup, AsyncLookupMixin, CallableLookupProvider, MemoryLookupProvider


class RemoteStore(AsyncLookupMixin):
    """Fetches from a dict standing in for a remote store, counting the round trips."""

    def __init__(self, app, id="remote", config=None, data=None, delay=0.0):
        super().__init__(app, id, config)
        self.data = dict(data or {})
        self.delay = delay
        self.fetched: list[object] = []

    async def fetch(self, key):
        self.fetched.append(key)
        value = self.data.get(key)  # what the store had when asked
        if self.delay:
            await asyncio.sleep(self.delay)
        if key == "boom":
            raise ConnectionError("store unreachable")
        return value


async def test_second_get_is_a_cache_hit():
    lookup = RemoteStore(pump.Application(), data={"a": 1})
    assert await lookup.get("a") == 1
    assert await lookup.get("a") == 1
    assert lookup.fetched == ["a"]
    assert (lookup.cache_hits, lookup.cache_misses) == (1, 1)


async def test_absent_keys_give_the_default_and_are_cached_too():
    lookup = RemoteStore(pump.Application())
    assert await lookup.get("nope") is None
    assert await lookup.get("nope", "fallback") == "fallback"
    assert lookup.fetched == ["nope"]


async def test_entries_expire_after_the_ttl():
    lookup = RemoteStore(pump.Application(), config={"cache_ttl": 0.05}, data={"a": 1})
    await lookup.get("a")
    await lookup.get("a")
    assert lookup.fetched == ["a"]
    lookup.data["a"] = 2
    await asyncio.sleep(0.07)
    assert await lookup.get("a") == 2
    assert lookup.fetched == ["a", "a"]


async def test_cache_keeps_at_most_cache_size_entries_least_recently_used_out():
    lookup = RemoteStore(pump.Application(), config={"cache_size": 3}, data={k: k for k in "abcde"})
    for key in "abc":
        await lookup.get(key)
    await lookup.get("a")  # "a" is now the most recently used; "b" the least
    await lookup.get("d")
    assert lookup.cached() == 3

    lookup.fetched.clear()
    for key in "acd":
        await lookup.get(key)
    assert lookup.fetched == []  # still cached
    await lookup.get("b")
    assert lookup.fetched == ["b"]  # evicted
    assert lookup.cached() == 3


async def test_cache_size_zero_disables_caching():
    lookup = RemoteStore(pump.Application(), config={"cache_size": 0}, data={"a": 1})
    for _ in range(3):
        assert await lookup.get("a") == 1
    assert lookup.fetched == ["a", "a", "a"]
    assert lookup.cached() == 0


async def test_concurrent_gets_of_one_key_share_one_fetch():
    lookup = RemoteStore(pump.Application(), data={"a": 1}, delay=0.02)
    results = await asyncio.gather(*(lookup.get("a") for _ in range(10)))
    assert results == [1] * 10
    assert lookup.fetched == ["a"]


async def test_a_caller_giving_up_does_not_cancel_the_shared_fetch():
    lookup = RemoteStore(pump.Application(), data={"a": 1}, delay=0.05)
    impatient = asyncio.create_task(lookup.get("a"))
    patient = asyncio.create_task(lookup.get("a"))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == 1
    assert lookup.fetched == ["a"]


async def test_fetch_errors_reach_the_caller_and_are_not_cached():
    lookup = RemoteStore(pump.Application())
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await lookup.get("boom")
    assert lookup.fetched == ["boom", "boom"]
    assert lookup.cached() == 0


async def test_reload_empties_the_cache_and_publishes_the_change():
    app = pump.Application()
    lookup = RemoteStore(app, data={"a": 1})
    seen = []
    app.PubSub.subscribe("Lookup.changed!", lambda _msg, changed: seen.append(changed))
    await lookup.get("a")
    lookup.data["a"] = 2

    assert await lookup.reload() is True

    assert seen == [lookup]
    assert await lookup.get("a") == 2
    assert lookup.fetched == ["a", "a"]


async def test_a_fetch_started_before_a_reload_is_not_cached():
    lookup = RemoteStore(pump.Application(), data={"a": "old"}, delay=0.03)
    first = asyncio.create_task(lookup.get("a"))
    await asyncio.sleep(0.01)
    lookup.data["a"] = "new"
    await lookup.reload()
    assert await first == "old"  # that caller gets what it asked for...
    assert await lookup.get("a") == "new"  # ...but the stale value was not kept


async def test_invalidate_one_key():
    lookup = RemoteStore(pump.Application(), data={"a": 1, "b": 2})
    await lookup.get("a")
    await lookup.get("b")
    lookup.invalidate("a")
    await lookup.get("a")
    await lookup.get("b")
    assert lookup.fetched == ["a", "b", "a"]


async def test_async_lookup_fetches_through_its_provider_and_does_not_bulk_load():
    app = pump.Application()
    calls = []

    async def get(key):
        calls.append(key)
        return key.upper()

    lookup = app.add_lookup(
        AsyncLookup(app, "upper", provider=CallableLookupProvider(app, get=get))
    )
    await app.start()  # the provider has no load(): starting must not call it
    try:
        assert await lookup.get("abc") == "ABC"
        assert await lookup.get("abc") == "ABC"
        assert calls == ["abc"]
    finally:
        await app.stop()


async def test_async_lookup_with_a_memory_provider_and_periodic_cache_flush():
    app = pump.Application()
    provider = MemoryLookupProvider(app, {"a": 1})
    lookup = AsyncLookup(app, "mem", config={"reload_interval": 0.03}, provider=provider)
    await lookup.start()
    try:
        assert await lookup.get("a") == 1
        provider.set({"a": 2})
        assert await lookup.get("a") == 1  # cached
        await asyncio.sleep(0.06)
        assert await lookup.get("a") == 2  # the periodic reload emptied the cache
    finally:
        await lookup.stop()


async def test_async_lookup_config_is_validated():
    app = pump.Application(config={"lookup:remote": {"cache_size": 5, "cache_ttl": 1.5}})
    lookup = RemoteStore(app)
    assert (lookup.Config.cache_size, lookup.Config.cache_ttl) == (5, 1.5)
    with pytest.raises(pump.ConfigError, match="cache_size"):
        RemoteStore(pump.Application(), config={"cache_size": -1})


async def test_a_generator_enriches_events_with_an_async_lookup(kit):
    app = pump.Application()
    app.add_lookup(RemoteStore(app, "users", data={1: "alice", 2: "bob"}, delay=0.001))

    class EnrichUser(pump.Generator):
        def __init__(self, app, pipeline):
            super().__init__(app, pipeline)
            self.Users = app.locate_lookup("users")

        async def generate(self, context, event, depth):
            event["name"] = await self.Users.get(event["user"], "?")
            self.Pipeline.inject(context, event, depth)

    pipeline = pump.Pipeline(app, "p")
    events = [{"user": u} for u in (1, 2, 1, 3, 2)]
    source = kit.RecordingSource(app, pipeline, events, batch_size=2)
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, EnrichUser(app, pipeline), sink)
    app.add_pipeline(pipeline)

    assert await kit.run_app(app) == 0
    names = {1: "alice", 2: "bob", 3: "?"}
    assert sorted((e["user"], e["name"]) for e in sink.events) == sorted(
        (e["user"], names[e["user"]]) for e in events
    )
    users = app.locate_lookup("users")
    assert sorted(users.fetched) == [1, 2, 3]


async def test_stop_cancels_fetches_in_flight():
    lookup = RemoteStore(pump.Application(), data={"a": 1}, delay=10)
    await lookup.start()
    pending = asyncio.create_task(lookup.get("a"))
    await asyncio.sleep(0.01)
    await lookup.stop()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pending, 1)
    assert lookup.cached() == 0
