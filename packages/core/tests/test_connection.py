"""Locating a typed connection: one way for every connector, with errors that say what to fix."""

from __future__ import annotations

import pytest
from pydantic import Field

import pump


class KafkaLike(pump.Connection):
    """A connection of one kind."""


class AMQPLike(pump.Connection):
    """A connection of another kind."""


class StrictConfig(pump.ComponentConfig):
    url: str = Field(..., description="Where")


class Strict(pump.Connection):
    """A connection with a required key."""

    ConfigModel = StrictConfig


class Reader(pump.Source):
    """A component asking for a KafkaLike connection."""

    def __init__(self, app, pipeline, connection, id=None, config=None):
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, KafkaLike, where=self)


def app_with_connections() -> pump.Application:
    app = pump.Application(args=[])
    app.add_connection(KafkaLike(app, "k1"))
    app.add_connection(KafkaLike(app, "k2"))
    app.add_connection(AMQPLike(app, "rabbit"))
    return app


def test_a_connection_is_found_by_id_or_given_itself_and_typed():
    app = app_with_connections()
    found = app.locate_connection("k2", KafkaLike)
    assert found is app.Connections["k2"] and isinstance(found, KafkaLike)
    assert app.locate_connection(found, KafkaLike) is found
    assert app.locate_connection("rabbit") is app.Connections["rabbit"]


def test_an_unknown_id_names_the_component_the_id_and_the_known_ids_of_that_kind():
    app = app_with_connections()
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.BuildError) as caught:
        Reader(app, pipeline, "k3", id="in")
    assert str(caught.value) == (
        "pipeline 'p' component 'in' (Reader): unknown connection 'k3' (known KafkaLikes: k1, k2)"
    )


def test_a_connection_of_another_kind_is_refused_saying_both_kinds():
    app = app_with_connections()
    with pytest.raises(pump.BuildError) as caught:
        app.locate_connection("rabbit", KafkaLike, where="sink 'out'")
    assert str(caught.value) == (
        "sink 'out': connection 'rabbit' is a AMQPLike, not a KafkaLike (known KafkaLikes: k1, k2)"
    )


def test_no_connection_given_says_which_kind_is_needed():
    app = app_with_connections()
    with pytest.raises(
        pump.BuildError, match=r"^source 'in': needs a connection: the id of a KafkaLike$"
    ):
        app.locate_connection("", KafkaLike, where="source 'in'")


def test_a_connection_whose_own_config_failed_is_named_with_its_problem():
    app = pump.Application(args=[])
    with pytest.raises(pump.ConfigError):
        Strict(app, "db", config={"uri": "typo"})
    with pytest.raises(pump.BuildError) as caught:
        app.locate_connection("db", Strict, where="source 'in'")
    message = str(caught.value)
    assert message.startswith("source 'in': connection 'db' could not be built: ")
    assert "key 'url': required key is missing" in message
    assert "key 'uri': unknown key" in message


def test_without_a_kind_the_message_lists_every_connection():
    app = app_with_connections()
    with pytest.raises(
        pump.BuildError, match=r"^unknown connection 'x' \(known: k1, k2, rabbit\)$"
    ):
        app.locate_connection("x")
