"""Errors the Elasticsearch connector raises on purpose, each saying what to check."""

from __future__ import annotations

from typing import Any

from pump import PermanentWriteError, PumpError


class ElasticsearchConnectorError(PumpError):
    """Base of the Elasticsearch connector's own errors."""


class ClusterUnavailable(ElasticsearchConnectorError):
    """No node could be reached, or the cluster refused the credentials."""


class BulkItemError(ElasticsearchConnectorError):
    """Elasticsearch refused one bulk item; carries its status, error type and reason.

    `retryable` is True for statuses a later attempt may not get (429, 5xx); the others
    (a mapping error, a missing document, an invalid index name) never succeed as they are.
    """

    def __init__(self, op: str, index: Any, id: Any, status: int, type: str, reason: str) -> None:
        self.op = op
        self.index = index
        self.id = id
        self.status = status
        self.type = type
        self.reason = reason
        self.retryable = status == 429 or status >= 500
        target = f"index {index!r}" + (f" id {id!r}" if id is not None else "")
        super().__init__(f"{op} into {target} refused with {status} {type}: {reason}")


class BulkItemRejected(BulkItemError, PermanentWriteError):
    """A bulk item Elasticsearch refused for good: the pipeline's error policy gets it at once."""


def item_error(op: str, index: Any, id: Any, status: int, type: str, reason: str) -> BulkItemError:
    """The error of a refused bulk item: BulkItemRejected unless a retry may succeed."""
    retryable = status == 429 or status >= 500
    kind = BulkItemError if retryable else BulkItemRejected
    return kind(op, index, id, status, type, reason)
