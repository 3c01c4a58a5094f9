"""Pump: a real-time event-stream processor for asyncio (BSPump's model, without data loss).

The names below are imported on first use (PEP 562), so `import pump` — and the `pump` command
line, which lives in this package — starts fast; `from pump import Pipeline` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pump.application import Application, BSPumpApplication, BSPumpService
    from pump.backoff import Backoff, ReconnectConfig, RetriesExhausted
    from pump.component import Component
    from pump.config import ComponentConfig
    from pump.connection import Connection
    from pump.context import NumberedContexts, SharedContext
    from pump.delivery import Batch, CommitTracker
    from pump.errors import (
        BuildError,
        ConfigError,
        ContextWriteError,
        PartialBatchError,
        PartialWriteError,
        PermanentWriteError,
        PumpError,
    )
    from pump.lookup import (
        AsyncLookup,
        AsyncLookupMixin,
        CallableLookupProvider,
        DictionaryLookup,
        Lookup,
        LookupLoadError,
        LookupProvider,
        MappingLookup,
        MemoryLookupProvider,
    )
    from pump.metrics import Counter, Gauge
    from pump.pipeline import Pipeline, PipelineConfig, PipelineError
    from pump.processor import Generator, Processor
    from pump.pubsub import PubSub
    from pump.ratelimit import RateLimitedLog
    from pump.routing import (
        InternalSource,
        RouterSink,
        TeeProcessor,
    )
    from pump.sink import Sink
    from pump.source import Source
    from pump.taskgroup import TaskGroup
    from pump.tls import TLSConfig, TLSError, TLSServerConfig
    from pump.trigger import (
        CronTrigger,
        PeriodicTrigger,
        PubSubTrigger,
        RunOnceTrigger,
        Trigger,
        TriggerSource,
    )

__version__ = "0.1.0"

#: Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "Application": "pump.application",
    "BSPumpApplication": "pump.application",
    "BSPumpService": "pump.application",
    "Backoff": "pump.backoff",
    "ReconnectConfig": "pump.backoff",
    "RetriesExhausted": "pump.backoff",
    "Component": "pump.component",
    "ComponentConfig": "pump.config",
    "Connection": "pump.connection",
    "NumberedContexts": "pump.context",
    "SharedContext": "pump.context",
    "Batch": "pump.delivery",
    "CommitTracker": "pump.delivery",
    "BuildError": "pump.errors",
    "ConfigError": "pump.errors",
    "ContextWriteError": "pump.errors",
    "PartialBatchError": "pump.errors",
    "PartialWriteError": "pump.errors",
    "PermanentWriteError": "pump.errors",
    "PumpError": "pump.errors",
    "AsyncLookup": "pump.lookup",
    "AsyncLookupMixin": "pump.lookup",
    "CallableLookupProvider": "pump.lookup",
    "DictionaryLookup": "pump.lookup",
    "Lookup": "pump.lookup",
    "LookupLoadError": "pump.lookup",
    "LookupProvider": "pump.lookup",
    "MappingLookup": "pump.lookup",
    "MemoryLookupProvider": "pump.lookup",
    "Counter": "pump.metrics",
    "Gauge": "pump.metrics",
    "Pipeline": "pump.pipeline",
    "PipelineConfig": "pump.pipeline",
    "PipelineError": "pump.pipeline",
    "Generator": "pump.processor",
    "Processor": "pump.processor",
    "PubSub": "pump.pubsub",
    "RateLimitedLog": "pump.ratelimit",
    "InternalSource": "pump.routing",
    "RouterSink": "pump.routing",
    "TeeProcessor": "pump.routing",
    "Sink": "pump.sink",
    "Source": "pump.source",
    "TaskGroup": "pump.taskgroup",
    "TLSConfig": "pump.tls",
    "TLSError": "pump.tls",
    "TLSServerConfig": "pump.tls",
    "CronTrigger": "pump.trigger",
    "PeriodicTrigger": "pump.trigger",
    "PubSubTrigger": "pump.trigger",
    "RunOnceTrigger": "pump.trigger",
    "Trigger": "pump.trigger",
    "TriggerSource": "pump.trigger",
}

__all__ = [
    "Application",
    "AsyncLookup",
    "AsyncLookupMixin",
    "BSPumpApplication",
    "BSPumpService",
    "Backoff",
    "Batch",
    "BuildError",
    "CallableLookupProvider",
    "CommitTracker",
    "Component",
    "ComponentConfig",
    "ConfigError",
    "Connection",
    "ContextWriteError",
    "Counter",
    "CronTrigger",
    "DictionaryLookup",
    "Gauge",
    "Generator",
    "InternalSource",
    "Lookup",
    "LookupLoadError",
    "LookupProvider",
    "MappingLookup",
    "MemoryLookupProvider",
    "NumberedContexts",
    "PartialBatchError",
    "PartialWriteError",
    "PeriodicTrigger",
    "PermanentWriteError",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "Processor",
    "PubSub",
    "PubSubTrigger",
    "PumpError",
    "RateLimitedLog",
    "ReconnectConfig",
    "RetriesExhausted",
    "RouterSink",
    "RunOnceTrigger",
    "SharedContext",
    "Sink",
    "Source",
    "TLSConfig",
    "TLSError",
    "TLSServerConfig",
    "TaskGroup",
    "TeeProcessor",
    "Trigger",
    "TriggerSource",
]


#: Subpackages reachable as attributes after a plain `import pump` (`pump.common.X`).
_SUBPACKAGES = ("common", "testing", "metrics", "socket", "state")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"pump.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pump' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    # The public API only: not the helpers this module imports nor the submodules it loaded.
    dunders = {n for n in globals() if n.startswith("__")}
    return sorted({*dunders, *__all__, *_SUBPACKAGES})
