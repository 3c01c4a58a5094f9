"""PluginContract finds what is wrong with a distribution's entry points, naming each one."""

from __future__ import annotations

import pytest

from pump.plugins import Registry
from pump.testing import PluginContract

pytestmark = pytest.mark.usefixtures("fixture_dists")

NAMES = [
    ("source", "test.numbers"),
    ("source", "test.ticks"),
    ("source", "test.connected"),
    ("processor", "test.add"),
    ("processor", "test.fail"),
    ("processor", "test.shared"),
    ("sink", "test.jsonl"),
    ("sink", "test.secure"),
    ("connection", "test.conn"),
]


def contract(**attributes: object) -> PluginContract:
    registry = Registry(environ={})
    declared = {
        (kind, name): registry.load(kind, name) for kind, name in NAMES if name != "test.shared"
    }
    declared[("processor", "test.shared")] = object  # conflicting: it cannot be loaded
    suite = type(
        "Suite",
        (PluginContract,),
        {
            "distribution": "pump-test-plugins",
            "declared": declared,
            "namespace": "test",
            **attributes,
        },
    )
    return suite()


def failure(check) -> str:
    with pytest.raises(AssertionError) as caught:
        check()
    return str(caught.value).split("\nassert ")[0]  # the message, without pytest's explanation


def test_the_declared_set_must_match_exactly():
    contract().test_it_declares_exactly_these_entry_points()
    suite = contract()
    type(suite).declared = {k: v for k, v in suite.declared.items() if k[1] != "test.fail"}
    message = failure(suite.test_it_declares_exactly_these_entry_points)
    assert "declared but not expected: [('processor', 'test.fail')]" in message


def test_an_entry_point_claimed_by_two_distributions_does_not_load():
    message = failure(contract().test_every_entry_point_loads_its_class)
    assert message.startswith("processor 'test.shared' (object): ")
    assert "pump-test-plugins-conflict" in message
    assert message.count("\n") == 0  # the other entry points load


def test_nested_config_models_break_the_connector_shape():
    message = failure(contract().test_every_component_has_a_module_level_config_model)
    assert (
        "source 'test.numbers' (NumbersSource): ConfigModel NumbersSource.ConfigModel is nested"
        in message
    )
    assert (
        "declare it at module level as `class <Component>Config(pump.ComponentConfig)`" in message
    )


def test_descriptions_summaries_and_names_pass_for_a_well_kept_distribution():
    suite = contract()
    suite.test_every_config_key_is_described()
    suite.test_every_component_describes_itself()
    suite.test_every_name_is_namespaced_by_the_distribution()


def test_names_outside_the_namespace_are_reported():
    message = failure(contract(namespace="other").test_every_name_is_namespaced_by_the_distribution)
    assert (
        "sink 'test.jsonl' (JsonLinesSink): the name should be 'other' or 'other.<what>'" in message
    )
