"""pump.testing's pytest plugin runs async tests when pytest-asyncio is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ASYNC_TESTS = """
import asyncio
import pytest

@pytest.fixture
async def resource():
    return 1

async def test_runs_on_a_loop():
    await asyncio.sleep(0)
    assert asyncio.get_running_loop().is_running()

@pytest.mark.asyncio
async def test_marked_and_failing():
    await asyncio.sleep(0)
    assert 1 == 2

async def test_wants_an_async_fixture(resource):
    pass

def test_plain():
    pass
"""

CONTRACTS = Path(__file__).resolve().parents[4] / "tests" / "author_kit" / "memory_contracts.py"


def test_async_tests_run_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_async=ASYNC_TESTS)
    result = pytester.runpytest("-p", "no:asyncio", "--strict-markers")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 2 and outcomes["failed"] >= 1, outcomes
    result.stdout.fnmatch_lines(["*assert 1 == 2*"])
    # An async fixture is refused with a message naming it: by pytest itself (8.4+, an error
    # at setup) or by the plugin (a failure), never handed to the test as a coroutine.
    assert outcomes["failed"] + outcomes.get("errors", 0) == 2, outcomes
    result.stdout.re_match_lines([r".*test_wants_an_async_fixture.*async fixture.*resource.*"])


def test_the_contract_suites_pass_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_contracts=CONTRACTS.read_text())
    result = pytester.runpytest("-p", "no:asyncio", "--strict-markers")
    result.assert_outcomes(passed=10, skipped=5)


def test_pytest_asyncio_runs_them_when_installed(pytester: pytest.Pytester) -> None:
    """With pytest-asyncio active the plugin steps aside (each test runs once, by it)."""
    pytest.importorskip("pytest_asyncio")
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_async=ASYNC_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, failed=1)
