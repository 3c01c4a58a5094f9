"""Lookups: key→value tables that enrich events, loaded and reloaded from a provider."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import orjson
from pydantic import Field

from pump.component import Component
from pump.config import ComponentConfig
from pump.errors import PumpError

if TYPE_CHECKING:
    from pump.application import Application

L = logging.getLogger(__name__)

#: Published on `app.PubSub` with the lookup as argument after its content changed.
CHANGED = "Lookup.changed!"

ChangeCallback = Callable[["Lookup"], Any]
C = TypeVar("C", bound=ChangeCallback)


class LookupLoadError(PumpError):
    """A lookup could not load its content; the previous content is kept."""


# -- providers --------------------------------------------------------------------------------


class LookupProvider(Component):
    """Where a lookup's content comes from: `load()` the whole table, or `get(key)` one entry.

    Connector packages subclass it (files, databases); its config section is
    `lookup_provider:{id}`. A lookup starts and stops its provider.
    """

    def __init__(
        self, app: Application, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(app, None, id, config)

    def config_section(self) -> str:
        return f"lookup_provider:{self.Id}"

    async def load(self) -> Mapping[Any, Any]:
        """The whole content, as a new mapping."""
        raise NotImplementedError(f"{self.location()} does not implement load()")

    async def get(self, key: Any) -> Any:
        """One entry, or None when there is none (for lookups too large to load whole)."""
        raise NotImplementedError(f"{self.location()} does not implement get()")


class MemoryLookupProvider(LookupProvider):
    """Serves a mapping held in memory; `set()` it and reload the lookup to publish a change."""

    def __init__(
        self, app: Application, data: Mapping[Any, Any] | None = None, id: str | None = None
    ) -> None:
        super().__init__(app, id)
        self.Data: dict[Any, Any] = dict(data or {})

    def set(self, data: Mapping[Any, Any]) -> None:
        """Replace what the next `load()` returns."""
        self.Data = dict(data)

    async def load(self) -> Mapping[Any, Any]:
        return dict(self.Data)

    async def get(self, key: Any) -> Any:
        return self.Data.get(key)


class CallableLookupProvider(LookupProvider):
    """Calls `load()` for the whole content and `get(key)` for one entry; either may be async."""

    def __init__(
        self,
        app: Application,
        load: Callable[[], Mapping[Any, Any] | Awaitable[Mapping[Any, Any]]] | None = None,
        get: Callable[[Any], Any] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(app, id)
        self._load = load
        self._get = get

    async def load(self) -> Mapping[Any, Any]:
        if self._load is None:
            return await super().load()
        result = self._load()
        if inspect.isawaitable(result):
            result = await result
        return result

    async def get(self, key: Any) -> Any:
        if self._get is None:
            return await super().get(key)
        result = self._get(key)
        if inspect.isawaitable(result):
            result = await result
        return result


def as_provider(app: Application, provider: Any, id: str) -> LookupProvider | None:
    """A LookupProvider from a provider, a mapping (served from memory) or a load callable."""
    if provider is None or isinstance(provider, LookupProvider):
        return provider
    if isinstance(provider, Mapping):
        return MemoryLookupProvider(app, provider, id=id)
    if callable(provider):
        return CallableLookupProvider(app, load=provider, id=id)
    raise TypeError(
        f"lookup '{id}': provider must be a LookupProvider, a mapping or a callable, "
        f"got {type(provider).__name__}"
    )


# -- lookups ------------------------------------------------------------------------------------


class LookupConfig(ComponentConfig):
    """Settings every lookup has."""

    reload_interval: float = Field(
        0.0, ge=0, description="Seconds between reloads from the provider (0: never)"
    )


class Lookup(Component):
    """A named table processors consult (`self.App.locate_lookup(id)`); config `lookup:{id}`.

    On `start()` it loads from its provider (a failure fails the application start); `reload()`
    loads again, keeping the old content if that fails. When the content changed it publishes
    `"Lookup.changed!"` on `app.PubSub` with itself as argument and calls its `on_change`
    callbacks. Subclasses without a provider override `load()` (BSPump's shape).
    """

    ConfigModel = LookupConfig
    Config: LookupConfig
    #: Whether `start()` loads the content (an async lookup fetches per key instead).
    load_on_start: ClassVar[bool] = True

    def __init__(
        self,
        app: Application,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        provider: LookupProvider | Mapping[Any, Any] | Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(app, None, id, config)
        self.Provider = as_provider(app, provider, self.Id)
        self.loaded_at: float | None = None  # Unix time of the last successful load
        self.load_error: BaseException | None = None  # why the last load failed, if it did
        self._callbacks: list[ChangeCallback] = []
        self._reload_lock = asyncio.Lock()
        self._reload_task: asyncio.Task[None] | None = None

    def config_section(self) -> str:
        return f"lookup:{self.Id}"

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the provider, load the content, start periodic reloads."""
        if self.Provider is not None:
            await self.Provider.start()
        if self.load_on_start:
            try:
                await self.reload()
            except LookupLoadError:
                if self.Provider is not None:
                    await self.Provider.stop()
                raise
        if self.Config.reload_interval > 0:
            self._reload_task = asyncio.get_running_loop().create_task(self._reload_periodically())

    async def stop(self) -> None:
        """Stop periodic reloads and the provider."""
        task, self._reload_task = self._reload_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.Provider is not None:
            await self.Provider.stop()

    async def _reload_periodically(self) -> None:
        interval = self.Config.reload_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload()
            except LookupLoadError:
                pass  # already logged; the old content stays until the next try
            except Exception:
                L.exception("%s: periodic reload failed", self.location())

    # -- loading ----------------------------------------------------------------------------

    async def load(self) -> Mapping[Any, Any] | None:
        """The new content (from the provider by default); None when there is nothing to load."""
        if self.Provider is None:
            return None
        return await self.Provider.load()

    async def reload(self) -> bool:
        """Load the content again; True if it changed. Raises LookupLoadError on failure."""
        async with self._reload_lock:
            try:
                # Any: a subclass's load() may return something else; it is checked below.
                data: Any = await self.load()
            except Exception as exc:
                self.counters.errors += 1
                self.load_error = exc
                source = f" from {self.Provider.location()}" if self.Provider is not None else ""
                message = (
                    f"{self.location()}: loading{source} failed: {type(exc).__name__}: {exc}"
                    + ("; the previous content is kept" if self.loaded_at is not None else "")
                )
                L.error("%s", message)
                raise LookupLoadError(message) from exc
            if data is None:
                return False
            if not isinstance(data, Mapping):
                self.counters.errors += 1
                message = f"{self.location()}: load() returned {type(data).__name__}, not a mapping"
                self.load_error = TypeError(message)
                L.error("%s", message)
                raise LookupLoadError(message)
            changed = self.replace(data)
            self.loaded_at = time.time()
            self.load_error = None
        if changed:
            self.notify_changed()
        return changed

    def replace(self, data: Mapping[Any, Any]) -> bool:
        """Swap in new content at once; True when it differs from the old."""
        raise NotImplementedError(f"{self.location()} does not implement replace()")

    # -- change notification ----------------------------------------------------------------

    def on_change(self, callback: C) -> C:
        """Call `callback(lookup)` after each change (may be async); usable as a decorator."""
        self._callbacks.append(callback)
        return callback

    def notify_changed(self) -> None:
        """Publish `"Lookup.changed!"` and call the `on_change` callbacks."""
        self.App.PubSub.publish(CHANGED, self)
        for callback in list(self._callbacks):
            try:
                result = callback(self)
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result)
            except Exception:
                L.exception("%s: change callback %r failed", self.location(), callback)

    # -- shipping ---------------------------------------------------------------------------

    def serialize(self) -> bytes:
        """The content as JSON bytes (keys become strings)."""
        raise NotImplementedError(f"{self.location()} cannot be serialized")

    def deserialize(self, data: bytes | str) -> None:
        """Replace the content with what `serialize()` produced."""
        raise NotImplementedError(f"{self.location()} cannot be deserialized")


