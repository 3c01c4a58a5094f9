"""Contexts: shared read-only per batch unless a processor declares it writes them."""

from __future__ import annotations

import pytest

import pump
from pump.chain import reads_context
from pump.common import FunctionProcessor
from pump.context import NumberedContexts


class Tag(pump.Processor):
    def process(self, context, event):
        context["tag"] = event["seq"]
        return event


class TagDeclared(Tag):
    writes_context = True


async def test_writing_a_shared_context_is_an_error_naming_the_processor(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(3)])
    pipeline.build(source, Tag(app, pipeline, "tagger"), kit.CollectSink(app, pipeline))
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 1
    error = pipeline.metrics()["error"]["error"]
    assert "ContextWriteError" in error
    assert "component 'tagger'" in error and "writes_context = True" in error


async def test_processor_declaring_writes_context_gets_one_context_per_event(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    source = kit.RecordingSource(app, pipeline, [{"seq": i} for i in range(25)], batch_size=10)
    sink = kit.CollectSink(app, pipeline)
    pipeline.build(source, TagDeclared(app, pipeline), sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    assert [c["tag"] for c in sink.contexts] == list(range(25))
    assert all(c["source"] == source.Id for c in sink.contexts)  # the batch metadata is kept


def test_shared_context_refuses_every_mutation():
    ctx = pump.SharedContext({"a": 1})
    for mutate in (
        lambda: ctx.__setitem__("b", 2),
        lambda: ctx.update(b=2),
        lambda: ctx.pop("a"),
        lambda: ctx.setdefault("b", 2),
        lambda: ctx.clear(),
        lambda: ctx.__delitem__("a"),
    ):
        try:
            mutate()
        except pump.ContextWriteError:
            pass
        else:
            raise AssertionError("mutation was allowed")
    assert ctx == {"a": 1}
    copy = ctx.copy()
    copy["b"] = 2
    assert copy == {"a": 1, "b": 2} and type(copy) is dict


# -- numbered contexts: made only for the events that need them -------------------------------


class NumberedSource(pump.Source):
    """Emits numbered events with NumberedContexts (as the file sources do with lines)."""

    def __init__(self, app, pipeline, n, batch_size):
        super().__init__(app, pipeline)
        self.n, self.batch_size = n, batch_size

    async def main(self):
        for first in range(0, self.n, self.batch_size):
            events = list(range(first, min(first + self.batch_size, self.n)))
            contexts = NumberedContexts(
                {"file_path": "f"}, "file_line", range(first + 1, first + 1 + len(events))
            )
            await self.emit(events, contexts=contexts)


class KeepOdd(pump.Processor):
    def process(self, context, event):  # never reads its context
        if event == 21:
            raise ValueError("twenty-one")
        return event if event % 2 else None


class ReadsLine(pump.Processor):
    def process(self, context, event):
        return (event, context["file_line"])


class PassesContextOn(KeepOdd):
    def process(self, context, event):
        return super().process(context, event)


def test_numbered_contexts_are_made_when_read():
    contexts = NumberedContexts({"file_path": "f"}, "file_line", range(5, 8))
    assert len(contexts) == 3
    assert contexts[0] == {"file_path": "f", "file_line": 5}
    assert contexts[-1] == {"file_path": "f", "file_line": 7}
    assert (
        list(contexts)
        == contexts.as_list()
        == [{"file_path": "f", "file_line": n} for n in (5, 6, 7)]
    )
    assert list(contexts[1:]) == [{"file_path": "f", "file_line": n} for n in (6, 7)]
    picked = contexts.pick([2, 0])  # still unmade; a pick of a pick is of the same events
    assert type(picked) is NumberedContexts and len(picked) == 2
    assert list(picked) == [{"file_path": "f", "file_line": n} for n in (7, 5)]
    assert picked.pick([1]).as_list() == [{"file_path": "f", "file_line": 5}]
    assert contexts[1:].pick([1])[0] == {"file_path": "f", "file_line": 7}
    assert contexts[::2].pick([1])[0] == {"file_path": "f", "file_line": 7}
    made = contexts[0]
    made["mine"] = 1  # each read makes a new, writable dict
    assert type(made) is dict and "mine" not in contexts[0]
    with pytest.raises(IndexError):
        contexts[3]
    # numbers that are not consecutive (records that span lines) are kept as they are
    spans = NumberedContexts({"file_path": "f"}, "file_line", [1, 4, 5, 9])
    assert [c["file_line"] for c in spans.pick([3, 1])] == [9, 4]
    assert [c["file_line"] for c in spans[1:].pick([0, 2])] == [4, 9]


def test_a_processor_that_never_touches_its_context_is_told_apart(kit):
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")

    def locals_reader(context, event):
        return locals()

    def closure(context, event):
        return lambda: context

    assert not reads_context(KeepOdd(app, pipeline))
    assert not reads_context(FunctionProcessor(app, pipeline, lambda event: event))
    assert reads_context(ReadsLine(app, pipeline))
    assert reads_context(PassesContextOn(app, pipeline))
    assert reads_context(FunctionProcessor(app, pipeline, lambda context, event: context))
    assert not reads_context(FunctionProcessor(app, pipeline, lambda context, event: event))
    assert reads_context(FunctionProcessor(app, pipeline, locals_reader))
    assert reads_context(FunctionProcessor(app, pipeline, closure))


@pytest.mark.parametrize(("reader", "profile_every"), [(False, 0), (False, 1), (True, 0)])
async def test_numbered_contexts_reach_the_sink_and_the_error_policy_for_their_own_events(
    kit, reader, profile_every, caplog
):
    app = pump.Application()
    config = {"on_error": "skip", "profile_every": profile_every}
    pipeline = pump.Pipeline(app, "p", config=config)
    sink = kit.CollectSink(app, pipeline)
    # without a reader no processor reads a context: they are made for the kept events only
    last = [ReadsLine(app, pipeline)] if reader else []
    pipeline.build(NumberedSource(app, pipeline, 50, 16), KeepOdd(app, pipeline), *last, sink)
    app.add_pipeline(pipeline)
    assert await kit.run_app(app) == 0
    kept = [e for e in range(50) if e % 2 and e != 21]
    assert [c["file_line"] for c in sink.contexts] == [e + 1 for e in kept]
    assert all(c["file_path"] == "f" for c in sink.contexts)
    assert sink.events == ([(e, e + 1) for e in kept] if reader else kept)
    [error] = pipeline.errors
    assert error.event == 21
    assert "twenty-one (event from file 'f' line 22)" in caplog.text
