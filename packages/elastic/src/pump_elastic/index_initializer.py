"""ElasticsearchIndexInitializer: makes sure index templates and indices exist before events flow.

Templates are composable index templates
(https://www.elastic.co/guide/en/elasticsearch/reference/current/index-templates.html); an
index is created with the create-index API when it does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from elasticsearch import ApiError
from pydantic import BaseModel, ConfigDict, Field

import pump
from pump_elastic.connection import ElasticsearchConnection
from pump_elastic.errors import ElasticsearchConnectorError

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)


class IndexTemplate(BaseModel):
    """One composable index template."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="Template name")
    index_patterns: list[str] = Field(..., min_length=1, description="Index names it applies to")
    mappings: dict[str, Any] = Field(default_factory=dict, description="Mappings of new indices")
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings of new indices")
    priority: int = Field(0, ge=0, description="Higher wins when patterns overlap")


class ElasticsearchIndexInitializerConfig(pump.ComponentConfig):
    """Settings of an ElasticsearchIndexInitializer."""

    templates: list[IndexTemplate] = Field(
        default_factory=list, description="Index templates to put (replaced when they exist)"
    )
    indices: list[str] = Field(
        default_factory=list, description="Indices to create when missing (templates apply)"
    )
    mappings: dict[str, Any] = Field(
        default_factory=dict, description="Mappings of the indices created from `indices`"
    )


class ElasticsearchIndexInitializer(pump.Processor):
    """Puts index templates and creates missing indices on start; passes events unchanged.

    Put it anywhere in the processors: components start before the sources read, so the sink
    writes into indices that already have their mappings. `await initializer.initialize()` does
    the same on demand.
    """

    ConfigModel = ElasticsearchIndexInitializerConfig
    Config: ElasticsearchIndexInitializerConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        connection: ElasticsearchConnection | str,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, ElasticsearchConnection, where=self)
        self.created: list[str] = []

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Pass the event on unchanged."""
        return event

    async def start(self) -> None:
        """Put the templates and create the indices."""
        await self.initialize()

    async def initialize(self) -> list[str]:
        """Put every template and create the missing indices; returns the indices created."""
        cfg = self.Config
        where = self.location()
        api = self.Connection.api
        try:
            for t in cfg.templates:
                body: dict[str, Any] = {"mappings": t.mappings, "settings": t.settings}
                await api(
                    "indices.put_index_template",
                    name=t.name,
                    index_patterns=t.index_patterns,
                    template=body,
                    priority=t.priority,
                    where=where,
                )
            created = []
            for index in cfg.indices:
                exists = await api("indices.exists", index=index, where=where)
                if exists:
                    continue
                try:
                    await api(
                        "indices.create", index=index, mappings=cfg.mappings or None, where=where
                    )
                except ApiError as exc:
                    if exc.meta.status == 400 and "already_exists" in str(exc.message):
                        continue  # created meanwhile by someone else: fine
                    raise
                created.append(index)
        except ApiError as exc:
            raise ElasticsearchConnectorError(
                f"{where}: initializing failed: {self.Connection.explain(exc)}"
            ) from None
        if created:
            L.info("%s: created index(es) %s", where, ", ".join(created))
        self.created.extend(created)
        return created
