"""BSPump's TeeSource: the receiving end of a TeeProcessor in another pipeline."""

from __future__ import annotations

from pump.routing import InternalSource


class TeeSource(InternalSource):
    """An InternalSource whose default id is 'TeeSource', as BSPump's addresses expect.

    Bind a TeeProcessor to it: `TeeProcessor(app, self).bind("OtherPipeline.*TeeSource")`.
    """
