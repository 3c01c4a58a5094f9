"""Backoff: exponential retry delays with jitter, shared by every retry and reconnect loop."""

from __future__ import annotations

import asyncio
import datetime
import math
import random
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from pump.config import ComponentConfig

if TYPE_CHECKING:
    import logging

    from pump.ratelimit import RateLimitedLog

__all__ = ["Backoff", "ReconnectConfig", "RetriesExhausted", "retry_after"]

#: The longest Retry-After a pause waits out by default, seconds.
RETRY_AFTER_MAX = 300.0


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

    async def pause(
        self,
        log: logging.Logger | RateLimitedLog,
        what: str,
        *,
        asked: float | None = None,
        asked_max: float = RETRY_AFTER_MAX,
    ) -> float:
        """Log `what` and the retry to come, sleep before it, and return the pause, seconds.

        The pause is the next delay, or what the server asked when that is longer: `asked`
        seconds from its Retry-After (`retry_after()`), at most `asked_max`. A busy server
        (429, 503) is waited out as it says; a short or missing Retry-After still backs off.
        The caller checks `exhausted` first and counts the retry; the warning names the
        attempt: "WHAT; retry 2/5 in 1.00s".
        """
        delay = self.next_delay()
        if asked is not None:
            delay = max(delay, min(asked, asked_max))
        limit = "∞" if self.attempts is None else self.attempts
        log.warning("%s; retry %d/%s in %.2fs", what, self.attempt, limit, delay)
        await asyncio.sleep(delay)
        return delay

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


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or an HTTP date), if it says.

    None when the header is missing or unreadable; a date in the past is 0.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


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