class MappingLookup(Lookup, Mapping[Any, Any]):
    """A lookup read synchronously, as a mapping: `lookup[key]`, `lookup.get(key)`, `key in`."""

    # A mapping compares by content; a component is itself, usable in sets and as a dict key.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def serialize(self) -> bytes:
        return orjson.dumps(dict(self.items()), option=orjson.OPT_NON_STR_KEYS)

    def deserialize(self, data: bytes | str) -> None:
        try:
            content = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{self.location()}: cannot deserialize: {exc}") from None
        if not isinstance(content, dict):
            raise ValueError(
                f"{self.location()}: cannot deserialize: expected a JSON object, "
                f"got {type(content).__name__}"
            )
        if self.replace(content):
            self.notify_changed()


class DictionaryLookup(MappingLookup):
    """A lookup held in a dict (`Dictionary`); filled by its provider or by `set()`."""

    def __init__(
        self,
        app: Application,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        provider: LookupProvider | Mapping[Any, Any] | Callable[[], Any] | None = None,
    ) -> None:
        self.Dictionary = {}
        super().__init__(app, id, config, provider=provider)

    @property
    def Dictionary(self) -> dict[Any, Any]:
        """The table (assigning a new one is seen by every reader at once)."""
        return self._dictionary

    @Dictionary.setter
    def Dictionary(self, table: dict[Any, Any]) -> None:
        self._dictionary = table
        if type(self).get is DictionaryLookup.get:
            # the table's own C-level get, without a Python frame around it (per event)
            self.get = table.get  # type: ignore[method-assign,assignment]

    def __getitem__(self, key: Any) -> Any:
        return self.Dictionary[key]

    def get(self, key: Any, default: Any = None) -> Any:
        """The value for `key`, or `default`."""
        return self.Dictionary.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.Dictionary

    def __iter__(self) -> Iterator[Any]:
        return iter(self.Dictionary)

    def __len__(self) -> int:
        return len(self.Dictionary)

    def replace(self, data: Mapping[Any, Any]) -> bool:
        new = dict(data)
        changed = new != self.Dictionary
        # One assignment: a reader sees the old table or the new one, never a mix.
        self.Dictionary = new
        return changed

    def set(self, dictionary: Mapping[Any, Any]) -> None:
        """Replace the whole content at once (notifies if it changed)."""
        changed = self.replace(dictionary)
        self.loaded_at = time.time()
        if changed:
            self.notify_changed()


