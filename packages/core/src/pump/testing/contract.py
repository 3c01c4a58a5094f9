"""What the contract suites share: the events they make, and the rule that bad configs fail."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Hashable, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from pump.application import Application
from pump.errors import ConfigError
from pump.pipeline import Pipeline
from pump.testing.recorders import event_key
from pump.testing.waiting import maybe_await

#: A config key no component declares: every component must refuse it.
UNKNOWN_KEY = "pump_contract_no_such_key"


class Contract:
    """The base of the contract suites (SinkContract, SourceContract)."""

    #: The hook making the component under test: "make_sink", "make_source".
    _make_hook: ClassVar[str]
    #: Seconds a test waits for the component before it fails.
    timeout: ClassVar[float] = 10.0
    #: Config dicts that must fail at construction with ConfigError naming each of their keys.
    bad_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()

    def prepare(self) -> Awaitable[None] | None:
        """Called first in every test: make the destination (origin) fresh and empty."""
        return None

    def make_events(self, n: int) -> list[Any]:
        """`n` events, distinct from any made before in this test."""
        run = self.__dict__.setdefault("_pump_run", uuid.uuid4().hex[:12])
        first = self.__dict__.get("_pump_made", 0)
        self.__dict__["_pump_made"] = first + n
        return [{"id": i, "run": run, "text": f"event {i}"} for i in range(first, first + n)]

    def event_key(self, event: Any) -> Hashable:
        """What makes two events the same event (sent vs read back or received)."""
        return event_key(event)

    @pytest.mark.asyncio
    async def test_bad_config_is_refused_naming_the_key(self) -> None:
        """A wrong config fails at construction with ConfigError naming the key."""
        await maybe_await(self.prepare())
        make = getattr(self, self._make_hook)
        for bad in [*self.bad_configs, {UNKNOWN_KEY: 1}]:
            app = Application(exit_when_finished=False)
            pipeline = Pipeline(app, "contract")
            try:
                made = await maybe_await(make(app, pipeline, config=dict(bad)))
            except ConfigError as exc:
                unnamed = [key for key in bad if key not in str(exc)]
                assert not unnamed, f"ConfigError for {dict(bad)!r} does not name {unnamed}: {exc}"
            except TypeError as exc:
                if "config" in str(exc):
                    raise AssertionError(
                        f"{self._make_hook}() must accept config= (the bad config to merge): {exc}"
                    ) from exc
                raise
            else:
                raise AssertionError(f"config {dict(bad)!r} was accepted: {made!r}")
