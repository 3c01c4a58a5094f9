"""What a component type accepts: its keys (type, default, description, examples), as text,
JSON or a Markdown table.

Used by `pump describe NAME` and by the config reference tables in the READMEs
(`pump.configref`): both render the same rows with `render_markdown_table`. Secrets (SecretStr
fields, or fields marked `json_schema_extra={"secret": True}`) never show their value: an empty
one shows as empty, a URL keeps all but its credentials, anything else is masked.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from pump.config import Configurable, is_advanced, is_secret, mask_secret

#: Where a kind's component goes in a YAML file.
PLACES: dict[str, str] = {
    "source": "pipelines.<pipeline>.source (or an item of its `sources` list)",
    "processor": "an item of pipelines.<pipeline>.processors",
    "sink": "pipelines.<pipeline>.sink (or its on_error.dead_letter)",
    "connection": "connections.<id>",
    "lookup": "lookups.<id>",
    "trigger": "a trigger source's `trigger` (or an item of its `triggers` list)",
    "pipeline": "pipelines.<id>",
}

#: The BSPump config file section of a kind (None: the kind has none).
SECTIONS: dict[str, str | None] = {
    "source": "pipeline:<PipelineId>:<ComponentId>",
    "processor": "pipeline:<PipelineId>:<ComponentId>",
    "sink": "pipeline:<PipelineId>:<ComponentId>",
    "connection": "connection:<Id>",
    "lookup": "lookup:<Id>",
    "trigger": None,
    "pipeline": "pipeline:<PipelineId>",
}

#: Constructor parameters that are never YAML keys.
_NOT_ARGUMENTS = frozenset({"self", "app", "pipeline", "id", "config"})

#: What a constructor argument means when its name says it (the builder resolves these ids).
_ARGUMENT_DESCRIPTIONS = {
    "connection": "Id of a connection declared under `connections:`",
    "lookup": "Id of a lookup declared under `lookups:`",
}

#: Keys of a pipeline besides its settings (read by the YAML builder).
_PIPELINE_STRUCTURE: list[tuple[str, str, bool, str]] = [
    ("source", "mapping", False, "The source: {type: <source type>, ...} (or give `sources`)"),
    ("sources", "list", False, "Several sources feeding the pipeline, instead of `source`"),
    ("processors", "list", False, "The processors, in order: each {type: ..., ...}"),
    ("sink", "mapping", True, "The sink the pipeline ends in: {type: <sink type>, ...}"),
]
_ON_ERROR_YAML = (
    "; or a mapping {policy: ..., dead_letter: {type: <sink type>, ...}}: "
    "a `dead_letter` sink alone means policy dead_letter"
)


def type_name(annotation: Any) -> str:
    """A short readable name of a type annotation: `int`, `str | None`, `'stop' | 'skip'`."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Any:
        return "any"
    if annotation is SecretStr:
        return "str"
    if isinstance(annotation, str):
        return annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{inner}]" if inner else name
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _constraints(metadata: list[Any]) -> str:
    symbols = {
        "gt": ">",
        "ge": ">=",
        "lt": "<",
        "le": "<=",
        "min_length": "min length",
        "max_length": "max length",
        "multiple_of": "multiple of",
    }
    parts = []
    for item in metadata:
        for attribute, symbol in symbols.items():
            value = getattr(item, attribute, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


def _default(field: Any) -> Any:
    if field.default_factory is not None:
        try:
            return field.default_factory()
        except TypeError:  # a factory of the validated data: nothing to show
            return "<computed>"
    return None if field.default is PydanticUndefined else field.default


def config_fields(model: type[BaseModel], exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One dict per config field: name, type, required, default, description, examples, flags."""
    skip = set(exclude)
    rows = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        secret = is_secret(model, name)
        required = field.is_required()
        default = None if required else _default(field)
        examples = list(field.examples or [])
        if secret:
            default = mask_secret(default)
            examples = [mask_secret(e) for e in examples]
        rows.append(
            {
                "name": field.alias or name,
                "type": type_name(field.annotation),
                "required": required,
                "default": default,
                "description": field.description or "",
                "constraints": _constraints(field.metadata),
                "examples": examples,
                "secret": secret,
                "advanced": is_advanced(model, name),
            }
        )
    return rows


def constructor_arguments(cls: type, skip: set[str] | None = None) -> list[dict[str, Any]]:
    """Constructor parameters a declarative spec may set, except config fields and builder ones."""
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    rows: list[dict[str, Any]] = []
    for name, p in parameters.items():
        if p.kind not in kinds or name in _NOT_ARGUMENTS or name in (skip or set()):
            continue
        required = p.default is inspect.Parameter.empty
        rows.append(
            {
                "name": name,
                "type": type_name(p.annotation) if p.annotation is not p.empty else "any",
                "required": required,
                "default": None if required else p.default,
                "description": _ARGUMENT_DESCRIPTIONS.get(name, ""),
                "constraints": "",
                "examples": [],
                "secret": False,
                "advanced": False,
            }
        )
    return rows


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def describe_class(cls: type, kind: str, name: str, distribution: str = "") -> dict[str, Any]:
    """A JSON-friendly description of a component type (as `pump describe --json` prints it)."""
    fields: list[dict[str, Any]] = []
    declared: set[str] = set()
    if issubclass(cls, Configurable):
        fields = config_fields(cls.ConfigModel)
        declared = set(cls.ConfigModel.model_fields)
    names = {f["name"] for f in fields} | declared
    return {
        "kind": kind,
        "name": name,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "distribution": distribution,
        "summary": _summary(cls),
        "place": PLACES.get(kind),
        "section": SECTIONS.get(kind),
        "fields": fields,
        "arguments": constructor_arguments(cls, names),
    }


def describe_pipeline() -> dict[str, Any]:
    """The keys of a pipeline in YAML: its structure (source, processors, sink) and settings."""
    from pump.pipeline import Pipeline, PipelineConfig

    structure: list[dict[str, Any]] = [
        {
            "name": n,
            "type": t,
            "required": r,
            "default": None,
            "description": d,
            "constraints": "",
            "examples": [],
            "secret": False,
            "advanced": False,
            "no_default": True,
        }
        for n, t, r, d in _PIPELINE_STRUCTURE
    ]
    settings = config_fields(PipelineConfig)
    for row in settings:
        if row["name"] == "on_error":
            row["type"] += " | mapping"
            row["description"] += _ON_ERROR_YAML
    return {
        "kind": "pipeline",
        "name": "pipeline",
        "class": f"{Pipeline.__module__}:{Pipeline.__qualname__}",
        "distribution": "",
        "summary": "A pipeline: its sources, processors and sink, and the settings every "
        "pipeline has (other keys are a Pipeline subclass's own config).",
        "place": PLACES["pipeline"],
        "section": SECTIONS["pipeline"],
        "fields": [*structure, *settings],
        "arguments": [],
    }


def describe_model(model: type[BaseModel], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The keys of one config model (a part shared by several components), minus `exclude`."""
    return {
        "kind": "config",
        "name": model.__name__,
        "class": f"{model.__module__}:{model.__qualname__}",
        "distribution": "",
        "summary": _summary(model),
        "place": None,
        "section": None,
        "fields": config_fields(model, exclude),
        "arguments": [],
    }


# -- rendering ----------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A value as YAML (JSON being YAML) would write it: `"utf-8"`, `true`, `null`, `[]`."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _default_text(row: dict[str, Any]) -> str:
    if row["required"]:
        return "required"
    return "—" if row.get("no_default") else format_value(row["default"])


def _notes(row: dict[str, Any]) -> list[str]:
    description = row["description"].lower()
    notes = [row["constraints"]] if row["constraints"] else []
    if row["secret"] and "secret" not in description:
        notes.append("secret")
    if row.get("advanced"):
        notes.append("advanced")
    return notes


def _usage(info: dict[str, Any]) -> str:
    """`{type: kafka, topic: ...}`: the type and the required keys."""
    parts = [f"type: {info['name']}"] if info["kind"] not in ("pipeline", "config") else []
    rows = [*info["fields"], *info["arguments"]]
    parts += [f"{r['name']}: ..." for r in rows if r["required"]]
    return "{" + ", ".join([*parts, "..."]) + "}"


def render_text(info: dict[str, Any]) -> str:
    """The description as aligned plain text."""
    lines = [f"{info['kind']} '{info['name']}' — {info['class']}"]
    if info.get("distribution"):
        lines[0] += f" ({info['distribution']})"
    if info["summary"]:
        lines.append(f"  {info['summary']}")
    if info.get("place"):
        lines += ["", f"  in YAML: {info['place']}: {_usage(info)}"]
    for title, rows in (("keys", info["fields"]), ("arguments", info["arguments"])):
        heading = "keys:" if title == "keys" else "constructor arguments (also YAML keys):"
        if not rows:
            if title == "keys" and not info["arguments"]:
                lines += ["", "  " + heading, "    (none)"]
            continue
        if title == "arguments" and not info["fields"]:
            heading = "keys (constructor arguments):"
        lines += ["", "  " + heading]
        width_name = max(len(r["name"]) for r in rows)
        width_type = max(len(r["type"]) for r in rows)
        for r in rows:
            default = _default_text(r) if r["required"] else f"default {_default_text(r)}"
            notes = _notes(r)
            description = r["description"] + (f" ({'; '.join(notes)})" if notes else "")
            if r.get("examples"):
                description += f" e.g. {', '.join(format_value(e) for e in r['examples'])}"
            lines.append(
                f"    {r['name']:<{width_name}}  {r['type']:<{width_type}}  {default}"
                + (f"  — {description.strip()}" if description.strip() else "")
            )
    if info.get("section"):
        lines += ["", f"  BSPump config file (-c FILE) section: [{info['section']}]"]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def render_markdown_table(rows: list[dict[str, Any]]) -> str:
    """The keys as a Markdown table: key, type, default, description (examples, flags)."""
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for r in rows:
        description = r["description"].rstrip()
        notes = _notes(r)
        if notes:
            description += f" ({'; '.join(notes)})"
        if r.get("examples"):
            examples = ", ".join(_code(format_value(e)) for e in r["examples"])
            description += f". Examples: {examples}" if description else f"Examples: {examples}"
        default = _default_text(r)
        if not r["required"] and not r.get("no_default"):
            default = _code(default)
        cells = [_code(r["name"]), _code(r["type"]), default, description]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def render_markdown(info: dict[str, Any]) -> str:
    """The description as Markdown: a heading, the summary, where it goes, the keys table."""
    out = [f"### {info['kind']} `{info['name']}` (`{info['class']}`)", ""]
    if info["summary"]:
        out += [info["summary"], ""]
    if info.get("place"):
        out += [f"In YAML: `{info['place']}: {_usage(info)}`", ""]
    out.append(render_markdown_table([*info["fields"], *info["arguments"]]))
    return "\n".join(out)
