"""The per-event context dict, and the read-only context shared by the events of one batch."""

from __future__ import annotations

from typing import Any, NoReturn

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
