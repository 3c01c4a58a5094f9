"""`dir(pump)` and `dir(pump.testing)` show the public API, and `__all__` is what is exported."""

from __future__ import annotations

import importlib

import pump
import pump.testing


def test_dir_of_pump_shows_only_the_public_api():
    names = dir(pump)
    for leaked in ("Any", "TYPE_CHECKING", "importlib", "annotations"):
        assert leaked not in names
    public = [n for n in names if not n.startswith("_")]
    assert sorted(public) == sorted(
        {*pump.__all__, "common", "metrics", "socket", "state", "testing"}
    )
    assert "__version__" in names


def test_all_of_pump_matches_what_it_exports():
    assert len(pump.__all__) == len(set(pump.__all__))
    assert set(pump.__all__) == set(pump._EXPORTS)
    for name in pump.__all__:
        module = importlib.import_module(pump._EXPORTS[name])
        assert getattr(pump, name) is getattr(module, name), name


def test_star_import_gives_exactly_all():
    namespace: dict[str, object] = {}
    exec("from pump import *", namespace)
    assert {k for k in namespace if k != "__builtins__"} == set(pump.__all__)


def test_dir_of_pump_testing_shows_the_contract_suites():
    names = dir(pump.testing)
    for suite in ("SourceContract", "SinkContract", "LookupContract"):
        assert suite in names
    assert {n for n in names if not n.startswith("_")} == set(pump.testing.__all__)
    for name in pump.testing.__all__:
        assert getattr(pump.testing, name) is not None, name
