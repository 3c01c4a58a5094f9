"""Backoff: exponential retry delays with jitter, shared by every retry and reconnect loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

from pydantic import Field, model_validator

from pump.config import ComponentConfig

__all__ = ["Backoff", "ReconnectConfig", "RetriesExhausted"]


class RetriesExhausted(Exception):
    """Raised by `Backoff.wait()` when the attempt limit is reached."""


class Backoff:
    """Exponential delays `first, first*factor, …` capped at `maximum`, with optional jitter.

    One instance tracks one run of attempts: `next_delay()` gives the pause before the next
    attempt, `reset()` starts over after a success. `attempts=None` retries without limit;
    every caller is expected to log and count its retries, so nothing retries in silence.

        >>> b = Backoff(first=0.1, maximum=1.0, jitter=0.0)
        >>> [b.next_delay() for _ in range(5)]
        [0.1, 0.2, 0.4, 0.8, 1.0]
    """

    def __init__(
        self,
        first: float = 0.1,
        maximum: float = 10.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.1,
        attempts: int | None = None,
    ) -> None:
        if first <= 0 or maximum < first:
            raise ValueError(f"Backoff: need 0 < first <= maximum, got {first}, {maximum}")
        if factor < 1:
            raise ValueError(f"Backoff: factor must be >= 1, got {factor}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"Backoff: jitter must be within 0..1, got {jitter}")
        if attempts is not None and attempts < 0:
            raise ValueError(f"Backoff: attempts must be >= 0 or None, got {attempts}")
        self.first = first
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.attempts = attempts
        self.attempt = 0

    @property
    def exhausted(self) -> bool:
        """True once `attempts` retries were handed out."""
        return self.attempts is not None and self.attempt >= self.attempts

    def reset(self) -> None:
        """Start over (call after a success)."""
        self.attempt = 0

    def next_delay(self) -> float:
        """The pause before the next attempt, seconds; counts the attempt."""
        base = min(self.first * self.factor**self.attempt, self.maximum)
        self.attempt += 1
        if self.jitter:
            # spread retries of many clients apart, never above the maximum
            base = min(base * (1 - self.jitter + 2 * self.jitter * random.random()), self.maximum)
        return base

    def for_downtime(self, seconds: float) -> float:
        """The pause before the next attempt of an outage `seconds` long (no attempt count).

        For a client that only knows how long it has been down: each pause is the time down
        so far, within `first..maximum`, so attempts come at `first, 2·first, 4·first, …`.
        """
        return min(max(self.first, seconds), self.maximum)

    async def wait(self) -> float:
        """Sleep for the next delay and return it; `RetriesExhausted` past the attempt limit."""
        if self.exhausted:
            raise RetriesExhausted(f"gave up after {self.attempt} retries")
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay

    def delays(self) -> Iterator[float]:
        """The remaining delays (endless when `attempts` is None)."""
        while not self.exhausted:
            yield self.next_delay()

    def __repr__(self) -> str:
        limit = "∞" if self.attempts is None else self.attempts
        return (
            f"Backoff({self.first}s→{self.maximum}s ×{self.factor}, attempt {self.attempt}/{limit})"
        )


class ReconnectConfig(ComponentConfig):
    """Base of a connection's config model: how fast to retry while the server is away.

    The same two keys in every connector; the components of the connection take their retry
    pauses from `backoff()`.
    """

    reconnect_delay: float = Field(
        0.5, gt=0, description="First pause before reconnecting or retrying, seconds (then doubles)"
    )
    reconnect_delay_max: float = Field(
        30.0, gt=0, description="Longest pause between reconnection attempts, seconds"
    )

    @model_validator(mode="after")
    def _delays_in_order(self) -> ReconnectConfig:
        if self.reconnect_delay_max < self.reconnect_delay:
            raise ValueError("reconnect_delay_max is below reconnect_delay")
        return self

    def backoff(self, *, jitter: float = 0.1) -> Backoff:
        """A new Backoff from these settings (one per retry loop)."""
        return Backoff(self.reconnect_delay, self.reconnect_delay_max, jitter=jitter)
