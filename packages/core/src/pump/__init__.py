"""Pump: a real-time event-stream processor for asyncio (BSPump's model, without data loss)."""

from pump.application import Application
from pump.component import Component
from pump.config import ComponentConfig
from pump.connection import Connection
from pump.context import SharedContext
from pump.delivery import Batch, CommitTracker
from pump.errors import BuildError, ConfigError, ContextWriteError, PartialWriteError, PumpError
from pump.pipeline import Pipeline, PipelineConfig
from pump.processor import Generator, Processor
from pump.pubsub import PubSub
from pump.sink import Sink
from pump.source import Source

__version__ = "0.1.0"

__all__ = [
    "Application",
    "Batch",
    "BuildError",
    "CommitTracker",
    "Component",
    "ComponentConfig",
    "ConfigError",
    "Connection",
    "ContextWriteError",
    "Generator",
    "PartialWriteError",
    "Pipeline",
    "PipelineConfig",
    "Processor",
    "PubSub",
    "PumpError",
    "SharedContext",
    "Sink",
    "Source",
]
