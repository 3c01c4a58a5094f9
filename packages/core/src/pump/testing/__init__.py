"""pump.testing: run processors and pipelines on given events, and contract suites for connectors.

    result = run_processor(MyProcessor, [{"a": 1}], config={"key": 5})
    assert result.events == [...] and result.acknowledged == [0]

    result = run_pipeline(lambda app: MyPipeline(app, "p"), [(context, event), ...])
    result.outputs, result.acknowledged, result.rejected, result.metrics, result.errors

    class TestMySink(SinkContract): ...       # make_sink(), read_back(), ...
    class TestMySource(SourceContract): ...   # make_source(), produce(), ...
    class TestMyLookup(LookupContract): ...   # make_lookup(), expected, ...
    class TestPlugins(PluginContract): ...    # distribution, declared entry points

The harness (`run_processor`, `run_pipeline`, `Harness`, `PipelineTestCase`) needs nothing but
pump; the contract suites and `require_service` need pytest, and are imported on first use.
The pytest plugin (`pump.testing.plugin`: fixtures `pump_app`, `pump_harness`; the `service`
marker) is registered through the `pytest11` entry point.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pump.testing.harness import (
    BatchRecord,
    CollectingSink,
    HarnessSource,
    PipelineResult,
    arun_pipeline,
    arun_processor,
    run_pipeline,
    run_processor,
)
from pump.testing.recorders import HandoverRecorder, WriteRecorder, event_key
from pump.testing.services import require_service, service_address, services_required
from pump.testing.testcase import Harness, PipelineTestCase, ProcessorTestCase
from pump.testing.waiting import wait_until

if TYPE_CHECKING:
    from pump.testing.lookup_contract import LookupContract
    from pump.testing.plugin_contract import PluginContract
    from pump.testing.sink_contract import SinkContract
    from pump.testing.source_contract import SourceContract

_LAZY = {
    "LookupContract": "pump.testing.lookup_contract",
    "PluginContract": "pump.testing.plugin_contract",
    "SinkContract": "pump.testing.sink_contract",
    "SourceContract": "pump.testing.source_contract",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pump.testing' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    # The public API, the lazily imported contract suites included.
    return sorted({*(n for n in globals() if n.startswith("__")), *__all__})


__all__ = [
    "BatchRecord",
    "CollectingSink",
    "HandoverRecorder",
    "Harness",
    "HarnessSource",
    "LookupContract",
    "PipelineResult",
    "PipelineTestCase",
    "PluginContract",
    "ProcessorTestCase",
    "SinkContract",
    "SourceContract",
    "WriteRecorder",
    "arun_pipeline",
    "arun_processor",
    "event_key",
    "require_service",
    "run_pipeline",
    "run_processor",
    "service_address",
    "services_required",
    "wait_until",
]
