"""The per-event context dict, and the read-only context shared by the events of one batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, overload

from pump.errors import ContextWriteError


class SharedContext(dict[str, Any]):
    """Context shared by every event of a batch; writing to it is an error, never a silent mix-up.

    Sources without per-event metadata hand over one context per batch, which keeps the hot
    path cheap. A processor that writes to its context declares `writes_context = True`, and the
    pipeline then gives each event its own copy.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ContextWriteError(
            "the context is shared by all events of this batch and is read-only; declare "
            "`writes_context = True` on the processor so each event gets its own context"
        )

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def copy(self) -> dict[str, Any]:
        """A writable copy."""
        return dict(self)


class NumberedContexts(Sequence[dict[str, Any]]):
    """The per-event contexts of a batch, each made when it is read: `base` plus the event's
    number in `field` (`first`, `first + 1`, ...).

    A source whose events differ only in a running number (a file's line) hands these over
    instead of a dict per event: a processor run that never reads its context then makes
    none, and only the events that go on past it get theirs.
    """

    __slots__ = ("base", "field", "first", "n")

    def __init__(self, base: Mapping[str, Any], field: str, first: int, n: int) -> None:
        self.base = base if type(base) is SharedContext else SharedContext(base)
        self.field = field
        self.first = first
        self.n = n

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return self.pick(list(range(self.n))[i])
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError("context index out of range")
        context = dict(self.base)
        context[self.field] = self.first + i
        return context

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.as_list())

    def as_list(self) -> list[dict[str, Any]]:
        """Every context, as dicts."""
        return self.pick(range(self.n))

    def pick(self, indexes: Iterable[int]) -> list[dict[str, Any]]:
        """The contexts of the events at `indexes`, as dicts."""
        base, field, first = self.base, self.field, self.first
        return [{**base, field: first + i} for i in indexes]
