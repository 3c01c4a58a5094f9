"""User functions for processors: import them by path, adapt `f(event)` to `f(context, event)`."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from pump.errors import BuildError

EventFunction = Callable[[dict[str, Any], Any], Any]


def import_callable(path: str, where: str) -> Callable[..., Any]:
    """The callable named by `path` ("package.module:name" or "package.module.name")."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise BuildError(f"{where}: '{path}' is not a 'module:function' path")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise BuildError(f"{where}: cannot import '{path}': {exc}") from None
    if not callable(target):
        raise BuildError(f"{where}: '{path}' is {type(target).__name__}, not a callable")
    return target  # type: ignore[no-any-return]


def given_or_configured(
    function: Callable[..., Any] | None, path: str, where: str
) -> Callable[..., Any]:
    """`function` if given, else the one config 'function' names (`path`); one of them must be."""
    if function is not None:
        return function
    if not path:
        raise BuildError(f"{where}: pass a function or set config 'function'")
    return import_callable(path, where)


def takes_context(function: Callable[..., Any], where: str) -> bool:
    """True when `function` is called as `f(context, event)`, False for `f(event)`.

    Decided once, from the signature: two required positional parameters (or one plus
    `*args`) mean `(context, event)`. Callables without a signature (some builtins) take
    just the event.
    """
    if inspect.iscoroutinefunction(function):
        raise BuildError(
            f"{where}: {function!r} is a coroutine function; processors are synchronous "
            "(use a Generator for work that awaits)"
        )
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(1 for p in positional if p.default is inspect.Parameter.empty)
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    if required > 2:
        raise BuildError(
            f"{where}: {function!r} needs {required} arguments; it must take (event) or "
            "(context, event)"
        )
    if required == 2 or variadic:
        return True
    if required == 1:
        return False
    if len(positional) >= 2:
        return True
    if len(positional) == 1:
        return False
    raise BuildError(f"{where}: {function!r} takes no positional argument; it must take (event)")


def as_event_function(function: Callable[..., Any], where: str) -> EventFunction:
    """`function` as a `(context, event)` callable; no wrapper when it already is one."""
    if takes_context(function, where):
        return function

    def call(context: dict[str, Any], event: Any) -> Any:
        return function(event)

    return call
