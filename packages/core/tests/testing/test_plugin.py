"""The pytest plugin: the `service` marker, PUMP_REQUIRE_SERVICES, service lookup, fixtures."""

from __future__ import annotations

import socket

import pytest

from pump.testing import require_service, service_address, services_required

pytest_plugins = ["pytester"]

SERVICE_TESTS = """
import pytest
from pump.testing import require_service

@pytest.fixture
def kafka():
    require_service("kafka", "nothing at localhost:1")

def test_needs_kafka(kafka):
    pass

@pytest.mark.service
def test_marked_and_skipped_by_hand():
    pytest.skip("no broker")

@pytest.mark.service
@pytest.mark.xfail(reason="known broken")
def test_marked_xfail():
    assert False

def test_unmarked_skip():
    pytest.skip("unrelated")

@pytest.mark.service
def test_marked_and_running():
    pass
"""


@pytest.fixture
def inner(pytester):
    """A pytester run configured like the project (asyncio auto mode)."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def test_service_marker_is_registered(inner):
    result = inner.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.service:*PUMP_REQUIRE_SERVICES*"])


def test_missing_services_skip_by_default(inner, monkeypatch):
    monkeypatch.delenv("PUMP_REQUIRE_SERVICES", raising=False)
    inner.makepyfile(SERVICE_TESTS)
    result = inner.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["*service 'kafka' is not available: nothing at localhost:1*"])


def test_missing_services_fail_when_required(inner, monkeypatch):
    monkeypatch.setenv("PUMP_REQUIRE_SERVICES", "1")
    inner.makepyfile(SERVICE_TESTS)
    result = inner.runpytest()
    # The fixture's require_service errors the test; the marked skip becomes a failure;
    # xfail and unmarked skips are left alone.
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*PUMP_REQUIRE_SERVICES=1 makes a missing service a failure*"])
    result.stdout.fnmatch_lines(["*service test skipped while PUMP_REQUIRE_SERVICES=1*no broker*"])


@pytest.mark.parametrize(
    ("value", "required"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_services_required_reads_the_environment(monkeypatch, value, required):
    monkeypatch.setenv("PUMP_REQUIRE_SERVICES", value)
    assert services_required() is required


def test_require_service_skips_or_fails(monkeypatch):
    monkeypatch.delenv("PUMP_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="'mysql' is not available: down"):
        require_service("mysql", "down")
    monkeypatch.setenv("PUMP_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="'mysql' is not available"):
        require_service("mysql", "down")


def test_service_address_prefers_the_environment(monkeypatch):
    monkeypatch.setenv("PUMP_TEST_ADDRESS", "10.0.0.1:1234")
    assert service_address("thing", "PUMP_TEST_ADDRESS", "127.0.0.1:1") == "10.0.0.1:1234"


def test_service_address_probes_the_default(monkeypatch):
    monkeypatch.delenv("PUMP_TEST_ADDRESS", raising=False)
    monkeypatch.delenv("PUMP_REQUIRE_SERVICES", raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        address = f"http://127.0.0.1:{port}/path"
        assert service_address("thing", "PUMP_TEST_ADDRESS", address) == address
    with pytest.raises(pytest.skip.Exception, match=r"nothing answers at 127\.0\.0\.1:"):
        service_address("thing", "PUMP_TEST_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(pytest.skip.Exception, match="set PUMP_TEST_ADDRESS"):
        service_address("thing", "PUMP_TEST_ADDRESS")
