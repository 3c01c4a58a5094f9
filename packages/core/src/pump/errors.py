"""Exceptions raised by Pump, each naming the component at fault."""

from __future__ import annotations

from collections.abc import Mapping


class PumpError(Exception):
    """Base of every error Pump raises on purpose."""


class ConfigError(PumpError):
    """A component, pipeline or file is configured wrongly; lists every problem at once."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration of {where}:\n{lines}")


class BuildError(PumpError):
    """A pipeline was assembled wrongly (sink in the middle, unknown connection, ...)."""


class PartialWriteError(PumpError):
    """A sink wrote some events of a batch and failed others; `errors` maps index to error.

    An error that is a `PermanentWriteError` fails its event for good (no retry); the others
    are retried. `events` (index → event) carries the failed events from a sink that keeps
    them itself (`Sink.keeps_failed_events`); they are what is retried and handed on.
    """

    def __init__(
        self, errors: Mapping[int, BaseException], events: Mapping[int, object] | None = None
    ) -> None:
        self.errors = dict(errors)
        self.events = events
        first = next(iter(self.errors.values()), None)
        super().__init__(f"{len(self.errors)} event(s) of the batch failed; first: {first!r}")


class PartialBatchError(PumpError):
    """A batch processor handled some events of a batch and failed others.

    `process_batch` raises it with `results` (one per event, as it would have returned them;
    entries of failed events are ignored) and `errors` (index → error): the pipeline sends the
    results on and gives each failed event to the error policy, instead of running the whole
    batch again event by event. For processors whose events change state as they go.
    """

    def __init__(self, results: list[object], errors: Mapping[int, BaseException]) -> None:
        self.results = results
        self.errors = dict(errors)
        first = next(iter(self.errors.values()), None)
        super().__init__(f"{len(self.errors)} event(s) of the batch failed; first: {first!r}")


class ContextWriteError(PumpError):
    """A processor wrote to a context shared by a whole batch."""


class PermanentWriteError(PumpError):
    """A sink can never write this event (it cannot be serialized, the server rejects it).

    Raise it (alone, or per event inside a `PartialWriteError`) instead of a transient error:
    the pipeline hands the event to its error policy at once instead of retrying it.
    """

    @classmethod
    def wrap(cls, where: str, exc: BaseException, hint: str = "") -> PermanentWriteError:
        """`exc`, which an event always raises in the sink at `where`, as a permanent failure."""
        if isinstance(exc, PermanentWriteError):
            return exc
        message = str(exc).removeprefix(f"{where}: ")
        error = cls(f"{where}: cannot write the event: {type(exc).__name__}: {message}{hint}")
        error.__cause__ = exc
        return error


class DeadLetterError(PumpError):
    """The dead-letter sink could not write a dead letter: the pipeline stops on it."""
