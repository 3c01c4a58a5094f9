"""Reducers: what a window computes over its events (count, sum, min, ..., or your own).

A reducer is four functions over an accumulator: `init()` makes an empty one, `add(acc, value)`
returns it with one more value, `merge(a, b)` joins two (session windows merge), `result(acc)`
is what the output event carries. Accumulators are plain data (numbers, lists, dicts), so that
window state can be checkpointed. The built-in reducers also give a code template each, which
the window compiles into its batch loop, so that counting costs what a dict increment costs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pump.errors import ConfigError

# A value a First/Last reducer gets on the generic path: (event time, value).
Timed = tuple[float, Any]


class Reducer:
    """Base of reducers: override `init`, `add`, `merge` and `result` (and set `field`).

    `field` names the event field whose value is reduced; None gives `add` the whole event.
    """

    #: The name in `reduce:` mappings (`sum`, `count`, ...); custom reducers need none.
    name: ClassVar[str] = ""
    #: True when `add` gets (event time, value) instead of the value (first, last).
    timed: ClassVar[bool] = False
    #: Compiled path: the accumulator after the first value `v` (time `t`), an expression.
    first_code: str | None = None
    #: Compiled path: statement(s) adding `v` (time `t`) to the accumulator `{a}`.
    add_code: str | None = None
    #: Compiled path for a run of events in one window: statement(s) computing `x` from the
    #: values `vs` (a list) and `{a}`; they may raise but change nothing (None: no such path).
    run_code: str | None = None
    #: ... and statement(s) storing `x` in `{a}`, which cannot fail.
    store_code: str = "{a} = x"
    #: True when adding needs no value (count): the field is not read.
    needs_value: ClassVar[bool] = True

    def __init__(self, field: str | None = None) -> None:
        self.field = field

    def init(self) -> Any:
        """An empty accumulator."""
        raise NotImplementedError

    def add(self, acc: Any, value: Any) -> Any:
        """The accumulator with `value` added (may be `acc` itself, changed)."""
        raise NotImplementedError

    def merge(self, a: Any, b: Any) -> Any:
        """The accumulator of both `a` and `b` (`a` holds the earlier events)."""
        raise NotImplementedError

    def result(self, acc: Any) -> Any:
        """The value the output event carries."""
        return acc

    def params(self) -> dict[str, Any]:
        """Settings beyond `field`, for messages and equality."""
        return {}

    def __repr__(self) -> str:
        args = [repr(self.field)] if self.field is not None else []
        args += [f"{k}={v!r}" for k, v in self.params().items()]
        return f"{type(self).__name__}({', '.join(args)})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.field == self.field
            and other.params() == self.params()
        )

    __hash__ = None  # type: ignore[assignment]


class Count(Reducer):
    """The number of events."""

    name = "count"
    needs_value = False
    first_code = "1"
    add_code = "{a} += 1"
    run_code = "x = {a} + len(vs)"

    def init(self) -> int:
        return 0

    def add(self, acc: int, value: Any) -> int:
        return acc + 1

    def merge(self, a: int, b: int) -> int:
        return a + b


class Sum(Reducer):
    """The sum of a field's values."""

    name = "sum"
    first_code = "v"
    add_code = "{a} += v"
    run_code = "x = reduce(add, vs, {a})"  # left to right, as one by one (sum() may not)

    def init(self) -> Any:
        return 0

    def add(self, acc: Any, value: Any) -> Any:
        return acc + value

    def merge(self, a: Any, b: Any) -> Any:
        return a + b


