"""`pump plugins` and `pump describe` through subprocesses; secrets stay masked everywhere."""

from __future__ import annotations

import json
import textwrap


def test_plugins_json_lists_kind_name_distribution_version_and_status(pump_cli):
    result = pump_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_key = {(r["kind"], r["name"], r["distribution"]): r for r in rows}
    add = by_key[("processor", "test.add", "pump-test-plugins")]
    assert add == {
        "kind": "processor",
        "name": "test.add",
        "value": "pump_test_plugins:AddProcessor",
        "distribution": "pump-test-plugins",
        "version": "1.2.3",
        "status": "ok",
        "error": None,
    }
    assert by_key[("processor", "json.parse", "pump-core")]["status"] == "ok"
    broken = by_key[("processor", "test.broken", "pump-test-plugins-broken")]
    assert broken["status"] == "error" and "broken on purpose" in broken["error"]
    for dist in ("pump-test-plugins", "pump-test-plugins-conflict"):
        assert by_key[("processor", "test.shared", dist)]["status"] == "conflict"


def test_plugins_text_table(pump_cli):
    result = pump_cli("plugins", "--kind", "processors")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS"]
    assert any(
        line.split() == ["processor", "test.add", "pump-test-plugins", "1.2.3", "ok"]
        for line in lines
    )
    assert all(line.startswith(("processor", "    ↳", "KIND")) for line in lines)
    broken = lines.index(
        next(line for line in lines if line.split()[:2] == ["processor", "test.broken"])
    )
    assert "ImportError: pump-test-plugins-broken is broken on purpose" in lines[broken + 1]


def test_plugins_honours_the_deny_list(pump_cli):
    result = pump_cli("plugins", "--json", env={"PUMP_PLUGINS_DENY": "pump-test-plugins-broken"})
    rows = [r for r in json.loads(result.stdout) if r["distribution"] == "pump-test-plugins-broken"]
    assert {r["status"] for r in rows} == {"denied"}


def test_describe_prints_fields_with_type_default_and_description(pump_cli):
    result = pump_cli("describe", "test.numbers")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        "source 'test.numbers' — pump_test_plugins:NumbersSource (pump-test-plugins 1.2.3)" in out
    )
    # YAML first: where the component goes and its keys; the INI section only as a footnote
    assert "in YAML: pipelines.<pipeline>.source (or an item of its `sources` list): " in out
    assert "\n  keys:\n" in out and "[pipeline:<PipelineId>:<ComponentId>]" in out.splitlines()[-1]
    count = next(line for line in out.splitlines() if line.strip().startswith("count "))
    assert count.split()[:4] == ["count", "int", "default", "10"]
    assert "How many events (>= 0)" in count
    required = next(
        line
        for line in pump_cli("describe", "test.add").stdout.splitlines()
        if line.strip().startswith("amount")
    )
    assert "required" in required and "What to add" in required


def test_describe_a_name_of_two_kinds_and_a_kinded_name(pump_cli):
    both = pump_cli("describe", "print").stdout
    assert "processor 'print'" in both and "sink 'print'" in both
    only_sink = pump_cli("describe", "sink:print").stdout
    assert "sink 'print'" in only_sink and "processor 'print'" not in only_sink


