"""RateLimitedLog: at most one log line per interval for a repeating problem, with a count."""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Logs the first occurrence, then at most once per `interval` seconds.

    Occurrences in between are counted and reported with the next line that is written
    ("(12 more since the last message)"), so a flood is visible without flooding the log.
    """

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self.logger = logger
        self.interval = interval
        self.suppressed = 0
        self._last = -float("inf")

    def log(self, level: int, message: str, *args: object) -> bool:
        """Log `message % args` unless one was written less than `interval` ago; True if written."""
        now = time.monotonic()
        if now - self._last < self.interval:
            self.suppressed += 1
            return False
        if self.suppressed:
            message += f" ({self.suppressed} more since the last message)"
        self._last, self.suppressed = now, 0
        self.logger.log(level, message, *args)
        return True

    def warning(self, message: str, *args: object) -> bool:
        """`log(logging.WARNING, …)`."""
        return self.log(logging.WARNING, message, *args)

    def error(self, message: str, *args: object) -> bool:
        """`log(logging.ERROR, …)`."""
        return self.log(logging.ERROR, message, *args)