class Min(Reducer):
    """The smallest value (None for a window without values)."""

    name = "min"
    first_code = "v"
    add_code = "if v < {a}: {a} = v"
    run_code = "x = min(chain(({a},), vs))"  # the accumulator first: ties and NaN as one by one

    def init(self) -> Any:
        return None

    def add(self, acc: Any, value: Any) -> Any:
        return value if acc is None or value < acc else acc

    def merge(self, a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else min(a, b)


class Max(Reducer):
    """The largest value."""

    name = "max"
    first_code = "v"
    add_code = "if v > {a}: {a} = v"
    run_code = "x = max(chain(({a},), vs))"

    def init(self) -> Any:
        return None

    def add(self, acc: Any, value: Any) -> Any:
        return value if acc is None or value > acc else acc

    def merge(self, a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else max(a, b)


class Mean(Reducer):
    """The arithmetic mean (the accumulator is [sum, count])."""

    name = "mean"
    first_code = "[v, 1]"
    add_code = "m = {a}\nm[0] += v\nm[1] += 1"
    run_code = "x = reduce(add, vs, {a}[0])"
    store_code = "m = {a}\nm[0] = x\nm[1] += len(vs)"

    def init(self) -> list[Any]:
        return [0, 0]

    def add(self, acc: list[Any], value: Any) -> list[Any]:
        acc[0] += value
        acc[1] += 1
        return acc

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        return [a[0] + b[0], a[1] + b[1]]

    def result(self, acc: list[Any]) -> Any:
        return acc[0] / acc[1] if acc[1] else None


class First(Reducer):
    """The value of the earliest event by event time (of equal times, the first to arrive)."""

    name = "first"
    timed = True
    first_code = "[t, v]"
    add_code = "if t < {a}[0]: {a} = [t, v]"

    def init(self) -> list[Any] | None:
        return None

    def add(self, acc: list[Any] | None, value: Timed) -> list[Any]:
        t, v = value
        return [t, v] if acc is None or t < acc[0] else acc

    def merge(self, a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
        if a is None or b is None:
            return b if a is None else a
        return b if b[0] < a[0] else a

    def result(self, acc: list[Any] | None) -> Any:
        return None if acc is None else acc[1]


class Last(Reducer):
    """The value of the latest event by event time (of equal times, the last to arrive)."""

    name = "last"
    timed = True
    first_code = "[t, v]"
    add_code = "if t >= {a}[0]: {a} = [t, v]"

    def init(self) -> list[Any] | None:
        return None

    def add(self, acc: list[Any] | None, value: Timed) -> list[Any]:
        t, v = value
        return [t, v] if acc is None or t >= acc[0] else acc

    def merge(self, a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
        if a is None or b is None:
            return b if a is None else a
        return b if b[0] >= a[0] else a

    def result(self, acc: list[Any] | None) -> Any:
        return None if acc is None else acc[1]


class Collect(Reducer):
    """The values in arrival order, at most `limit` of them (the first that came)."""

    name = "collect"

    def __init__(self, field: str | None = None, limit: int = 1000) -> None:
        super().__init__(field)
        if limit < 1:
            raise ValueError(f"collect: limit must be at least 1, got {limit}")
        self.limit = limit
        self.first_code = "[v]"
        n = int(limit)  # code is compiled from it
        self.add_code = f"if len({{a}}) < {n}: {{a}}.append(v)"
        self.run_code = "x = None"
        self.store_code = f"c = {{a}}\nif len(c) < {n}: c.extend(vs[: {n} - len(c)])"

    def params(self) -> dict[str, Any]:
        return {"limit": self.limit}

    def init(self) -> list[Any]:
        return []

    def add(self, acc: list[Any], value: Any) -> list[Any]:
        if len(acc) < self.limit:
            acc.append(value)
        return acc

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        return (a + b)[: self.limit]


class Distinct(Reducer):
    """The number of distinct values (exact: the values are kept until the window closes)."""

    name = "distinct"
    first_code = "{v: None}"
    add_code = "{a}[v] = None"
    run_code = "x = dict.fromkeys(vs)"
    store_code = "{a}.update(x)"

    # a dict rather than a set: plain data that any checkpoint encoding keeps, in arrival order
    def init(self) -> dict[Any, None]:
        return {}

    def add(self, acc: dict[Any, None], value: Any) -> dict[Any, None]:
        acc[value] = None
        return acc

    def merge(self, a: dict[Any, None], b: dict[Any, None]) -> dict[Any, None]:
        return {**a, **b}

    def result(self, acc: dict[Any, None]) -> int:
        return len(acc)


class Histogram(Reducer):
    """How often each value came: {value: count}, in order of first arrival."""

    name = "histogram"
    first_code = "{v: 1}"
    add_code = "c = {a}\nc[v] = c.get(v, 0) + 1"
    run_code = "x = Counter(vs)"  # in order of first arrival, as the accumulator
    store_code = "add_counts({a}, x)"

    def init(self) -> dict[Any, int]:
        return {}

    def add(self, acc: dict[Any, int], value: Any) -> dict[Any, int]:
        acc[value] = acc.get(value, 0) + 1
        return acc

    def merge(self, a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
        out = dict(a)
        for value, n in b.items():
            out[value] = out.get(value, 0) + n
        return out


class Top(Histogram):
    """The most frequent value (of equally frequent ones, the first seen): the histogram's
    peak."""

    name = "top"

    def result(self, acc: dict[Any, int]) -> Any:
        return max(acc, key=acc.__getitem__) if acc else None


class ReduceFunction(Reducer):
    """A two-argument function folded over the values: `function(acc, value)`; the first value
    starts the fold. Session windows merge with `function(a, b)`: right for sum-, min- or
    max-like functions (associative, with values and results of one kind)."""

    name = "function"

    def __init__(self, function: Callable[[Any, Any], Any], field: str | None = None) -> None:
        super().__init__(field)
        self.function = function

    def params(self) -> dict[str, Any]:
        return {"function": self.function}

    # the accumulator is [] before the first value, [value] after: plain data, no sentinel
    def init(self) -> list[Any]:
        return []

    def add(self, acc: list[Any], value: Any) -> list[Any]:
        return [self.function(acc[0], value)] if acc else [value]

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        if not a or not b:
            return a if a else b
        return [self.function(a[0], b[0])]

    def result(self, acc: list[Any]) -> Any:
        return acc[0] if acc else None


BUILTIN: dict[str, type[Reducer]] = {
    r.name: r for r in (Count, Sum, Min, Max, Mean, First, Last, Collect, Distinct, Top, Histogram)
}
ALIASES = {"avg": "mean", "distinct_count": "distinct", "most_common": "top"}


def import_object(path: str, what: str) -> Any:
    """`module:name` → the object; ValueError naming `what` if it cannot be imported."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"{what} {path!r} is not of the form 'module:name'")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{what} {path!r} cannot be imported: {exc}") from None


def reducer(spec: Any, output: str) -> Reducer:
    """One reducer from its `reduce:` entry: `true` (count), a name (of the output's own
    field), `{NAME: FIELD, ...settings}`, `{function: "mod:f", field: F}`,
    `{class: "mod:Class", field: F, ...}`, a Reducer instance or a two-argument function."""
    if isinstance(spec, Reducer):
        return spec
    if spec is True:
        if output != "count":
            raise ValueError("`true` means count; write `count: true` or `NAME: count`")
        return Count()
    if isinstance(spec, str):
        name = ALIASES.get(spec, spec)
        if name not in BUILTIN:
            raise ValueError(
                f"unknown reducer {spec!r} (reducers: {', '.join(BUILTIN)}, "
                f"or {{function: 'module:function'}} / {{class: 'module:Class'}})"
            )
        return BUILTIN[name]() if name == "count" else BUILTIN[name](output)
    if callable(spec):
        return ReduceFunction(spec, output)
    if isinstance(spec, Mapping):
        settings = dict(spec)
        if "function" in settings:
            function = settings.pop("function")
            if isinstance(function, str):
                function = import_object(function, "reduce function")
            field = settings.pop("field", output)
            if settings:
                raise ValueError(f"unknown settings {sorted(settings)} of a reduce function")
            return ReduceFunction(function, field)
        if "class" in settings:
            cls = settings.pop("class")
            if isinstance(cls, str):
                cls = import_object(cls, "reducer class")
            if not (isinstance(cls, type) and issubclass(cls, Reducer)):
                raise ValueError(f"{cls!r} is not a subclass of pump.windows.Reducer")
            settings.setdefault("field", output)
            return cls(**settings)
        names = [k for k in settings if ALIASES.get(k, k) in BUILTIN]
        if len(names) != 1:
            raise ValueError(
                "a reducer mapping names one reducer, as {sum: FIELD} or {collect: FIELD, "
                f"limit: 10}}; got keys {sorted(settings)}"
            )
        key = names[0]
        field = settings.pop(key)
        cls = BUILTIN[ALIASES.get(key, key)]
        if cls is Count:
            if settings:
                raise ValueError(f"count takes no settings, got {sorted(settings)}")
            return Count()
        if not isinstance(field, str):
            raise ValueError(f"{key}: the field must be a name, got {field!r}")
        try:
            return cls(field, **settings)
        except TypeError:
            raise ValueError(f"unknown settings {sorted(settings)} of {key}") from None
    raise ValueError(f"cannot make a reducer of {spec!r}")


def reducers(spec: Any) -> dict[str, Reducer]:
    """The `reduce:` setting (a mapping of output name → reducer, or one reducer name) as
    reducers; ConfigError-ready ValueError naming the output if an entry is wrong."""
    if isinstance(spec, str):
        spec = {spec if ALIASES.get(spec, spec) == "count" else "value": spec}
    elif isinstance(spec, Reducer) or callable(spec):
        spec = {"value": spec}
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"reduce must be a mapping of output name to reducer, got {spec!r}")
    out: dict[str, Reducer] = {}
    for output, entry in spec.items():
        try:
            out[str(output)] = reducer(entry, str(output))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"reduce '{output}': {exc}") from None
    return out


def check_reducers(where: str, spec: Any) -> dict[str, Reducer]:
    """`reducers(spec)`, raising ConfigError at `where` for the key `reduce`."""
    try:
        return reducers(spec)
    except ValueError as exc:
        raise ConfigError(where, [f"key 'reduce': {exc}"]) from None