def test_describe_masks_secrets(pump_cli):
    result = pump_cli("describe", "test.secure", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    fields = {f["name"]: f for f in info["fields"]}
    assert fields["password"]["secret"] and fields["password"]["required"]
    assert fields["api_key"]["secret"] and fields["api_key"]["default"] == "*****"
    assert fields["pin"]["secret"]
    assert not fields["label"]["secret"] and fields["label"]["default"] == "secure"
    text = pump_cli("describe", "test.secure").stdout
    assert "default-key-value" not in text and "default-key-value" not in result.stdout
    assert '"*****"' in text and "secret" in text
    assert "(secret) (secret)" not in text


def test_describe_unknown_conflicting_and_broken_names(pump_cli):
    unknown = pump_cli("describe", "json.prase")
    assert unknown.returncode == 2
    assert "unknown component type 'json.prase'; did you mean 'json.parse'" in unknown.stderr
    assert pump_cli("describe", "widget:x").returncode == 2
    conflict = pump_cli("describe", "test.shared")
    assert conflict.returncode == 1
    assert (
        "pump-test-plugins 1.2.3" in conflict.stderr
        and "pump-test-plugins-conflict 0.0.1" in conflict.stderr
    )
    broken = pump_cli("describe", "test.broken")
    assert broken.returncode == 1 and "broken on purpose" in broken.stderr


def test_secrets_never_reach_logs_errors_or_the_summary(pump_cli, tmp_path):
    (tmp_path / "pipeline.yaml").write_text(
        textwrap.dedent(
            """
            connections:
              db: {type: test.conn, url: "mem://x", password: "${DB_PASSWORD}"}
            pipelines:
              p:
                source: {type: test.connected, connection: db}
                sink: {type: test.secure, password: "hunter2-password", api_key: "${API_KEY}"}
            """
        )
    )
    env = {"DB_PASSWORD": "db-pw-value", "API_KEY": "api-key-value"}
    result = pump_cli("run", "pipeline.yaml", "--log-level", "DEBUG", env=env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "started with" in output and "connecting with" in output  # the configs were logged
    assert "masked config" in output
    for secret in ("hunter2-password", "api-key-value", "db-pw-value"):
        assert secret not in output
    assert "*****" in output

    (tmp_path / "bad.yaml").write_text(
        "pipelines:\n  p:\n    source: {type: test.numbers}\n"
        '    sink: {type: test.secure, password: "pw-in-error", pin: "pin-in-error"}\n'
    )
    invalid = pump_cli("validate", "bad.yaml")
    assert invalid.returncode == 2
    assert "key 'pin'" in invalid.stderr and "(got '*****')" in invalid.stderr
    assert "pin-in-error" not in invalid.stderr and "pw-in-error" not in invalid.stderr


def test_describe_shows_a_secret_once_and_an_empty_one_as_empty(pump_cli):
    text = pump_cli("describe", "connection:kafka").stdout
    password = next(line for line in text.splitlines() if line.strip().startswith("sasl_password"))
    assert "(secret) (secret)" not in password and password.count("secret") == 1
    assert 'default ""' in password and "*****" not in password


def test_describe_masks_only_the_credentials_of_a_url(pump_cli):
    text = pump_cli("describe", "connection:amqp").stdout
    url = next(line for line in text.splitlines() if line.strip().startswith("url "))
    assert 'default "amqp://guest:*****@localhost:5672/"' in url
    assert "guest@" not in text.replace("guest:*****@", "")


def test_describe_pipeline_lists_the_pipeline_keys(pump_cli):
    result = pump_cli("describe", "pipeline")
    assert result.returncode == 0, result.stderr
    keys = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")}
    assert {
        "source",
        "sources",
        "processors",
        "sink",
        "on_error",
        "max_in_flight",
        "sink_retries",
        "retry_backoff",
        "drain_timeout",
    } <= keys
    assert "in YAML: pipelines.<id>:" in result.stdout
    assert "dead_letter: {type: <sink type>" in result.stdout


def test_describe_markdown_prints_a_table(pump_cli):
    result = pump_cli("describe", "test.numbers", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "### source `test.numbers` (`pump_test_plugins:NumbersSource`)"
    assert "| key | type | default | description |" in lines
    count = next(line for line in lines if line.startswith("| `count` "))
    assert count.startswith("| `count` | `int` | `10` | How many events (>= 0)")
    as_json = json.loads(pump_cli("describe", "test.numbers", "--format", "json").stdout)
    assert as_json["kind"] == "source" and as_json["place"].startswith("pipelines.<pipeline>")
