"""LookupContract: what every lookup must do (load, get, reload with notification), as pytest tests.

A connector's test module subclasses it and supplies the lookup, its expected content, and
optionally ways to change or break its provider:

    class TestMyLookup(LookupContract):
        expected = {"a": 1, "b": 2}

        def make_lookup(self, app):
            return MyLookup(app, "my", config={"path": self.path})

        def change(self):
            self.path.write_text('{"a": 10, "c": 3}')
            return {"a": 10, "c": 3}

        def break_provider(self):
            self.path.write_text("not json")

Each test method checks one rule; the base class is not collected itself (no `Test` prefix).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

import pytest

from pump.application import Application
from pump.lookup import CHANGED, Lookup
from pump.testing.waiting import maybe_await


class LookupContract:
    """Rules for lookups; subclass as `class TestMyLookup(LookupContract)` and fill the hooks.

    Hooks may be plain functions or coroutines.
    """

    #: The content the lookup has once started (key → value).
    expected: ClassVar[Mapping[Any, Any]] = {}
    #: True when `expected` is the whole content (keys not in it must be absent).
    expected_is_complete: ClassVar[bool] = True
    #: A key the lookup does not hold.
    missing_key: ClassVar[Any] = "pump-contract-missing-key"

    # -- hooks ----------------------------------------------------------------------------

    def make_lookup(self, app: Application) -> Lookup | Awaitable[Lookup]:
        """The lookup under test (not started)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_lookup()")

    def prepare(self) -> Awaitable[None] | None:
        """Called first in every test: put `expected` at the provider."""
        return None

    def change(self) -> Mapping[Any, Any] | Awaitable[Mapping[Any, Any]]:
        """Change the provider's content; return what the lookup holds after the next reload."""
        pytest.skip(f"{type(self).__name__} does not implement change()")

    def break_provider(self) -> Awaitable[None] | None:
        """Make the provider fail the next load (unreachable, corrupt, ...)."""
        pytest.skip(f"{type(self).__name__} does not implement break_provider()")

    # -- machinery ------------------------------------------------------------------------

    async def _started(self) -> tuple[Application, Lookup]:
        await maybe_await(self.prepare())
        app = Application(exit_when_finished=False)
        lookup = await maybe_await(self.make_lookup(app))
        if not isinstance(lookup, Lookup):
            raise TypeError(f"make_lookup() returned {lookup!r}, not a pump Lookup")
        app.add_lookup(lookup)
        await lookup.start()
        return app, lookup

    async def _get(self, lookup: Lookup, key: Any, *default: Any) -> Any:
        get = getattr(lookup, "get", None)
        if get is None:
            raise AssertionError(f"{lookup!r} has no get()")
        return await maybe_await(get(key, *default))

    async def _assert_content(self, lookup: Lookup, content: Mapping[Any, Any], when: str) -> None:
        wrong = {}
        for key, value in content.items():
            got = await self._get(lookup, key)
            if got != value:
                wrong[key] = (value, got)
        assert not wrong, f"{when}: key → (expected, got): {dict(list(wrong.items())[:5])!r}"

    def _listen(self, app: Application) -> list[tuple[Any, ...]]:
        heard: list[tuple[Any, ...]] = []

        def changed(_message: str, *args: Any) -> None:
            heard.append(args)

        app.PubSub.subscribe(CHANGED, changed)
        return heard

    # -- the rules --------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_start_loads_the_content(self) -> None:
        """After start, every expected key gives its value (a mapping lookup holds just those)."""
        _app, lookup = await self._started()
        try:
            await self._assert_content(lookup, self.expected, "after start")
            if self.expected_is_complete and isinstance(lookup, Mapping):
                assert set(lookup.keys()) == set(self.expected), (
                    f"the lookup holds keys {sorted(map(repr, set(lookup) ^ set(self.expected)))} "
                    "it should not, or lacks them"
                )
        finally:
            await lookup.stop()

    @pytest.mark.asyncio
    async def test_missing_key_gives_none_or_the_default(self) -> None:
        """`get(missing)` is None, `get(missing, default)` the default, `[missing]` a KeyError."""
        _app, lookup = await self._started()
        try:
            assert await self._get(lookup, self.missing_key) is None
            sentinel = object()
            assert await self._get(lookup, self.missing_key, sentinel) is sentinel
            if isinstance(lookup, Mapping):
                assert self.missing_key not in lookup
                with pytest.raises(KeyError):
                    lookup[self.missing_key]
        finally:
            await lookup.stop()

    @pytest.mark.asyncio
    async def test_reload_publishes_the_change(self) -> None:
        """After the provider changed, `reload()` serves the new content and announces it."""
        app, lookup = await self._started()
        try:
            heard = self._listen(app)
            new = dict(await maybe_await(self.change()))
            await lookup.reload()
            await self._assert_content(lookup, new, "after reload")
            if self.expected_is_complete:
                for key in set(self.expected) - set(new):
                    got = await self._get(lookup, key)
                    assert got is None, (
                        f"key {key!r} was removed at the provider, still gives {got!r}"
                    )
            assert any(args and args[0] is lookup for args in heard), (
                f"reload() changed the content but did not publish {CHANGED!r} with the lookup"
            )
        finally:
            await lookup.stop()

    @pytest.mark.asyncio
    async def test_failed_reload_keeps_the_old_content(self) -> None:
        """When the provider fails, reload() raises or reports no change; the old content stays."""
        app, lookup = await self._started()
        try:
            # what the lookup held before the failure (a caching lookup holds what was read)
            await self._assert_content(lookup, self.expected, "before the failed reload")
            heard = self._listen(app)
            await maybe_await(self.break_provider())
            try:
                changed = await lookup.reload()
            except Exception:
                pass
            else:
                assert not changed, "reload() reported a change although the provider failed"
            await self._assert_content(lookup, self.expected, "after a failed reload")
            assert not heard, f"a failed reload published {CHANGED!r}"
        finally:
            await lookup.stop()
