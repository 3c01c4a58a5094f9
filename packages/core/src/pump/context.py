"""The per-event context dict, and the read-only context shared by the events of one batch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
    number in `field` (`numbers[i]` for the i-th event: its line in a file).

    A source whose events differ only in a running number hands these over instead of a dict
    per event; `pick` keeps them unmade for the events a processor run let through. Reading
    one makes a new dict: a processor that writes to its context declares `writes_context`,
    and then every event gets a dict of its own up front.
    """

    __slots__ = ("base", "field", "first", "indexes")
    indexes: Sequence[int]

    def __init__(self, base: Mapping[str, Any], field: str, numbers: Sequence[int]) -> None:
        self.base = base if type(base) is SharedContext else SharedContext(base)
        self.field = field
        # consecutive numbers (the usual case) are kept as a start and offsets, so picking
        # events keeps the offsets the processor run already made
        if type(numbers) is range and numbers.step == 1:
            self.first, self.indexes = numbers.start, range(len(numbers))
        else:
            self.first, self.indexes = 0, numbers

    def __len__(self) -> int:
        return len(self.indexes)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> NumberedContexts: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | NumberedContexts:
        if isinstance(i, slice):
            return self.pick(range(len(self.indexes))[i])
        context = dict(self.base)
        context[self.field] = self.first + self.indexes[i]
        return context

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.as_list())

    def pick(self, indexes: Sequence[int]) -> NumberedContexts:
        """The contexts of the events at `indexes`, still unmade."""
        picked = NumberedContexts.__new__(NumberedContexts)
        picked.base, picked.field, picked.first = self.base, self.field, self.first
        mine = self.indexes
        if type(mine) is range and mine.start == 0 and mine.step == 1:
            picked.indexes = indexes
        else:
            picked.indexes = [mine[i] for i in indexes]
        return picked

    def as_list(self) -> list[dict[str, Any]]:
        """Every context, as dicts."""
        base, field, first = self.base, self.field, self.first
        return [{**base, field: first + i} for i in self.indexes]
