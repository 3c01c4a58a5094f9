"""Config files: BSPump's INI sections (or the same sections in YAML), with `${VAR}` interpolation.

A config file holds one section per component, named as BSPump names them:
`[pipeline:PipelineId]` (the pipeline's own settings), `[pipeline:PipelineId:ComponentId]`,
`[connection:Id]`, `[lookup:Id]`. Its values sit between the class defaults and the
constructor's `config=` (class defaults < config file < constructor).

In every value, `${VAR}` is replaced by the environment variable VAR, `${VAR:-default}` by its
value or `default` when it is unset or empty, `${VAR-default}` by `default` only when it is unset;
`$${` writes a literal `${`. A variable that is unset without a default is a config error naming
the file, the section and the key. Every problem of a file is reported at once.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pump.errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")

_TOKEN = re.compile(
    r"(?P<escape>\$\$\{)"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}"
    r"|(?P<bad>\$\{[^}]*\}?)"
)


class InterpolationError(ValueError):
    """A `${...}` reference that cannot be replaced."""


class ConfigSection(dict[str, Any]):
    """A config section that remembers where each key came from (named in config errors)."""

    def __init__(self, values: Mapping[str, Any] | None = None, origin: str | None = None) -> None:
        super().__init__(values or {})
        #: key → "file [section]" for the keys read from a file.
        self.origins: dict[str, str] = dict.fromkeys(self, origin) if origin else {}

    def merged(self, other: Mapping[str, Any]) -> ConfigSection:
        """A copy with `other`'s keys on top (their origins too, when it has them)."""
        out = ConfigSection(self)
        out.origins = dict(self.origins)
        out.update(other)
        other_origins: Mapping[str, str] = getattr(other, "origins", {})
        for key in other:
            if key in other_origins:
                out.origins[key] = other_origins[key]
            else:
                out.origins.pop(key, None)
        return out


def interpolate(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$${` in `value`."""
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        if match["escape"]:
            return "${"
        if match["bad"]:
            raise InterpolationError(
                f"malformed reference {match['bad']!r} (write ${{NAME}} or ${{NAME:-default}})"
            )
        name, op = match["name"], match["op"]
        current = env.get(name)
        if op == ":-" and not current:
            return str(match["default"])
        if op == "-" and current is None:
            return str(match["default"])
        if current is None:
            raise InterpolationError(
                f"environment variable {name} is not set (give a default: ${{{name}:-value}})"
            )
        return current

    if "$" not in value:
        return value
    return _TOKEN.sub(replace, value)


def interpolate_tree(
    data: Any,
    problems: list[tuple[str, str]],
    path: str = "",
    environ: Mapping[str, str] | None = None,
) -> Any:
    """`data` with every string interpolated; each failure is appended as (path, message)."""
    if isinstance(data, str):
        try:
            return interpolate(data, environ)
        except InterpolationError as exc:
            problems.append((path, str(exc)))
            return data
    if isinstance(data, Mapping):
        return {
            k: interpolate_tree(v, problems, f"{path}.{k}" if path else str(k), environ)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [interpolate_tree(v, problems, f"{path}[{i}]", environ) for i, v in enumerate(data)]
    return data


def read_config_file(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> dict[str, ConfigSection]:
    """The sections of an INI (BSPump) or YAML config file; ConfigError lists every problem."""
    p = Path(path)
    where = f"config file '{p}'"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(where, [f"cannot read it: {exc.strerror or exc}"]) from None
    if p.suffix.lower() in YAML_SUFFIXES:
        raw = _yaml_sections(text, where)
    else:
        raw = _ini_sections(text, str(p), where)
    problems: list[str] = []
    sections: dict[str, ConfigSection] = {}
    for name, values in raw.items():
        found: list[tuple[str, str]] = []
        resolved = {
            key: interpolate_tree(value, found, key, environ) for key, value in values.items()
        }
        problems += [f"[{name}] key '{key}': {message}" for key, message in found]
        sections[name] = ConfigSection(resolved, origin=f"{p} [{name}]")
    if problems:
        raise ConfigError(where, problems)
    return sections


def _ini_sections(text: str, source: str, where: str) -> dict[str, dict[str, Any]]:
    # No %-interpolation (values are written as they are, as in BSPump); keys keep their case.
    # No [DEFAULT] inheritance either: its keys would land in every component's strict config.
    parser = configparser.ConfigParser(interpolation=None, default_section="\0no default")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ConfigError(where, [str(exc).replace("\n", " ")]) from None
    return {name: dict(parser.items(name)) for name in parser.sections()}


def _yaml_sections(text: str, where: str) -> dict[str, dict[str, Any]]:
    import yaml  # only YAML files need it

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(where, [f"invalid YAML: {exc}".replace("\n", " ")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(where, ["the file must be a mapping of section name → settings"])
    problems = [
        f"section '{name}' must be a mapping of settings, got {type(values).__name__}"
        for name, values in data.items()
        if not isinstance(values, dict)
    ]
    if problems:
        raise ConfigError(where, problems)
    return {str(name): {str(k): v for k, v in values.items()} for name, values in data.items()}
