"""KafkaKeyFilter: keeps only the events whose Kafka record key is one of a set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

import pump

if TYPE_CHECKING:
    from pump import Application, Pipeline


class KafkaKeyFilterConfig(pump.ComponentConfig):
    """Settings of a KafkaKeyFilter."""

    keep_keys: list[str] = Field(
        default_factory=list, description="Keys to keep (compared as UTF-8 bytes)"
    )
    context_key: str = Field("kafka_key", description="Context key holding the record key")


class KafkaKeyFilter(pump.Processor):
    """Passes events whose `context["kafka_key"]` is in `keys`; drops (so acknowledges) the rest.

    BSPump's shape: `KafkaKeyFilter(app, pipeline, keys)`; or `keep_keys` in the config.
    Keys are compared as bytes, so `"user-1"` matches the record key `b"user-1"`.
    """

    ConfigModel = KafkaKeyFilterConfig
    Config: KafkaKeyFilterConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        keys: Iterable[str | bytes] | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.keys: frozenset[bytes] = frozenset(
            _as_bytes(k) for k in [*self.Config.keep_keys, *(keys or ())]
        )
        self._context_key = self.Config.context_key

    def process(self, context: dict[str, Any], event: Any) -> Any:
        key = context.get(self._context_key)
        if type(key) is not bytes and key is not None:
            key = _as_bytes(key)
        return event if key in self.keys else None


def _as_bytes(key: str | bytes) -> bytes:
    if isinstance(key, str):
        return key.encode()
    return bytes(key)