class AsyncLookupConfig(LookupConfig):
    """Settings of lookups read with `await lookup.get(key)`."""

    cache_size: int = Field(10_000, ge=0, description="Entries kept in memory (0: no cache)")
    cache_ttl: float = Field(
        300.0, ge=0, description="Seconds a cached entry stays valid (0: until evicted or reloaded)"
    )


class AsyncLookupMixin(Lookup):
    """A lookup read with `await lookup.get(key)`, backed by a remote store, with an LRU cache.

    Implement `fetch(key)` (None when absent; absences are cached too). Concurrent gets of one
    key share one fetch. `reload()` empties the cache and notifies the change.
    """

    ConfigModel = AsyncLookupConfig
    Config: AsyncLookupConfig
    load_on_start = False

    def __init__(
        self,
        app: Application,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        provider: LookupProvider | Mapping[Any, Any] | Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(app, id, config, provider=provider)
        self.cache_hits = 0
        self.cache_misses = 0
        self._cache: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._fetching: dict[Any, asyncio.Task[Any]] = {}
        self._generation = 0  # bumped on invalidation, so a fetch started before is not cached

    async def fetch(self, key: Any) -> Any:
        """Read one entry from the store; None when there is none."""
        raise NotImplementedError(f"{self.location()} does not implement fetch()")

    async def get(self, key: Any, default: Any = None) -> Any:
        """The value for `key` (from the cache when fresh), or `default` when there is none."""
        entry = self._cache.get(key)
        if entry is not None:
            expires, value = entry
            if expires > time.monotonic():
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return default if value is None else value
            del self._cache[key]
        self.cache_misses += 1
        task = self._fetching.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(key, self._generation))
            self._fetching[key] = task
            task.add_done_callback(_retrieve)
        # Shielded: a caller giving up does not cancel the fetch others are waiting for.
        value = await asyncio.shield(task)
        return default if value is None else value

    async def _fetch(self, key: Any, generation: int) -> Any:
        try:
            value = await self.fetch(key)
        finally:
            if self._fetching.get(key) is asyncio.current_task():
                del self._fetching[key]
        size = self.Config.cache_size
        if size > 0 and generation == self._generation:
            ttl = self.Config.cache_ttl
            self._cache[key] = (time.monotonic() + ttl if ttl > 0 else float("inf"), value)
            self._cache.move_to_end(key)
            while len(self._cache) > size:
                self._cache.popitem(last=False)
        return value

    def cached(self) -> int:
        """How many entries the cache holds (fresh or not yet found stale)."""
        return len(self._cache)

    def invalidate(self, key: Any = None) -> None:
        """Forget one cached entry, or (no key) the whole cache."""
        if key is None:
            self._cache.clear()
            self._generation += 1
            self._fetching.clear()
        else:
            self._cache.pop(key, None)

    async def stop(self) -> None:
        """Cancel fetches still in flight, then stop as every lookup does."""
        for task in list(self._fetching.values()):
            task.cancel()
        self._fetching.clear()
        await super().stop()

    async def reload(self) -> bool:
        """Empty the cache, so entries are fetched again; notifies the change."""
        self.invalidate()
        self.loaded_at = time.time()
        self.notify_changed()
        return True


class AsyncLookup(AsyncLookupMixin):
    """An async lookup that fetches entries with its provider's `get(key)`."""

    async def fetch(self, key: Any) -> Any:
        if self.Provider is None:
            return await super().fetch(key)
        return await self.Provider.get(key)


def _retrieve(task: asyncio.Task[Any]) -> None:
    # The callers see the error; this keeps asyncio from logging it as never retrieved.
    if not task.cancelled():
        task.exception()
