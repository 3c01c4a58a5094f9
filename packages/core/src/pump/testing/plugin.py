"""The pytest plugin of pump.testing (entry point `pytest11: pump`): fixtures, markers, async tests.

Tests marked `service` need an external server. When one is missing they are skipped — unless
PUMP_REQUIRE_SERVICES=1 (CI), where any skip of such a test is turned into a failure, so a
service that silently went missing cannot make a run green.

`async def` tests (the contract suites are such tests) run without pytest-asyncio: each on a
fresh event loop (`asyncio.run`). When pytest-asyncio is installed it runs them instead, and
async fixtures need it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Generator, Iterator

import pytest

from pump.application import Application
from pump.testing.services import REQUIRE_SERVICES, services_required
from pump.testing.testcase import Harness

SERVICE_MARKER = (
    "service: needs an external server (Kafka, RabbitMQ, MySQL, InfluxDB, ...); skipped when "
    f"the server is unavailable unless {REQUIRE_SERVICES}=1"
)


ASYNCIO_MARKER = (
    "asyncio: an async test, run on a fresh event loop (by pytest-asyncio when installed, "
    "else by pump.testing)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SERVICE_MARKER)
    if not _pytest_asyncio(config):
        config.addinivalue_line("markers", ASYNCIO_MARKER)


def _pytest_asyncio(config: pytest.Config) -> bool:
    """True when pytest-asyncio is active (its plugin registers as `asyncio`)."""
    return config.pluginmanager.hasplugin("asyncio")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an `async def` test with `asyncio.run` when pytest-asyncio is not there to do it."""
    if _pytest_asyncio(pyfuncitem.config) or not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    arguments = {name: pyfuncitem.funcargs[name] for name in names}
    unawaited = [
        name
        for name, value in arguments.items()
        if inspect.iscoroutine(value) or inspect.isasyncgen(value)
    ]
    if unawaited:
        for name in unawaited:
            value = arguments[name]
            if inspect.iscoroutine(value):
                value.close()  # never awaited: close it, so Python does not warn about it
        pytest.fail(
            f"{pyfuncitem.nodeid}: async fixtures {unawaited} need pytest-asyncio "
            "(pip install pytest-asyncio); pump.testing runs async tests, not async fixtures",
            pytrace=False,
        )
    asyncio.run(pyfuncitem.obj(**arguments))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("service") is not None
        and services_required()
    ):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"service test skipped while {REQUIRE_SERVICES}=1 requires its services: {reason}"
        )
    return report


@pytest.fixture
def pump_app() -> Application:
    """A fresh Application (not started; `exit_when_finished=False`)."""
    return Application(exit_when_finished=False)


@pytest.fixture
def pump_harness() -> Iterator[Harness]:
    """A Harness: `set_up_processor(...)`/`set_up_pipeline(...)`, then `run`/`arun`/`execute`."""
    harness = Harness()
    yield harness
    harness.close()


@pytest.fixture
def pump_services_required() -> bool:
    """True when missing services fail the run (PUMP_REQUIRE_SERVICES=1)."""
    return services_required()
