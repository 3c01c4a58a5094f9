"""Config reference tables in Markdown files, generated from the config models between markers.

    <!-- pump:config sink:kafka -->
    (the table `pump describe sink:kafka --format markdown` prints; rewritten, never edited)
    <!-- /pump:config -->

A marker names what to describe: `KIND:NAME` (a registered component type), `pipeline` (the
keys of a pipeline), or `module:Class` (a config model, or a component class, e.g. the part
several components share). `except=module:Class,...` leaves out the keys those models declare
(unless the component declares them anew, with another default or description), so a table
can list only what a component adds to a shared part.

`python -m pump.configref FILE...` rewrites the tables (`nox -s docs`); with `--check` it
only reports stale ones and exits 1 (the test suite does the same).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pump.config import Configurable
from pump.describe import (
    describe_class,
    describe_model,
    describe_pipeline,
    render_markdown_table,
)
from pump.plugins import KINDS, PluginError, Registry, default_registry

MARKER = re.compile(
    r"(?P<open><!-- pump:config (?P<spec>[^>]*?) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /pump:config -->)",
    re.DOTALL,
)


class MarkerError(ValueError):
    """A marker that names nothing describable."""


def _model_of(path: str) -> type[BaseModel]:
    module, _, name = path.partition(":")
    try:
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise MarkerError(f"cannot import '{path}': {exc}") from None
    if isinstance(target, type) and issubclass(target, Configurable):
        target = target.ConfigModel
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        raise MarkerError(f"'{path}' is neither a config model nor a configurable class")
    return target


def describe_spec(spec: str, registry: Registry | None = None) -> dict[str, Any]:
    """The description a marker's spec names (see the module docstring)."""
    target, *options = spec.split()
    shared: list[type[BaseModel]] = []
    for option in options:
        key, _, value = option.partition("=")
        if key != "except" or not value:
            raise MarkerError(f"unknown marker option '{option}' (known: except=module:Class,...)")
        shared += [_model_of(path) for path in value.split(",")]
    model: type[BaseModel]
    if target == "pipeline":
        from pump.pipeline import PipelineConfig

        info, model = describe_pipeline(), PipelineConfig
    else:
        kind, _, name = target.partition(":")
        if kind not in KINDS:
            model = _model_of(target)
            return describe_model(model, _inherited(model, shared))
        try:
            cls = (registry or default_registry()).load(kind, name)
        except PluginError as exc:
            raise MarkerError(str(exc)) from None
        info = describe_class(cls, kind, name)
        model = cls.ConfigModel if issubclass(cls, Configurable) else BaseModel
    exclude = _inherited(model, shared)
    info["fields"] = [f for f in info["fields"] if f["name"] not in exclude]
    return info


def _inherited(model: type[BaseModel], shared: list[type[BaseModel]]) -> set[str]:
    """The fields of `model` declared the same way (type, default, description) in `shared`."""
    out = set()
    for name, field in model.model_fields.items():
        for base in shared:
            other = base.model_fields.get(name)
            if other is not None and (
                (field.annotation, field.default, field.description)
                == (other.annotation, other.default, other.description)
            ):
                out.add(name)
    return out


def render_spec(spec: str, registry: Registry | None = None) -> str:
    """The table of one marker."""
    info = describe_spec(spec, registry)
    return render_markdown_table([*info["fields"], *info["arguments"]])


def rewrite(text: str, registry: Registry | None = None) -> str:
    """`text` with every marked table generated anew."""

    def replace(match: re.Match[str]) -> str:
        table = render_spec(match["spec"].strip(), registry)
        return f"{match['open']}{table}\n{match['close']}"

    return MARKER.sub(replace, text)


def stale(path: str | Path, registry: Registry | None = None) -> list[str]:
    """The specs of the marked tables of a file that differ from what the models say."""
    text = Path(path).read_text(encoding="utf-8")
    return [
        match["spec"].strip()
        for match in MARKER.finditer(text)
        if match["body"] != render_spec(match["spec"].strip(), registry) + "\n"
    ]


def bad_examples(model: type[BaseModel]) -> list[str]:
    """Every `examples=` value of the model's fields that the field itself would refuse."""
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError

    problems = []
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if field.metadata:
            annotation = Annotated[annotation, *field.metadata]
        alone: TypeAdapter[Any] = TypeAdapter(annotation)
        for example in field.examples or []:
            errors = []
            try:  # an assignment runs the field's own validators too
                model.__pydantic_validator__.validate_assignment(
                    model.model_construct(), name, example
                )
            except ValidationError as exc:
                errors = [e for e in exc.errors() if e["loc"][:1] == (name,)]
            except Exception:  # a model validator needing the missing fields: not this one
                pass
            try:
                alone.validate_python(example)
            except ValidationError as exc:
                errors += exc.errors()
            if errors:
                reason = errors[0]["msg"]
                problems.append(f"{model.__qualname__}.{name}: example {example!r}: {reason}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or `--check`) the config tables of the given Markdown files."""
    parser = argparse.ArgumentParser(
        prog="python -m pump.configref",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--check", action="store_true", help="report stale tables, change nothing")
    args = parser.parse_args(argv)
    code = 0
    for name in args.files:
        path = Path(name)
        try:
            if args.check:
                for spec in stale(path):
                    print(f"{path}: the table of '{spec}' is stale (run `nox -s docs`)")
                    code = 1
                continue
            text = path.read_text(encoding="utf-8")
            new = rewrite(text)
        except MarkerError as exc:
            print(f"{path}: a <!-- pump:config --> marker names nothing describable: {exc}")
            code = 2
            continue
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"{path}: config tables rewritten")
    return code


if __name__ == "__main__":
    sys.exit(main())
