"""The hot path: a run of synchronous processors compiled into one flat loop over a batch.

A pipeline splits its processors into segments that end at a Generator or at the sink. Each
segment is compiled (once, lazily) into a function that takes a batch of events and runs every
event through every processor with a plain `for` loop — the same code a person would write by
hand — so per-event overhead is a call per processor and nothing else. `try` costs nothing in
CPython 3.11+ until something raises; which processor raised is read off the traceback's line
number, and drops are counted only when they happen.
"""

from __future__ import annotations

import dis
import time
from collections.abc import Callable, Sequence
from typing import Any

from pump.processor import Processor

# fail(stage, context, event, exc) -> True to abandon the rest of the batch
FailHandler = Callable[[int, Any, Any, BaseException], bool]
RunFunction = Callable[..., None]


class Segment:
    """Processors `start`..`stop-1` of a pipeline, compiled into batch loops."""

    def __init__(self, processors: Sequence[Processor], start: int) -> None:
        self.processors = list(processors)
        self.start = start
        self.drops = [0] * len(self.processors)
        self.errors = [0] * len(self.processors)
        self.times = [0] * len(self.processors)
        self.batches = 0
        #: Stages of stateful processors (docs/state.md), and their states.
        self.stateful = [i for i, p in enumerate(self.processors) if p.stateful]
        self.states = [self.processors[i].state for i in self.stateful]
        #: True when no processor reads its context: numbered contexts (pump.context) can
        #: then be left unmade, but for the events that come out (and those that fail).
        self.numbered = not self.stateful and not any(map(reads_context, self.processors))
        self._variants: dict[tuple[bool, bool, bool, bool], tuple[RunFunction, dict[int, int]]] = {}

    def function(
        self, shared: bool, profiled: bool, replay: bool = False, numbered: bool = False
    ) -> tuple[RunFunction, dict[int, int]]:
        """The compiled loop for a shared/per-event context, with or without timing; with
        `replay`, stateful processors are called through their state's `gate`; `numbered`:
        the contexts are `NumberedContexts`, and the loop gives the indexes of the events
        that come out instead of their contexts."""
        key = (shared, profiled, replay, numbered)
        if key not in self._variants:
            self._variants[key] = _compile(self.processors, shared, profiled, replay, numbered)
        return self._variants[key]

    def absorbed(self) -> int:
        """Events this batch's stateful processors returned None for (absorbed into state)."""
        drops = self.drops
        return sum(drops[i] for i in self.stateful)

    def dropped(self) -> tuple[int, int]:
        """This batch's (dropped, aggregated) counts, before `account` resets them."""
        dropped = aggregated = 0
        for i, p in enumerate(self.processors):
            if p.consumes_events:
                aggregated += self.drops[i]
            else:
                dropped += self.drops[i]
        return dropped, aggregated

    def account(self, n_in: int, n_out: int) -> None:
        """Move this batch's per-stage drops and errors into the processors' counters."""
        if n_in == n_out:
            for p in self.processors:
                c = p.counters
                c.events_in += n_in
                c.events_out += n_in
            return
        drops, errors, count = self.drops, self.errors, n_in
        for i, p in enumerate(self.processors):
            c = p.counters
            c.events_in += count
            count -= drops[i] + errors[i]
            if p.consumes_events:
                c.aggregated += drops[i]
            else:
                c.dropped += drops[i]
            c.events_out += count
            drops[i] = errors[i] = 0

    def account_times(self, n_in: int) -> None:
        """Move the sampled per-processor times into the counters."""
        for i, p in enumerate(self.processors):
            p.counters.time_ns += self.times[i]
            p.counters.timed += n_in
            self.times[i] = 0


# the line that runs processor i, by how it runs (Processor.inline)
_CALLS = {
    "process": "            event = p{i}(context, event)",
    "map": "            event = p{i}(event)",
    "keep": "            passed = p{i}(event)",
    "drop": "            passed = p{i}(event)",
}
# the test after it that drops the event
_TESTS = {
    "process": "            if event is None:",
    "map": "            if event is None:",
    "keep": "            if not passed:",
    "drop": "            if passed:",
}


