"""Contexts: shared read-only per batch unless a processor declares it writes them."""

from __future__ import annotations

import pump


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
