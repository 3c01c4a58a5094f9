"""KafkaTopicInitializer: creates the topics a pipeline needs before it starts consuming."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from pydantic import BaseModel, ConfigDict, Field

import pump
from pump_kafka.connection import KafkaConnection
from pump_kafka.errors import KafkaConnectorError

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)


class TopicSpec(BaseModel):
    """One topic to create; unset values come from the initializer's defaults."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="Topic name")
    partitions: int | None = Field(None, gt=0, description="Number of partitions")
    replication_factor: int | None = Field(None, gt=0, description="Copies of each partition")
    config: dict[str, str] = Field(
        default_factory=dict, description="Topic configs (retention.ms, ...)"
    )


class KafkaTopicInitializerConfig(pump.ComponentConfig):
    """Settings of a KafkaTopicInitializer."""

    topics: list[str | TopicSpec] = Field(
        default_factory=list,
        description="Topics to create when missing: names or {name, partitions, ...}",
    )
    partitions: int = Field(1, gt=0, description="Default number of partitions")
    replication_factor: int = Field(1, gt=0, description="Default replication factor")
    topic_config: dict[str, str] = Field(default_factory=dict, description="Default topic configs")


class KafkaTopicInitializer(pump.Processor):
    """Creates missing topics when the pipeline starts; passes every event through unchanged.

    Put it anywhere in the processors: components start before the sources fetch, so the
    source finds its topics. `await initializer.initialize()` does the same on demand.
    """

    ConfigModel = KafkaTopicInitializerConfig
    Config: KafkaTopicInitializerConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        connection: KafkaConnection | str,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, KafkaConnection, where=self)
        self.created: list[str] = []

    def specs(self) -> list[NewTopic]:
        """The topics to ensure, with defaults applied."""
        cfg = self.Config
        out = []
        for item in cfg.topics:
            spec = TopicSpec(name=item) if isinstance(item, str) else item
            out.append(
                NewTopic(
                    spec.name,
                    spec.partitions or cfg.partitions,
                    spec.replication_factor or cfg.replication_factor,
                    topic_configs={**cfg.topic_config, **spec.config},
                )
            )
        return out

    async def start(self) -> None:
        await self.initialize()

    async def initialize(self) -> list[str]:
        """Create the configured topics that do not exist yet; returns the names created."""
        wanted = self.specs()
        if not wanted:
            return []
        admin = self.Connection.create_admin()
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t.name not in existing]
            if not missing:
                return []
            response = await admin.create_topics(missing)
        except KafkaError as exc:
            raise KafkaConnectorError(f"{self.location()}: cannot create topics: {exc}") from exc
        finally:
            await admin.close()
        problems = []
        created = []
        for topic, code, message in _topic_errors(response):
            if code == 0:
                created.append(topic)
                continue
            error = for_code(code)
            if error is TopicAlreadyExistsError:
                continue  # created meanwhile by someone else: fine
            problems.append(f"{topic}: {error.__name__}{f' ({message})' if message else ''}")
        if problems:
            raise KafkaConnectorError(
                f"{self.location()}: creating topics failed: {'; '.join(problems)}"
            )
        if created:
            L.info("%s: created topic(s) %s", self.location(), ", ".join(created))
        self.created.extend(created)
        return created


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    out = []
    for item in response.topic_errors:
        topic, code = item[0], item[1]
        message = item[2] if len(item) > 2 else None
        out.append((topic, code, message))
    return out