#: Instructions that touch a local variable by name (3.11 and later).
_LOCAL_OPS = frozenset(
    op for op in dis.opname if "FAST" in op or op in ("LOAD_CLOSURE", "LOAD_DEREF")
)


def reads_context(processor: Processor) -> bool:
    """False only when the processor is provably deaf to its context: it runs inline (a
    function of the event) or its `process` never touches the context argument."""
    if processor.inline is not None:
        return False
    process = processor.process
    function = getattr(process, "__func__", process)
    code = getattr(function, "__code__", None)
    first = 1 if hasattr(process, "__self__") else 0  # a method's context follows `self`
    if code is None or code.co_argcount < first + 2:
        return True
    name = code.co_varnames[first]
    if name in code.co_cellvars or {"locals", "vars", "eval", "exec"} & set(code.co_names):
        return True
    for instruction in dis.get_instructions(code):
        if instruction.opname in _LOCAL_OPS:
            value = instruction.argval
            if value == name or (isinstance(value, tuple) and name in value):
                return True
    return False


def _compile(
    processors: Sequence[Processor],
    shared: bool,
    profiled: bool,
    replay: bool = False,
    numbered: bool = False,
) -> tuple[RunFunction, dict[int, int]]:
    namespace: dict[str, Any] = {"perf": time.perf_counter_ns}
    if numbered:
        # the processors get the shared part of the contexts (they do not read it); an event's
        # own context is made only if it fails, and the events that come out are noted by index
        lines = [
            "def run(contexts, events, out_events, out_index, drops, times, fail):",
            "    context = contexts.base",
            "    for i, event in enumerate(events):",
        ]
    elif shared:
        lines = [
            "def run(context, events, out_events, out_contexts, drops, times, fail):",
            "    for event in events:",
        ]
    else:
        lines = [
            "def run(contexts, events, out_events, out_contexts, drops, times, fail):",
            "    for context, event in zip(contexts, events):",
        ]
    lines.append("        try:")
    stage_of_line: dict[int, int] = {}
    for i, processor in enumerate(processors):
        inline = None if replay and processor.stateful else processor.inline
        kind = "process" if inline is None else inline[0]
        if inline is not None:
            namespace[f"p{i}"] = inline[1]
        else:  # while replaying, a stateful processor skips what its state already holds
            namespace[f"p{i}"] = (
                processor.state.gate if replay and processor.stateful else processor.process
            )
        if profiled:
            lines.append("            t = perf()")
        lines.append(_CALLS[kind].format(i=i))
        stage_of_line[len(lines)] = i  # 1-based line number of the call
        if profiled:
            lines.append(f"            times[{i}] += perf() - t")
        lines.append(_TESTS[kind])
        lines.append(f"                drops[{i}] += 1")
        lines.append("                continue")
    # `out.append(x)` written as a method call is specialised by CPython 3.11+, unlike a
    # cached bound method
    lines.append("            out_events.append(event)")
    if numbered:
        lines.append("            out_index.append(i)")
    elif not shared:
        lines.append("            out_contexts.append(context)")
    lines.append("        except Exception as exc:")
    failed_context = "contexts[i]" if numbered else "context"
    lines.append(f"            if fail(stage_of(exc), {failed_context}, event, exc):")
    lines.append("                break")
    source = "\n".join(lines) + "\n"
    filename = "<pump chain: " + ", ".join(p.Id for p in processors) + ">"

    def stage_of(exc: BaseException) -> int:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != filename:
            tb = tb.tb_next
        return stage_of_line.get(tb.tb_lineno if tb is not None else -1, 0)

    namespace["stage_of"] = stage_of
    exec(compile(source, filename, "exec"), namespace)
    run: RunFunction = namespace["run"]
    return run, stage_of_line
