"""Pump: a real-time event-stream processor for asyncio (BSPump's model, without data loss)."""

from pump.application import Application
from pump.component import Component
from pump.config import ComponentConfig
from pump.connection import Connection
from pump.context import SharedContext
from pump.delivery import Batch, CommitTracker
from pump.errors import BuildError, ConfigError, ContextWriteError, PartialWriteError, PumpError
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
from pump.pipeline import Pipeline, PipelineConfig
from pump.processor import Generator, Processor
from pump.pubsub import PubSub
from pump.sink import Sink
from pump.routing import InternalSource, RouterSink, TeeProcessor
from pump.source import Source
from pump.trigger import (
    CronTrigger,
    PeriodicTrigger,
    PubSubTrigger,
    RunOnceTrigger,
    Trigger,
    TriggerSource,
)

__version__ = "0.1.0"

__all__ = [
    "Application",
    "AsyncLookup",
    "AsyncLookupMixin",
    "Batch",
    "BuildError",
    "CallableLookupProvider",
    "CommitTracker",
    "Component",
    "ComponentConfig",
    "ConfigError",
    "Connection",
    "ContextWriteError",
    "CronTrigger",
    "DictionaryLookup",
    "Generator",
    "InternalSource",
    "Lookup",
    "LookupLoadError",
    "LookupProvider",
    "MappingLookup",
    "MemoryLookupProvider",
    "PartialWriteError",
    "PeriodicTrigger",
    "Pipeline",
    "PipelineConfig",
    "Processor",
    "PubSub",
    "PubSubTrigger",
    "PumpError",
    "RouterSink",
    "RunOnceTrigger",
    "SharedContext",
    "Sink",
    "Source",
    "TeeProcessor",
    "Trigger",
    "TriggerSource",
]
