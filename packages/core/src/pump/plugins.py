"""The plugin registry: components found through entry points, each imported only when used.

Every kind of component has an entry-point group (`pump.sources`, `pump.processors`,
`pump.sinks`, `pump.connections`, `pump.lookups`, `pump.triggers`) mapping a short name
(`json.parse`, `kafka`, `file.csv`) to a class. pump-core registers its own components the same
way, so there is one discovery path for the core and third parties.

- Discovery reads the installed distributions' metadata only; a class is imported when it is
  first used (`Registry.load`), so a broken or slow plugin costs nothing until then.
- Two distributions claiming one name in one group is an error naming both, raised when that
  name is used (and shown by `pump plugins`); the other names keep working.
- A plugin that fails to import is reported with its error; the others keep working.
- `PUMP_PLUGINS_ALLOW` / `PUMP_PLUGINS_DENY`: comma-separated entry names (`json.parse`), kinded
  names (`processor:json.parse`) or distribution names (`pump-kafka`). Deny wins over allow.
  With an allow list, pump-core's own components stay allowed (unless denied): the list is
  meant to keep third-party code out, not to break the core. Denying one of two conflicting
  distributions resolves the conflict.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pump.errors import PumpError

#: Kind (singular) → entry-point group.
GROUPS: dict[str, str] = {
    "source": "pump.sources",
    "processor": "pump.processors",
    "sink": "pump.sinks",
    "connection": "pump.connections",
    "lookup": "pump.lookups",
    "trigger": "pump.triggers",
}
KINDS = tuple(GROUPS)

#: The class each kind's plugins must subclass ("module:Class", imported when checking).
BASES: dict[str, str] = {
    "source": "pump.source:Source",
    "processor": "pump.processor:Processor",
    "sink": "pump.sink:Sink",
    "connection": "pump.connection:Connection",
    "lookup": "pump.component:Component",
    "trigger": "pump.trigger:Trigger",
}

#: First-party connector packages by the first part of their component names (`file.jsonl`,
#: `kafka`, `pandas.to_frame`): an unknown name of one says which package to install.
FIRST_PARTY: dict[str, str] = {
    "file": "pump-file",
    "kafka": "pump-kafka",
    "amqp": "pump-amqp",
    "elasticsearch": "pump-elastic",
    "mysql": "pump-mysql",
    "influxdb": "pump-influxdb",
    "pandas": "pump-pandas",
    "http": "pump-http",
    "websocket": "pump-http",
}

ALLOW_ENV = "PUMP_PLUGINS_ALLOW"
DENY_ENV = "PUMP_PLUGINS_DENY"
CORE_DISTRIBUTION = "pump-core"


class PluginError(PumpError):
    """A component type cannot be used: unknown, disabled, claimed twice, or broken."""


class UnknownPluginError(PluginError):
    """No usable entry point has this name (none is installed, or it is disabled)."""


class PluginConflictError(PluginError):
    """Two distributions register the same name in one group."""


class PluginLoadError(PluginError):
    """An entry point failed to import, or is not a class of its kind."""


def normalize_kind(kind: str) -> str:
    """`processors`, `Processor` → `processor`; raises PluginError for an unknown kind."""
    k = kind.strip().lower()
    if k.endswith("s") and k[:-1] in GROUPS:
        k = k[:-1]
    if k not in GROUPS:
        raise UnknownPluginError(f"unknown component kind '{kind}' (kinds: {', '.join(KINDS)})")
    return k


def first_party_distribution(name: str) -> str | None:
    """The first-party distribution whose components are named like `name`, if any."""
    return FIRST_PARTY.get(name.split(".", 1)[0])


def installed(distribution: str) -> bool:
    """True when a distribution of this name is installed."""
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _install_hint(name: str) -> str:
    """`; pump-file provides it: pip install pump-file` when that package is missing."""
    distribution = first_party_distribution(name)
    if distribution is None or installed(distribution):
        return ""
    return f"; {distribution} provides it, and it is not installed: pip install {distribution}"


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation: `Pump_Kafka` → `pump-kafka`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PluginSpec:
    """One entry point: a name of a kind, the class path, and the distribution registering it."""

    kind: str
    name: str
    value: str
    distribution: str
    version: str
    entry_point: EntryPoint = field(repr=False, compare=False)


@dataclass
class PluginStatus:
    """A row of `pump plugins`: an entry point and whether it can be used."""

    kind: str
    name: str
    value: str
    distribution: str
    version: str
    status: str  # ok | error | conflict | denied | unchecked
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "kind": self.kind,
            "name": self.name,
            "value": self.value,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
        }


def _spec(kind: str, ep: EntryPoint, seen: dict[int, tuple[str, str]]) -> PluginSpec:
    dist = ep.dist
    if dist is None:
        name, version = "(unknown distribution)", "?"
    else:
        # `name` and `version` each parse the distribution's metadata again: once per dist
        known = seen.get(id(dist))
        if known is None:
            metadata = dist.metadata
            known = seen[id(dist)] = (metadata["Name"], metadata["Version"])
        name, version = known
    return PluginSpec(kind, ep.name, ep.value, name, version, ep)


def _split(value: str | None) -> set[str]:
    return {item.strip() for item in (value or "").split(",") if item.strip()}


class Registry:
    """Finds component classes by kind and short name; imports each only when it is used.

    `allow`/`deny` default to the `PUMP_PLUGINS_ALLOW`/`PUMP_PLUGINS_DENY` variables of
    `environ` (the process environment by default).
    """

    def __init__(
        self,
        *,
        allow: Iterable[str] | None = None,
        deny: Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.allow: set[str] | None = (
            set(allow) if allow is not None else (_split(env.get(ALLOW_ENV)) or None)
        )
        self.deny: set[str] = set(deny) if deny is not None else _split(env.get(DENY_ENV))
        self._specs: dict[str, dict[str, list[PluginSpec]]] = {}
        self._loaded: dict[tuple[str, str], type[Any]] = {}

    # -- discovery ------------------------------------------------------------------------------

    def specs(self, kind: str) -> dict[str, list[PluginSpec]]:
        """Every entry point of a kind by name (several when distributions conflict)."""
        kind = normalize_kind(kind)
        found = self._specs.get(kind)
        if found is None:
            found = {}
            seen: dict[int, tuple[str, str]] = {}
            for ep in entry_points(group=GROUPS[kind]):
                found.setdefault(ep.name, []).append(_spec(kind, ep, seen))
            self._specs[kind] = found
        return found

    def denied(self, spec: PluginSpec) -> bool:
        """True when the allow/deny lists keep this entry point from being used."""
        keys = {spec.name, f"{spec.kind}:{spec.name}"}
        dist = normalize_distribution(spec.distribution)
        deny = self.deny
        if keys & deny or dist in {normalize_distribution(d) for d in deny}:
            return True
        allow = self.allow
        if allow is None or dist == CORE_DISTRIBUTION:
            return False
        return not (keys & allow or dist in {normalize_distribution(a) for a in allow})

    def names(self, kind: str) -> list[str]:
        """The usable-looking names of a kind (allowed ones, conflicts included), sorted."""
        return sorted(
            name
            for name, specs in self.specs(kind).items()
            if any(not self.denied(s) for s in specs)
        )

    def kinds_of(self, name: str) -> list[str]:
        """The kinds that have an allowed entry point called `name`."""
        return [kind for kind in KINDS if name in self.names(kind)]

    def resolve(self, kind: str, name: str) -> PluginSpec:
        """The allowed entry point for `name`; PluginError if unknown, denied or claimed twice."""
        kind = normalize_kind(kind)
        specs = self.specs(kind).get(name, [])
        allowed = [s for s in specs if not self.denied(s)]
        if len(allowed) == 1:
            return allowed[0]
        if len(allowed) > 1:
            claims = " and ".join(f"{s.distribution} {s.version} ({s.value})" for s in allowed)
            raise PluginConflictError(
                f"{kind} type '{name}' is registered by more than one distribution: {claims}; "
                f"uninstall one, or disable one with {DENY_ENV}=<distribution>"
            )
        if specs:
            dists = ", ".join(s.distribution for s in specs)
            raise UnknownPluginError(
                f"{kind} type '{name}' (from {dists}) is disabled by {ALLOW_ENV}/{DENY_ENV}"
            )
        raise UnknownPluginError(self._unknown_message(kind, name))

    def unknown_anywhere(self, name: str) -> UnknownPluginError:
        """The error for a name no kind has, with the closest names of every kind."""
        known = sorted({n for kind in KINDS for n in self.names(kind)})
        message = f"unknown component type '{name}'"
        hint = _install_hint(name)
        if hint:
            return UnknownPluginError(message + hint)
        close = difflib.get_close_matches(name, known, n=3)
        if close:
            message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        return UnknownPluginError(message + " (see `pump plugins`)")

    def _unknown_message(self, kind: str, name: str) -> str:
        known = self.names(kind)
        message = f"unknown {kind} type '{name}'"
        hint = _install_hint(name)
        if hint:
            return message + hint
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
        elsewhere = [k for k in self.kinds_of(name) if k != kind]
        if elsewhere:
            message += f" ('{name}' is a {' and a '.join(elsewhere)} type)"
        message += f" (known {kind} types: {', '.join(known) or 'none'})"
        return message

    # -- loading --------------------------------------------------------------------------------

    def load(self, kind: str, name: str) -> type[Any]:
        """Import and return the class registered as `name`; PluginError naming the distribution."""
        kind = normalize_kind(kind)
        key = (kind, name)
        cls = self._loaded.get(key)
        if cls is None:
            cls = self.load_spec(self.resolve(kind, name))
            self._loaded[key] = cls
        return cls

    @staticmethod
    def load_spec(spec: PluginSpec) -> type[Any]:
        """Import one entry point and check that it is a class of its kind."""
        where = f"{spec.kind} type '{spec.name}' from {spec.distribution} {spec.version}"
        try:
            obj = spec.entry_point.load()
        except (Exception, SystemExit) as exc:
            raise PluginLoadError(
                f"{where} failed to load ({spec.value}): {type(exc).__name__}: {exc}"
            ) from exc
        base = _base(spec.kind)
        if not isinstance(obj, type) or not issubclass(obj, base):
            raise PluginLoadError(
                f"{where}: {spec.value} is {obj!r}, not a subclass of {base.__name__}"
            )
        return obj

    def inventory(
        self, kinds: Iterable[str] | None = None, *, load: bool = True
    ) -> list[PluginStatus]:
        """Every entry point with its status; `load=True` imports each to check it."""
        rows: list[PluginStatus] = []
        for kind in kinds if kinds is not None else KINDS:
            kind = normalize_kind(kind)
            for name, specs in sorted(self.specs(kind).items()):
                allowed = [s for s in specs if not self.denied(s)]
                for spec in specs:
                    row = PluginStatus(
                        kind,
                        name,
                        spec.value,
                        spec.distribution,
                        spec.version,
                        "ok" if load else "unchecked",
                    )
                    if spec not in allowed:
                        row.status = "denied"
                    elif len(allowed) > 1:
                        others = [s.distribution for s in allowed if s is not spec]
                        row.status = "conflict"
                        row.error = f"'{name}' is also registered by {', '.join(others)}"
                    elif load:
                        try:
                            self.load(kind, name)
                        except PluginError as exc:
                            row.status = "error"
                            row.error = str(exc)
                    rows.append(row)
        return rows


def _base(kind: str) -> type[Any]:
    module, _, attribute = BASES[kind].partition(":")
    base: type[Any] = getattr(importlib.import_module(module), attribute)
    return base


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry (allow/deny read from the environment when first used)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def load(kind: str, name: str) -> type[Any]:
    """`default_registry().load(kind, name)`."""
    return default_registry().load(kind, name)
