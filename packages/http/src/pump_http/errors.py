"""The errors pump-http raises on purpose: one base, a subclass per kind of failure."""

from __future__ import annotations

import pump


class HTTPConnectorError(pump.PumpError):
    """Base of every error of pump-http."""


class HTTPStatusError(HTTPConnectorError):
    """A server answered with a status that is not a success; `status` and `url` say which."""

    def __init__(
        self, message: str, status: int, url: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        #: Seconds the server asked to wait (its Retry-After header), if it said.
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """True for answers worth trying again later: 408, 425, 429 and every 5xx."""
        return self.status in TRANSIENT_STATUSES or self.status >= 500


class HTTPPermanentWriteError(HTTPStatusError, pump.PermanentWriteError):
    """A sink's request was refused for good (a 4xx other than 408, 425 and 429)."""


class HTTPResponseError(HTTPConnectorError):
    """A response cannot be used: too large, not the JSON it should be, a cursor of a wrong type."""


class WebSocketError(HTTPConnectorError):
    """A WebSocket could not be opened or was lost."""


#: Statuses that say "not now" rather than "never": a request refused with one is retried.
TRANSIENT_STATUSES = frozenset({408, 425, 429})
