"""An aggregate: the reducers of one window, applied together to an accumulator list."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from functools import reduce
from itertools import chain
from operator import add, itemgetter
from typing import Any

from pump.windows.reducers import Count, Reducer

_VALUE = re.compile(r"\bv\b")
_X = re.compile(r"\bx\b")
_VALUES = re.compile(r"\bvs\b")


def _add_counts(counts: dict[Any, int], more: Mapping[Any, int]) -> None:
    for value, n in more.items():
        counts[value] = counts.get(value, 0) + n


class Aggregate:
    """Reducers by output name; the window's state per key is one list, a slot per reducer."""

    def __init__(self, reducers: Mapping[str, Reducer]) -> None:
        if not reducers:
            raise ValueError("a window needs at least one reducer")
        self.names = list(reducers)
        self.reducers = list(reducers.values())

    # -- the generic path (sessions, tests, custom reducers) ----------------------------------

    def value(self, reducer: Reducer, event: Any, t: float) -> Any:
        """What `reducer.add` gets from `event` at time `t`."""
        v = event if reducer.field is None or not reducer.needs_value else event[reducer.field]
        return (t, v) if reducer.timed else v

    def first(self, event: Any, t: float) -> list[Any]:
        """The accumulators of a window holding only `event`."""
        return [r.add(r.init(), self.value(r, event, t)) for r in self.reducers]

    def read(self, event: Any, t: float) -> list[Any]:
        """What each reducer gets from `event` (raises before anything changed)."""
        return [self.value(r, event, t) for r in self.reducers]

    def apply(self, accs: list[Any], values: list[Any]) -> None:
        """Add values read by `read` to the accumulators."""
        for j, r in enumerate(self.reducers):
            accs[j] = r.add(accs[j], values[j])

    def add(self, accs: list[Any], event: Any, t: float) -> None:
        """Add `event` to the accumulators (values are read first: a missing field changes
        nothing)."""
        self.apply(accs, self.read(event, t))

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        """The accumulators of two windows joined (`a` the earlier)."""
        return [r.merge(x, y) for r, x, y in zip(self.reducers, a, b, strict=True)]

    def results(self, accs: list[Any]) -> dict[str, Any]:
        """Output name → result."""
        names, reducers = self.names, self.reducers
        return {name: r.result(acc) for name, r, acc in zip(names, reducers, accs, strict=True)}

    # -- the compiled path ----------------------------------------------------------------------

    def code(
        self, namespace: dict[str, Any], event: str = "ev"
    ) -> tuple[list[str], str, list[str]]:
        """Source for a compiled loop: (lines reading the values, the expression of a new
        window's accumulators, lines adding to `acc`); helpers go into `namespace`.

        Values are read before anything changes, and a count is added last, so an event that
        fails (a missing field, a value that cannot be added) leaves a window as it was
        unless two of its reducers could fail.
        """
        reads: list[str] = []
        firsts: list[str] = []
        adds: list[tuple[bool, list[str]]] = []
        for j, r in enumerate(self.reducers):
            v = f"v{j}"
            if r.needs_value:
                if r.field is None:
                    reads.append(f"{v} = {event}")
                else:
                    namespace[f"f{j}"] = r.field
                    reads.append(f"{v} = {event}[f{j}]")
            slot = f"acc[{j}]"
            if r.first_code is not None and r.add_code is not None:
                firsts.append(_VALUE.sub(v, r.first_code))
                lines = _VALUE.sub(v, r.add_code.format(a=slot)).split("\n")
            else:
                namespace[f"r{j}"] = r
                value = f"(t, {v})" if r.timed else (v if r.needs_value else "None")
                firsts.append(f"r{j}.add(r{j}.init(), {value})")
                lines = [f"{slot} = r{j}.add({slot}, {value})"]
            adds.append((isinstance(r, Count), lines))
        ordered = [line for _, lines in sorted(adds, key=lambda a: a[0]) for line in lines]
        return reads, "[" + ", ".join(firsts) + "]", ordered

    def run_code(self, namespace: dict[str, Any], run: str) -> tuple[list[str], list[str]] | None:
        """Source adding the events of the list `run` to `acc` at once: (lines reading their
        values and working out the new accumulators, which may raise but change nothing; lines
        storing them, which cannot fail). None when a reducer has no code for runs."""
        if any(r.run_code is None for r in self.reducers):
            return None
        namespace.update(Counter=Counter, chain=chain, reduce=reduce, add=add)
        namespace["add_counts"] = _add_counts
        work: list[str] = []
        store: list[str] = []
        for j, r in enumerate(self.reducers):
            assert r.run_code is not None
            values = run
            if r.needs_value and r.field is not None:
                values = f"vs{j}"
                namespace[f"g{j}"] = itemgetter(r.field)
                work.append(f"{values} = list(map(g{j}, {run}))")
            for code, out in ((r.run_code, work), (r.store_code, store)):
                code = _VALUES.sub(values, _X.sub(f"x{j}", code.format(a=f"acc[{j}]")))
                out += code.split("\n")
        return work, store

    def builder(self, keyed: bool, early: bool) -> Callable[..., None]:
        """A compiled `build(items, start, end, final, out)` appending an output event per
        (key, accumulators) of `items` to `out`: {key, start, end, <results>[, final]}."""
        ns: dict[str, Any] = {}
        fields = ['"key": k'] if keyed else []
        fields += ['"start": start', '"end": end']
        for j, (name, r) in enumerate(zip(self.names, self.reducers, strict=True)):
            ns[f"n{j}"] = name
            if type(r).result is Reducer.result:  # the accumulator is the result
                fields.append(f"n{j}: acc[{j}]")
            else:
                ns[f"r{j}"] = r.result
                fields.append(f"n{j}: r{j}(acc[{j}])")
        if early:
            fields.append('"final": final')
        source = (
            "def build(items, start, end, final, out):\n"
            "    for k, acc in items:\n"
            f"        out.append({{{', '.join(fields)}}})\n"
        )
        exec(compile(source, "<pump window output>", "exec"), ns)
        build: Callable[..., None] = ns["build"]
        return build
