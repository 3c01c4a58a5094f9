"""CSV dialect settings shared by the CSV source, sink and lookup: every `csv` option, typed."""

from __future__ import annotations

import csv
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pump.config import ComponentConfig

#: Config names of the `csv.QUOTE_*` constants (3.12 adds `strings` and `notnull`).
QUOTING: dict[str, int] = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
    "none": csv.QUOTE_NONE,
}
for _name in ("strings", "notnull"):
    if hasattr(csv, f"QUOTE_{_name.upper()}"):
        QUOTING[_name] = getattr(csv, f"QUOTE_{_name.upper()}")

Quoting = Literal["minimal", "all", "nonnumeric", "none", "strings", "notnull"]


class CSVDialectConfig(ComponentConfig):
    """The `csv` dialect: a named base dialect, each option overridable (None: the base's value)."""

    dialect: str = Field(
        "excel", description="Base dialect: excel, excel-tab, unix (csv.list_dialects())"
    )
    delimiter: str | None = Field(None, description="Field separator, one character")
    quotechar: str | None = Field(
        None, description="Quote character, one character ('' for none, with quoting: none)"
    )
    escapechar: str | None = Field(
        None, description="Escape character, one character ('' for none)"
    )
    doublequote: bool | None = Field(None, description="A quote inside a field is written twice")
    skipinitialspace: bool | None = Field(None, description="Ignore whitespace after a delimiter")
    lineterminator: str | None = Field(
        None, description="Line end written by sinks (readers accept \\n and \\r\\n)"
    )
    quoting: Quoting | None = Field(
        None, description="minimal, all, nonnumeric, none (strings, notnull on 3.12+)"
    )
    strict: bool | None = Field(None, description="Raise on malformed input instead of guessing")

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if value not in csv.list_dialects():
            raise ValueError(f"unknown dialect '{value}' (known: {', '.join(csv.list_dialects())})")
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"must be exactly one character, got {value!r}")
        return value

    @field_validator("quotechar", "escapechar")
    @classmethod
    def _one_character_or_none(cls, value: str | None) -> str | None:
        if value is not None and len(value) > 1:
            raise ValueError(f"must be one character or '' (none), got {value!r}")
        return value

    @field_validator("quoting")
    @classmethod
    def _supported_quoting(cls, value: str | None) -> str | None:
        if value is not None and value not in QUOTING:
            raise ValueError(
                f"quoting '{value}' needs a newer Python (known: {', '.join(QUOTING)})"
            )
        return value

    @model_validator(mode="after")
    def _valid_dialect(self) -> CSVDialectConfig:
        try:
            csv.reader([], **csv_options(self))
            csv.writer(_Discard(), **csv_options(self))
        except (TypeError, csv.Error) as exc:
            keys = [k for k in _OPTIONS if getattr(self, k) is not None] or ["dialect"]
            raise ValueError(
                f"the CSV options {', '.join(keys)} do not make a dialect: {exc}"
            ) from None
        return self


_OPTIONS = (
    "delimiter",
    "quotechar",
    "escapechar",
    "doublequote",
    "skipinitialspace",
    "lineterminator",
    "quoting",
    "strict",
)


class _Discard:
    def write(self, data: str) -> None:
        """Throw the row away (used to validate a dialect)."""


def csv_options(config: Any) -> dict[str, Any]:
    """Keyword arguments for `csv.reader`/`csv.writer` from a CSVDialectConfig."""
    options: dict[str, Any] = {"dialect": config.dialect}
    for key in _OPTIONS:
        value = getattr(config, key)
        if value is None:
            continue
        if key == "quoting":
            value = QUOTING[value]
        elif key in ("quotechar", "escapechar") and value == "":
            value = None
        options[key] = value
    return options
