"""The pytest plugin of pump.testing (entry point `pytest11: pump`): fixtures and the `service` marker.

Tests marked `service` need an external server. When one is missing they are skipped — unless
PUMP_REQUIRE_SERVICES=1 (CI), where any skip of such a test is turned into a failure, so a
service that silently went missing cannot make a run green.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from pump.application import Application
from pump.testing.services import REQUIRE_SERVICES, services_required
from pump.testing.testcase import Harness

SERVICE_MARKER = (
    "service: needs an external server (Kafka, RabbitMQ, MySQL, InfluxDB, ...); skipped when "
    f"the server is unavailable unless {REQUIRE_SERVICES}=1"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SERVICE_MARKER)


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
