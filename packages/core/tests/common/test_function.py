"""FunctionProcessor and the detection of `f(event)` versus `f(context, event)`."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from pump import Application, BuildError, Pipeline
from pump.common import FunctionProcessor
from pump.common.callables import import_callable, takes_context


def add_one(event: int) -> int:
    """A module-level function, importable by path from config."""
    return event + 1


def one(event): ...
def two(context, event): ...
def one_plus_default(event, scale=2): ...
def two_plus_default(context, event, scale=2): ...
def variadic(*args): ...
def event_and_variadic(event, *rest): ...
def keyword_only(event, *, option=1): ...
def all_defaults(context=None, event=None): ...


class Handler:
    def method(self, event: Any) -> Any: ...
    def method_with_context(self, context: Any, event: Any) -> Any: ...
    def __call__(self, context: Any, event: Any) -> Any: ...


@pytest.mark.parametrize(
    ("function", "with_context"),
    [
        (one, False),
        (two, True),
        (one_plus_default, False),
        (two_plus_default, True),
        (variadic, True),
        (event_and_variadic, True),
        (keyword_only, False),
        (all_defaults, True),
        (lambda e: e, False),
        (lambda c, e: e, True),
        (Handler().method, False),
        (Handler().method_with_context, True),
        (Handler(), True),
        (functools.partial(two, {}), False),
        (str, False),
        (len, False),
        (dict.copy, False),
    ],
)
def test_arity_is_read_from_the_signature(function: Any, with_context: bool) -> None:
    assert takes_context(function, "here") is with_context


def test_unusable_functions_are_build_errors() -> None:
    async def coroutine(event: Any) -> Any: ...

    def three(a: Any, b: Any, c: Any) -> None: ...

    def none() -> None: ...

    with pytest.raises(BuildError, match=r"here: .* coroutine function"):
        takes_context(coroutine, "here")
    with pytest.raises(BuildError, match="needs 3 arguments"):
        takes_context(three, "here")
    with pytest.raises(BuildError, match="takes no positional argument"):
        takes_context(none, "here")


def test_import_callable() -> None:
    assert import_callable(f"{__name__}:add_one", "here") is add_one
    assert import_callable("os.path.join", "here").__name__ == "join"
    assert import_callable("os.path:join", "here").__name__ == "join"
    with pytest.raises(BuildError, match="here: cannot import 'no_such_module:f'"):
        import_callable("no_such_module:f", "here")
    with pytest.raises(BuildError, match="cannot import 'os:no_such_name'"):
        import_callable("os:no_such_name", "here")
    with pytest.raises(BuildError, match="'os:sep' is str, not a callable"):
        import_callable("os:sep", "here")
    with pytest.raises(BuildError, match="not a 'module:function' path"):
        import_callable("nodots", "here")


async def test_runs_an_event_function(run: Any) -> None:
    r = await run([1, 2, 3], lambda app, p: FunctionProcessor(app, p, add_one))
    assert r.events == [2, 3, 4]


async def test_runs_a_context_event_function(run: Any) -> None:
    r = await run(
        [1, 2],
        lambda app, p: FunctionProcessor(app, p, lambda context, event: (context["tag"], event)),
        context={"tag": "t"},
    )
    assert r.events == [("t", 1), ("t", 2)]


async def test_function_from_config_and_none_drops(run: Any) -> None:
    r = await run(
        [1, 2, 3, 4],
        lambda app, p: FunctionProcessor(app, p, config={"function": f"{__name__}:add_one"}),
        lambda app, p: FunctionProcessor(app, p, lambda e: e if e % 2 else None, id="odd"),
    )
    assert r.events == [3, 5]
    assert r.pipeline.counters.dropped == 2


async def test_two_argument_function_is_called_directly(run: Any) -> None:
    def f(context: Any, event: Any) -> Any:
        return event

    app = Application()
    processor = FunctionProcessor(app, Pipeline(app, "p"), f)
    assert processor.process is f  # no wrapper frame per event


async def test_writes_context_config_gives_each_event_its_own_context(run: Any) -> None:
    def tag(context: dict[str, Any], event: Any) -> Any:
        context["seen"] = event
        return event

    r = await run(
        [1, 2, 3],
        lambda app, p: FunctionProcessor(app, p, tag, config={"writes_context": True}),
    )
    assert [c["seen"] for c in r.contexts] == [1, 2, 3]


async def test_writing_a_shared_context_without_declaring_it_is_an_error(run: Any) -> None:
    def tag(context: dict[str, Any], event: Any) -> Any:
        context["seen"] = event
        return event

    r = await run([1], lambda app, p: FunctionProcessor(app, p, tag, id="tagger"))
    assert r.events == []
    assert r.pipeline.error is not None
    assert r.pipeline.error.component == "tagger"
    assert "writes_context" in str(r.pipeline.error.error)


def test_without_function_is_a_build_error() -> None:
    app = Application()
    with pytest.raises(BuildError, match="pass a function or set config 'function'"):
        FunctionProcessor(app, Pipeline(app, "p"))
