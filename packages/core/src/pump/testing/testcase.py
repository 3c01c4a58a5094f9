"""Set up a processor or pipeline once, run events through it as often as needed; unittest too."""

from __future__ import annotations

import asyncio
import unittest
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from pump.application import Application
from pump.pipeline import Pipeline
from pump.processor import Processor
from pump.testing.harness import (
    DEFAULT_TIMEOUT,
    HarnessRig,
    Pair,
    PipelineFactory,
    PipelineResult,
    ProcessorFactory,
    pipeline_from,
    processor_pipeline,
)

# Aliases: inside PipelineTestCase the names App/Pipeline/Processor are its attributes.
_Application = Application
_Pipeline = Pipeline
_Processor = Processor


class Harness:
    """Holds one set-up (a processor, or a whole pipeline) and runs events through it.

    Each run starts the application, hands the events over, waits until they are done and stops
    it again, so a run leaves nothing behind. Synchronous runs share one event loop (closed by
    `close()`), so state kept by the components survives from run to run.
    """

    def __init__(
        self,
        *,
        batch_size: int = 1,
        shared_context: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.batch_size = batch_size
        self.shared_context = shared_context
        self.timeout = timeout
        self.App: Application | None = None
        self.Pipeline: Pipeline | None = None
        self.Processor: Processor | None = None
        self._rig: HarnessRig | None = None
        self._runner: asyncio.Runner | None = None

    def set_up_processor(
        self,
        processor: ProcessorFactory,
        config: Mapping[str, Any] | None = None,
        *args: Any,
        app: Application | None = None,
        pipeline_config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Processor:
        """Put one processor under test: a class, built as `Class(app, pipeline, *args,
        config=config, **kwargs)` (BSPump's `set_up_processor(cls, *args, **kwargs)`), or a
        factory `f(app, pipeline)`."""
        pipeline, built = processor_pipeline(
            processor, config, app=app, pipeline_config=pipeline_config, args=args, kwargs=kwargs
        )
        self._use(pipeline, keep_sink=False)
        self.Processor = built
        return built

    def set_up_pipeline(
        self,
        pipeline: PipelineFactory,
        *,
        app: Application | None = None,
        keep_sink: bool = False,
    ) -> Pipeline:
        """Put a pipeline (or `f(app) -> Pipeline`) under test; its sources are replaced."""
        built = pipeline_from(pipeline, app)
        self._use(built, keep_sink=keep_sink)
        self.Processor = None
        return built

    def _use(self, pipeline: Pipeline, keep_sink: bool) -> None:
        self._rig = HarnessRig(pipeline, keep_sink, self.batch_size, self.shared_context)
        self.App = pipeline.App
        self.Pipeline = pipeline

    async def arun(self, events: Iterable[Pair]) -> PipelineResult:
        """Run (context, event) pairs through the set-up; the full result."""
        if self._rig is None:
            raise RuntimeError("call set_up_processor() or set_up_pipeline() first")
        result = await self._rig.run(events, self.timeout)
        if self.Processor is not None:
            result.counters = self.Processor.counters.snapshot()
        return result

    def run(self, events: Iterable[Pair]) -> PipelineResult:
        """`arun` from synchronous code."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("Harness.run() cannot run inside an event loop; use `await arun()`")
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(self.arun(events))

    async def aexecute(self, events: Iterable[Pair]) -> list[tuple[dict[str, Any], Any]]:
        """BSPump's `execute`: (context, event) pairs in, (context, event) pairs out."""
        return (await self.arun(events)).outputs

    def execute(self, events: Iterable[Pair]) -> list[tuple[dict[str, Any], Any]]:
        """BSPump's `execute`, from synchronous code."""
        return self.run(events).outputs

    def close(self) -> None:
        """Close the event loop of synchronous runs."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PipelineTestCase(unittest.TestCase):
    """BSPump's `ProcessorTestCase`: `set_up_processor(Class, config)`, then `execute(events)`.

    `execute` takes and returns lists of (context, event); `execute_result` returns the full
    `PipelineResult` (acknowledged/rejected inputs, metrics, errors). `self.App`,
    `self.Pipeline` and `self.Processor` are the objects under test.
    """

    @property
    def harness(self) -> Harness:
        """The harness of this test (made on first use, closed when the test ends)."""
        harness: Harness | None = self.__dict__.get("_pump_harness")
        if harness is None:
            harness = Harness()
            self.__dict__["_pump_harness"] = harness
            self.addCleanup(harness.close)
        return harness

    @property
    def App(self) -> _Application | None:
        """The application under test."""
        return self.harness.App

    @property
    def Pipeline(self) -> _Pipeline | None:
        """The pipeline under test."""
        return self.harness.Pipeline

    @property
    def Processor(self) -> _Processor | None:
        """The processor under test (after `set_up_processor`)."""
        return self.harness.Processor

    def set_up_processor(
        self,
        processor: ProcessorFactory,
        config: Mapping[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> _Processor:
        """Put one processor under test: a class (more constructor arguments in `args` and
        `kwargs`, as BSPump's `set_up_processor(cls, *args, **kwargs)`), or a factory."""
        return self.harness.set_up_processor(processor, config, *args, **kwargs)

    def set_up_pipeline(self, pipeline: PipelineFactory, **options: Any) -> _Pipeline:
        """Put a pipeline (or `f(app) -> Pipeline`) under test."""
        return self.harness.set_up_pipeline(pipeline, **options)

    def execute(self, events: Iterable[Pair]) -> list[tuple[dict[str, Any], Any]]:
        """Run (context, event) pairs; the (context, event) pairs that reached the sink."""
        return self.harness.execute(events)

    def execute_result(self, events: Iterable[Pair]) -> PipelineResult:
        """Run (context, event) pairs; the full result."""
        return self.harness.run(events)


#: BSPump's name for the same test case.
ProcessorTestCase = PipelineTestCase
