"""What a component type accepts: its config fields (type, default, description) and arguments.

Used by `pump describe NAME`. Secrets (SecretStr fields, or fields marked
`json_schema_extra={"secret": True}`) never show their default.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pump.config import SECRET_MASK, Configurable, is_secret

#: Where a kind's config file section is (None: the kind has no section).
SECTIONS: dict[str, str | None] = {
    "source": "pipeline:<PipelineId>:<ComponentId>",
    "processor": "pipeline:<PipelineId>:<ComponentId>",
    "sink": "pipeline:<PipelineId>:<ComponentId>",
    "connection": "connection:<Id>",
    "lookup": "lookup:<Id>",
    "trigger": None,
}

#: Constructor parameters that are never YAML keys.
_NOT_ARGUMENTS = frozenset({"self", "app", "pipeline", "id", "config"})


def type_name(annotation: Any) -> str:
    """A short readable name of a type annotation: `int`, `str | None`, `'stop' | 'skip'`."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Any:
        return "any"
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
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "min length",
               "max_length": "max length", "multiple_of": "multiple of"}
    parts = []
    for item in metadata:
        for attribute, symbol in symbols.items():
            value = getattr(item, attribute, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


def config_fields(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One dict per config field: name, type, required, default, description, secret."""
    rows = []
    for name, field in model.model_fields.items():
        secret = is_secret(model, name)
        required = field.is_required()
        default: Any = None
        if not required:
            if field.default_factory is not None:
                default = "<computed>"
            elif field.default is not PydanticUndefined:
                default = field.default
        if secret and default not in (None, ""):
            default = SECRET_MASK
        rows.append(
            {
                "name": field.alias or name,
                "type": type_name(field.annotation),
                "required": required,
                "default": default,
                "description": field.description or "",
                "constraints": _constraints(field.metadata),
                "secret": secret,
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
    rows = []
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
                "description": "",
                "constraints": "",
                "secret": False,
            }
        )
    return rows


def describe_class(cls: type, kind: str, name: str, distribution: str = "") -> dict[str, Any]:
    """A JSON-friendly description of a component type (as `pump describe --json` prints it)."""
    doc = inspect.getdoc(cls) or ""
    fields: list[dict[str, Any]] = []
    if issubclass(cls, Configurable):
        fields = config_fields(cls.ConfigModel)
    names = {f["name"] for f in fields} | {
        f for f in (cls.ConfigModel.model_fields if issubclass(cls, Configurable) else {})
    }
    return {
        "kind": kind,
        "name": name,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "distribution": distribution,
        "summary": doc.split("\n\n")[0].replace("\n", " "),
        "section": SECTIONS.get(kind),
        "fields": fields,
        "arguments": constructor_arguments(cls, names),
    }


def _value(value: Any) -> str:
    return repr(value)


def render_text(info: dict[str, Any]) -> str:
    """The description as aligned plain text."""
    lines = [f"{info['kind']} '{info['name']}' — {info['class']}"]
    if info.get("distribution"):
        lines[0] += f" ({info['distribution']})"
    if info["summary"]:
        lines.append(f"  {info['summary']}")
    for title, rows in (("config", info["fields"]), ("arguments", info["arguments"])):
        if title == "config":
            section = info.get("section")
            heading = f"config keys (file section [{section}]):" if section else "config keys:"
        else:
            heading = "constructor arguments (also YAML keys):"
        if not rows:
            if title == "config" and (section or not info["arguments"]):
                lines += ["", "  " + heading, "    (none)"]
            continue
        if title == "arguments" and not info["fields"] and not section:
            heading = "keys (constructor arguments):"
        lines += ["", "  " + heading]
        width_name = max(len(r["name"]) for r in rows)
        width_type = max(len(r["type"]) for r in rows)
        for r in rows:
            default = "required" if r["required"] else f"default {_value(r['default'])}"
            notes = [n for n in (r["constraints"], "secret" if r["secret"] else "") if n]
            description = r["description"] + (f" ({'; '.join(notes)})" if notes else "")
            lines.append(
                f"    {r['name']:<{width_name}}  {r['type']:<{width_type}}  {default}"
                + (f"  — {description}" if description else "")
            )
    return "\n".join(lines)
