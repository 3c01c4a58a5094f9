"""Normalising datetimes of events to UTC."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from pump.config import ComponentConfig
from pump.errors import ConfigError
from pump.processor import Processor

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline


class TimeZoneNormalizerConfig(ComponentConfig):
    """Settings of a TimeZoneNormalizer."""

    timezone: str = Field("UTC", description="IANA zone naive datetimes are in, e.g. Europe/Prague")
    fields: list[str] = Field(
        default_factory=list, description="Keys of the event whose datetimes are normalised"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value


class TimeZoneNormalizer(Processor):
    """Converts datetimes to UTC; naive ones are first read as local time of `timezone`.

    Set `fields` to the event keys holding datetimes, or subclass and call `normalize()`
    from your own `process()` (BSPump's way). Missing keys and None values are left alone;
    any other non-datetime value is an error. A naive time that a DST change makes
    ambiguous is read as the earlier of the two instants (`fold=0`).
    """

    ConfigModel = TimeZoneNormalizerConfig
    Config: TimeZoneNormalizerConfig

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        #: The zone naive datetimes are interpreted in.
        self.TimeZoneSource = ZoneInfo(self.Config["timezone"])
        self.Fields: list[str] = list(self.Config["fields"])
        if not self.Fields and type(self).process is TimeZoneNormalizer.process:
            raise ConfigError(
                self.location(),
                ["key 'fields': list the keys to normalise, or subclass and override process()"],
            )

    def normalize(self, local_time: datetime.datetime) -> datetime.datetime:
        """`local_time` in UTC; a naive one is taken to be in the configured zone."""
        if local_time.tzinfo is None:
            local_time = local_time.replace(tzinfo=self.TimeZoneSource)
        return local_time.astimezone(datetime.UTC)

    def process(self, context: dict[str, Any], event: Any) -> Any:
        """Normalise the configured fields of the event in place; return it."""
        for field in self.Fields:
            value = event.get(field)
            if value is None:
                continue
            if not isinstance(value, datetime.datetime):
                raise TypeError(
                    f"{self.location()}: field '{field}' is {type(value).__name__}, not a datetime"
                )
            event[field] = self.normalize(value)
        return event
