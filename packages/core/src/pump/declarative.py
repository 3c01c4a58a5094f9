"""Declarative pipelines: a YAML file becomes an Application of connections, lookups, pipelines.

```yaml
connections:
  kafka: {type: kafka, bootstrap_servers: "${KAFKA_BOOTSTRAP:-localhost:9092}"}
lookups:
  countries: {type: dictionary, provider: {cz: Czechia}}
pipelines:
  enrich:
    source: {type: kafka, connection: kafka, topic: in}       # or `sources: [...]`
    processors:
      - {type: json.parse}
      - {type: python, function: "mypkg.enrich:process"}      # or class: "mypkg:MyProcessor"
      - {type: python, function: "mypkg.geo:country", lookup: countries}  # country(event, lookup)
    sink: {type: kafka, connection: kafka, topic: out}
    on_error: {dead_letter: {type: print, stream: stderr}}    # or "skip", or {policy: ...,
                                                              #   dead_letter: ...}
    max_in_flight: 5000                                       # any other Pipeline config key
```

A component is `{type: <registered name>, id: <optional>, ...keys}` — or `{class: "module:Class",
...}` for a class that is not registered. Its keys go to the class's `from_config(app, pipeline,
id, config)` (see `pump.Component.from_config`): config fields are validated against its typed
config, keys naming a constructor parameter are passed as arguments. Without `id`, a component is
named after its type (`json.parse`, then `json.parse#2`, ...).

**Connector authors**: `connection: <id>` in a component's keys names a connection declared under
`connections:`; the builder checks that it exists, then hands it to your class's `from_config` in
`config`. Either take a `connection` constructor parameter (the default `from_config` passes it,
BSPump's `KafkaSource(app, pipeline, connection, ...)` shape), or override `from_config`, pop
`connection` from `config` and `app.locate_connection(...)` it. `lookup: <id>` is checked alike.

Trigger sources take `trigger:` (or `triggers:` list): `run_once`, `{type: periodic, interval: 5}`,
`{type: cron, expression: "*/5 * * * *"}`, `{type: pubsub, message_types: [...]}`.

Every value may use `${VAR}` / `${VAR:-default}`. Building collects every problem (unknown key,
wrong type, missing required key, unset variable, unknown type, unknown connection, ...) and
raises one `ConfigError` listing them all, each with the file, line, pipeline, component and key.
Nothing is started: `pump validate` is exactly this. The format's reference is docs/yaml.md.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import re
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from pump.application import Application
from pump.common.callables import import_callable
from pump.common.function import FunctionProcessor, FunctionProcessorConfig
from pump.component import Component
from pump.config import unknown_key_message
from pump.configfile import interpolate_tree
from pump.connection import Connection
from pump.errors import BuildError, ConfigError
from pump.pipeline import Pipeline
from pump.plugins import PluginError, Registry, default_registry
from pump.processor import Processor
from pump.sink import Sink
from pump.source import Source
from pump.trigger import Trigger, TriggerSource

TOP_LEVEL_KEYS = ("connections", "lookups", "pipelines")
#: Top-level keys that are not a mapping of id → settings.
OTHER_TOP_LEVEL_KEYS = ("admin",)
PIPELINE_STRUCTURE_KEYS = ("source", "sources", "processors", "sink", "on_error")
#: Keys of a component spec the builder reads itself (the rest goes to `from_config`); `class`
#: only when there is no `type` (the `python` processor takes `class` as its own key).
SPEC_KEYS = ("type", "id")


class PythonProcessorConfig(FunctionProcessorConfig):
    """Settings of a PythonProcessor."""

    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(
        "",
        alias="class",
        description="'module:Class' of a Processor to use instead (other keys are its config)",
        examples=["mypkg.processors:Enrich"],
    )
    lookup: str = Field(
        "",
        description="Id of a lookup passed to the function as its `lookup` argument",
        examples=["countries"],
    )
    lookups: dict[str, str] = Field(
        default_factory=dict,
        description="Lookups passed to the function by argument name: {argument: lookup id}",
        examples=[{"countries": "countries", "currencies": "rates"}],
    )


class PythonProcessor(FunctionProcessor):
    """Runs Python code: a function (`function: "module:func"`) or a processor class (`class: ...`).

    The function is called as `func(event)` or `func(context, event)` and returns the new event
    (None drops it). With `lookup: <id>` it gets that lookup as its `lookup` argument
    (`func(event, lookup)`); `lookups: {name: <id>, ...}` passes several, by argument name.
    With `class: "module:Class"`, that Processor class is built instead, and the other keys are
    its config.
    """

    ConfigModel = PythonProcessorConfig
    Config: PythonProcessorConfig

    @classmethod
    def from_config(
        cls,
        app: Application,
        pipeline: Pipeline | None,
        id: str | None,
        config: Mapping[str, Any],
    ) -> Component:
        """Build the named class, or a function processor."""
        path = config.get("class")
        where = (
            f"pipeline '{pipeline.Id}' component '{id}' ({cls.__name__})"
            if pipeline is not None
            else f"python processor '{id}'"
        )
        if path:
            if config.get("function"):
                raise BuildError(f"{where}: give 'function' or 'class', not both")
            target = import_callable(str(path), where)
            if not (isinstance(target, type) and issubclass(target, Processor)):
                raise BuildError(f"{where}: '{path}' is not a Processor class")
            rest = {k: v for k, v in config.items() if k != "class"}
            return target.from_config(app, pipeline, id, rest)
        if not config.get("function"):
            raise BuildError(
                f"{where}: needs 'function: \"module:function\"' or 'class: \"module:Class\"'"
            )
        lookups = _function_lookups(config)
        if not lookups:
            return super().from_config(app, pipeline, id, config)
        function = import_callable(str(config["function"]), where)
        located = {argument: app.locate_lookup(lookup) for argument, lookup in lookups.items()}
        if pipeline is None:
            raise BuildError(f"{where}: a processor belongs to a pipeline")
        built: Component = cls(
            app, pipeline, functools.partial(function, **located), id=id, config=config
        )
        return built


def _function_lookups(config: Mapping[str, Any]) -> dict[str, str]:
    """`{argument: lookup id}` from a python processor's `lookup` and `lookups` keys."""
    lookups = config.get("lookups")
    out = {str(k): str(v) for k, v in lookups.items()} if isinstance(lookups, Mapping) else {}
    if isinstance(config.get("lookup"), str) and config["lookup"]:
        out["lookup"] = config["lookup"]
    return out


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file safely; mappings remember their line (`LocatedDict.line`)."""
    import yaml

    loader_base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(loader_base):  # type: ignore[misc]
        pass

    def mapping(loader: Any, node: Any) -> Any:
        data = LocatedDict()
        data.line = node.start_mark.line + 1
        data.key_lines = {
            str(key.value): key.start_mark.line + 1
            for key, _ in node.value
            if isinstance(key, yaml.ScalarNode)
        }
        yield data
        data.update(loader.construct_mapping(node))

    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    where = f"'{os.fspath(path)}'"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(where, [f"cannot read it: {exc.strerror or exc}"]) from None
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"{os.fspath(path)}:{mark.line + 1}:{mark.column + 1}: " if mark else ""
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise ConfigError(where, [f"{at}invalid YAML: {what}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(where, [f"invalid YAML: {exc}".replace("\n", " ")]) from None


class LocatedDict(dict[str, Any]):
    """A mapping read from YAML, with the line it starts on and the line of each key."""

    line: int | None = None
    key_lines: Mapping[str, int] = {}

    @classmethod
    def like(cls, node: Any, data: Mapping[str, Any]) -> LocatedDict:
        """`data` with the lines `node` was read from."""
        out = cls(data)
        out.line = getattr(node, "line", None)
        out.key_lines = getattr(node, "key_lines", {})
        return out


#: `key 'name...'` at the start of a problem: the key it is about (its first part).
_PROBLEM_KEY = re.compile(r"key '([^'.\[]+)")


def build_file(
    path: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **app_options: Any,
) -> Application:
    """Build (not start) the Application a YAML file declares; ConfigError lists every problem."""
    data = load_yaml(path)
    return build(
        data,
        source=os.fspath(path),
        registry=registry,
        config_file=config_file,
        environ=environ,
        **app_options,
    )


def build(
    data: Any,
    *,
    source: str = "<config>",
    registry: Registry | None = None,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **app_options: Any,
) -> Application:
    """Build (not start) the Application `data` declares; `source` names it in messages."""
    app = Application(args=[], config_file=config_file, **app_options)
    builder = _Builder(app, source, registry or default_registry(), environ)
    builder.build(data)
    if builder.problems:
        raise ConfigError(f"'{source}'", builder.sorted_problems())
    return app


class _Builder:
    """Builds components one by one, collecting problems instead of stopping at the first."""

    def __init__(
        self,
        app: Application,
        source: str,
        registry: Registry,
        environ: Mapping[str, str] | None,
    ) -> None:
        self.app = app
        self.source = source
        self.registry = registry
        self.environ = environ
        self.problems: list[str] = []
        self.declared: dict[str, set[str]] = {"connection": set(), "lookup": set()}
        #: Declared connections and lookups that failed to build: id → where their errors are.
        self.invalid: dict[str, dict[str, str]] = {"connection": {}, "lookup": {}}

    def sorted_problems(self) -> list[str]:
        """The problems in the order of their lines in the file (those without a line last)."""
        prefix = re.compile(rf"{re.escape(self.source)}:(\d+): ")

        def line(problem: str) -> float:
            found = prefix.match(problem)
            return int(found[1]) if found else float("inf")

        return sorted(self.problems, key=line)

    def at(self, node: Any) -> str:
        """`file:line` of a node (the file alone when its line is not known)."""
        line = getattr(node, "line", None)
        return f"{self.source}:{line}" if line else self.source

    def problem(self, node: Any, what: str, message: str, key: str | None = None) -> None:
        """Record a problem at the line of `key` (default: the key the message names), else
        at the line of `node`."""
        if key is None:
            found = _PROBLEM_KEY.match(message)
            key = found[1] if found else None
        key_lines: Mapping[str, int] = getattr(node, "key_lines", {})
        line = key_lines.get(key) if key is not None else None
        at = f"{self.source}:{line}" if line else self.at(node)
        self.problems.append(f"{at}: {what}: {message}" if what else f"{at}: {message}")

    # -- the file -------------------------------------------------------------------------------

    def build(self, data: Any) -> None:
        if not isinstance(data, Mapping):
            self.problem(
                data,
                "",
                "the file must be a mapping with 'pipelines' (and 'connections', 'lookups')",
            )
            return
        known = (*TOP_LEVEL_KEYS, *OTHER_TOP_LEVEL_KEYS)
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                self.problem(
                    data,
                    "",
                    f"unknown top-level key '{key}'{hint} (known: {', '.join(known)})",
                    key=str(key),
                )
        if data.get("admin") is not None:
            self.admin(data)
        sections = {}
        for key in TOP_LEVEL_KEYS:
            value = data.get(key)
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                self.problem(data, "", f"'{key}' must be a mapping of id → settings")
                value = {}
            sections[key] = value
        if not sections["pipelines"]:
            self.problem(data, "", "no pipelines: declare at least one under 'pipelines'")
        self.declared["connection"] = {str(k) for k in sections["connections"]}
        self.declared["lookup"] = {str(k) for k in sections["lookups"]}
        for cid, spec in sections["connections"].items():
            connection = self.component("connection", spec, str(cid), None, f"connection '{cid}'")
            if isinstance(connection, Connection):
                self.app.add_connection(connection)
            else:
                self.invalid["connection"][str(cid)] = self.at(spec)
        for lid, spec in sections["lookups"].items():
            lookup = self.component("lookup", spec, str(lid), None, f"lookup '{lid}'")
            if lookup is not None:
                self.app.add_lookup(lookup)
            else:
                self.invalid["lookup"][str(lid)] = self.at(spec)
        for pid, spec in sections["pipelines"].items():
            self.pipeline(str(pid), spec)
        self.check_routes(sections["pipelines"])

    def admin(self, data: Mapping[str, Any]) -> None:
        """`admin: HOST:PORT` (or `{listen: HOST:PORT}`): where `pump run` serves its admin API."""
        spec = data["admin"]
        if isinstance(spec, Mapping):
            unknown = [str(k) for k in spec if k != "listen"]
            if unknown:
                self.problem(spec, "admin", f"unknown key(s) {unknown} (known: listen)")
            spec = spec.get("listen")
        settings, _ = self.interpolated({"admin": spec}, "admin")
        listen = settings["admin"]
        if not isinstance(listen, str) or not re.fullmatch(r"\[?[^\s\]]*\]?:\d{1,5}", listen):
            self.problem(
                data,
                "",
                f"'admin' must be HOST:PORT, e.g. 127.0.0.1:8470 (got {listen!r})",
                "admin",
            )
            return
        self.app.admin = listen

    # -- pipelines ------------------------------------------------------------------------------

    def pipeline(self, pid: str, spec: Any) -> None:
        where = f"pipeline '{pid}'"
        if not isinstance(spec, Mapping):
            self.problem(spec, where, "must be a mapping with source, processors and sink")
            return
        settings, failed = self.interpolated(spec, where, skip=PIPELINE_STRUCTURE_KEYS)
        config = {k: v for k, v in settings.items() if k not in PIPELINE_STRUCTURE_KEYS}
        model = Pipeline.ConfigModel
        if model.model_config.get("extra") == "forbid":
            # Checked here, so that the known keys include the pipeline's structure keys.
            known = list(dict.fromkeys([*PIPELINE_STRUCTURE_KEYS, *model.model_fields]))
            for key in [k for k in config if k not in model.model_fields]:
                self.problem(spec, where, unknown_key_message(key, known))
                del config[key]
        dead_letter_spec = self.on_error(spec, config, where)
        ok = True
        try:
            pipeline = Pipeline(self.app, pid, config=config)
        except ConfigError as exc:
            self.config_problems(spec, exc, failed)
            # Go on with a stand-in (its own app: the config file's section may be the culprit),
            # to find the components' problems too; it is never registered.
            pipeline, ok = Pipeline(Application(args=[]), pid), False
        sources: list[Source] = []
        source_specs = self.source_specs(spec, where)
        ok &= source_specs is not None
        used_ids: dict[str, int] = {}
        for s in source_specs or []:
            built = self.pipeline_component("source", s, pipeline, used_ids)
            ok &= isinstance(built, Source)
            if isinstance(built, Source):
                sources.append(built)
        processors: list[Processor | Sink] = []
        processor_specs = spec.get("processors") or []
        if not isinstance(processor_specs, list):
            self.problem(spec, where, "'processors' must be a list of components")
            processor_specs, ok = [], False
        for p in processor_specs:
            built = self.pipeline_component("processor", p, pipeline, used_ids)
            ok &= isinstance(built, Processor)
            if isinstance(built, Processor):
                processors.append(built)
        sink_spec = spec.get("sink")
        if sink_spec is None:
            self.problem(spec, where, "no sink: every pipeline ends in a 'sink'")
            ok = False
        else:
            sink = self.pipeline_component("sink", sink_spec, pipeline, used_ids)
            ok &= isinstance(sink, Sink)
            if isinstance(sink, Sink):
                processors.append(sink)
        if dead_letter_spec is not None:
            dead_letter = self.pipeline_component(
                "sink", dead_letter_spec, pipeline, used_ids, default_id="dead_letter"
            )
            if isinstance(dead_letter, Sink):
                pipeline.set_dead_letter(dead_letter)
        if not ok:
            return
        try:
            pipeline.build(sources, *processors)
            self.app.add_pipeline(pipeline)
        except BuildError as exc:
            self.problem(spec, where, str(exc))

    def on_error(self, spec: Mapping[str, Any], config: dict[str, Any], where: str) -> Any:
        """Put the policy into `config`; return the dead-letter sink spec, if any."""
        on_error = spec.get("on_error")
        if on_error is None or isinstance(on_error, str):
            if on_error == "dead_letter":
                self.problem(
                    spec,
                    where,
                    "on_error 'dead_letter' needs a sink: "
                    "on_error: {dead_letter: {type: ..., ...}}",
                )
            if on_error is not None:
                config["on_error"] = on_error
            return None
        if not isinstance(on_error, Mapping):
            self.problem(spec, where, "'on_error' must be a policy name or a mapping")
            return None
        for key in on_error:
            if key not in ("policy", "dead_letter"):
                close = difflib.get_close_matches(str(key), ("policy", "dead_letter"), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                self.problem(
                    on_error,
                    where,
                    f"on_error: unknown key '{key}'{hint} (known: policy, dead_letter)",
                    key=str(key),
                )
        dead_letter = on_error.get("dead_letter")
        policy = on_error.get("policy", "dead_letter" if dead_letter is not None else None)
        if policy is not None:
            config["on_error"] = policy
        if policy == "dead_letter" and dead_letter is None:
            self.problem(
                on_error, where, "on_error policy 'dead_letter' needs a 'dead_letter' sink"
            )
        return dead_letter

    def source_specs(self, spec: Mapping[str, Any], where: str) -> list[Any] | None:
        if "source" in spec and "sources" in spec:
            self.problem(spec, where, "give 'source' or 'sources', not both")
            return None
        if "sources" in spec:
            sources = spec["sources"]
            if not isinstance(sources, list) or not sources:
                self.problem(spec, where, "'sources' must be a non-empty list of components")
                return None
            return sources
        if spec.get("source") is None:
            self.problem(spec, where, "no source: give 'source' (or a 'sources' list)")
            return None
        return [spec["source"]]

    def pipeline_component(
        self,
        kind: str,
        spec: Any,
        pipeline: Pipeline,
        used_ids: dict[str, int],
        default_id: str | None = None,
    ) -> Component | None:
        cid = spec.get("id") if isinstance(spec, Mapping) else None
        if cid is None:
            base = default_id or _default_id(spec, kind)
            n = used_ids.get(base, 0) + 1
            cid = base if n == 1 else f"{base}#{n}"
            used_ids[base] = n
        else:
            cid = str(cid)
            if cid in used_ids:
                self.problem(spec, f"pipeline '{pipeline.Id}'", f"duplicate component id '{cid}'")
            used_ids[cid] = used_ids.get(cid, 0) + 1
        where = f"pipeline '{pipeline.Id}' {kind} '{cid}'"
        triggers: Any = None
        if kind == "source" and isinstance(spec, Mapping):
            triggers = spec.get("triggers", spec.get("trigger"))
            if "trigger" in spec and "triggers" in spec:
                self.problem(spec, where, "give 'trigger' or 'triggers', not both")
            spec = LocatedDict.like(
                spec, {k: v for k, v in spec.items() if k not in ("trigger", "triggers")}
            )
        component = self.component(kind, spec, cid, pipeline, where)
        if triggers is not None and component is not None:
            self.attach_triggers(component, triggers, spec, where)
        return component

    # -- components -----------------------------------------------------------------------------

    def component(
        self, kind: str, spec: Any, cid: str, pipeline: Pipeline | None, where: str
    ) -> Component | None:
        if not isinstance(spec, Mapping):
            self.problem(spec, where, f"must be a mapping like {{type: <{kind} type>, ...}}")
            return None
        spec = _null_type(spec)
        cls = self.component_class(kind, spec, where)
        own = SPEC_KEYS if "type" in spec else (*SPEC_KEYS, "class")
        config, failed = self.interpolated(spec, where, skip=own)
        config = {k: v for k, v in config.items() if k not in own}
        invalid = self.invalid_references(spec, config, where)
        if not self.references_exist(spec, config, where) or cls is None:
            return None
        if failed:
            # A value with an unset variable is reported once; build without it, so that the
            # other keys are still checked (a required one then shows as missing: skip that).
            config = {k: v for k, v in config.items() if k not in failed}
        try:
            built: Component = cls.from_config(self.app, pipeline, cid, config)
            return built
        except ConfigError as exc:
            located = exc.where
            if pipeline is not None and f"pipeline '{pipeline.Id}'" not in located:
                located = f"pipeline '{pipeline.Id}' component '{cid}' ({cls.__name__})"
            self.config_problems(spec, exc, failed, located)
        except (BuildError, PluginError) as exc:
            message = str(exc)
            if any(reference in message for reference in invalid):
                return None  # about an invalid connection or lookup: reported above
            # a message that starts with the component's location already says where it is
            named = pipeline is not None and message.startswith(f"pipeline '{pipeline.Id}' ")
            self.problem(spec, "" if named else where, message)
        except Exception as exc:
            self.problem(spec, where, f"cannot be built: {type(exc).__name__}: {exc}")
        return None

    def component_class(
        self, kind: str, spec: Mapping[str, Any], where: str
    ) -> type[Component] | None:
        name = spec.get("type")
        if name is None and spec.get("class"):
            bases: dict[str, type[Component]] = {
                "source": Source,
                "processor": Processor,
                "sink": Sink,
                "connection": Connection,
                "lookup": Component,
            }
            base = bases[kind]
            try:
                target = import_callable(str(spec["class"]), where)
            except BuildError as exc:
                self.problem(spec, where, str(exc))
                return None
            if not (isinstance(target, type) and issubclass(target, base)):
                self.problem(spec, where, f"'{spec['class']}' is not a {base.__name__} class")
                return None
            return target
        if name is None:
            self.problem(spec, where, f"no 'type' (a registered {kind} type, see `pump plugins`)")
            return None
        try:
            cls: type[Component] = self.registry.load(kind, str(name))
        except PluginError as exc:
            self.problem(spec, where, str(exc))
            return None
        return cls

    def invalid_references(self, spec: Any, config: Mapping[str, Any], where: str) -> list[str]:
        """Report the connections and lookups named that failed to build (pointing at their
        own errors); return `"<kind> '<id>'"` of each, to leave out what building says of them."""
        found = []
        for key, kind, ref in _references(config):
            if isinstance(ref, str) and ref in self.invalid[kind]:
                self.problem(
                    spec,
                    where,
                    f"key '{key}': {kind} '{ref}' is invalid (see {self.invalid[kind][ref]})",
                    key=key.split(".")[0],
                )
                found.append(f"{kind} '{ref}'")
        return found

    def references_exist(self, spec: Any, config: Mapping[str, Any], where: str) -> bool:
        references = _references(config)
        ok = True
        for key, kind, ref in references:
            if isinstance(ref, str) and ref not in self.declared[kind]:
                known = ", ".join(sorted(self.declared[kind])) or "none"
                self.problem(
                    spec, where, f"key '{key}': unknown {kind} '{ref}' (declared {kind}s: {known})"
                )
                ok = False
        return ok

    def interpolated(
        self, spec: Mapping[str, Any], where: str, skip: tuple[str, ...] = ()
    ) -> tuple[dict[str, Any], set[str]]:
        """`spec` with `${VAR}` replaced; reports each unset variable, returns the failed keys."""
        found: list[tuple[str, str]] = []
        out = {
            str(k): v if k in skip else interpolate_tree(v, found, str(k), self.environ)
            for k, v in spec.items()
        }
        for path, message in found:
            self.problem(spec, where, f"key '{path}': {message}")
        return out, {path.split(".")[0].split("[")[0] for path, _ in found}

    def config_problems(
        self, spec: Any, exc: ConfigError, failed: set[str], where: str | None = None
    ) -> None:
        for p in exc.problems:
            if any(p.startswith(f"key '{key}'") for key in failed):
                continue  # already reported as an unset variable
            self.problem(spec, where or exc.where, p)

    # -- triggers -------------------------------------------------------------------------------

    def attach_triggers(self, source: Component, triggers: Any, spec: Any, where: str) -> None:
        if not isinstance(source, TriggerSource):
            self.problem(
                spec, where, f"'trigger' needs a trigger source; {type(source).__name__} is not one"
            )
            return
        for t in triggers if isinstance(triggers, list) else [triggers]:
            trigger = self.trigger(t, spec, where)
            if trigger is not None:
                source.on(trigger)

    def trigger(self, spec: Any, parent: Any, where: str) -> Trigger | None:
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping) or "type" not in spec:
            self.problem(parent, where, "a trigger is a type name or {type: <trigger type>, ...}")
            return None
        name = str(spec["type"])
        at = f"{where} trigger '{name}'"
        config, failed = self.interpolated(spec, at, skip=("type",))
        if failed:
            return None
        config.pop("type")
        try:
            cls = self.registry.load("trigger", name)
        except PluginError as exc:
            self.problem(spec, at, str(exc))
            return None
        from_config: Callable[..., Trigger] | None = getattr(cls, "from_config", None)
        try:
            if from_config is not None:
                return from_config(self.app, config.pop("id", None), config)
            kwargs = self.trigger_arguments(cls, config, spec, at)
            return None if kwargs is None else cls(self.app, **kwargs)
        except ConfigError as exc:
            for p in exc.problems:
                self.problem(spec, at, p)
        except Exception as exc:
            self.problem(spec, at, f"cannot be built: {type(exc).__name__}: {exc}")
        return None

    def trigger_arguments(
        self, cls: type, config: Mapping[str, Any], spec: Any, where: str
    ) -> dict[str, Any] | None:
        """Constructor arguments from the keys, converted to the annotated types."""
        from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError

        parameters = list(inspect.signature(cls).parameters.values())[1:]  # after app
        accepted = {p.name: p for p in parameters if p.kind is not p.VAR_POSITIONAL}
        ok = True
        for key in config:
            if key not in accepted:
                self.problem(spec, where, unknown_key_message(key, list(accepted)))
                ok = False
        for name, p in accepted.items():
            if p.default is p.empty and name not in config:
                self.problem(spec, where, f"key '{name}': required key is missing")
                ok = False
        if not ok:
            return None
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for key, value in config.items():
            hint = hints.get(key)
            if hint is not None:
                try:
                    adapter: TypeAdapter[Any] = TypeAdapter(
                        hint, config=ConfigDict(arbitrary_types_allowed=True)
                    )
                except (PydanticSchemaGenerationError, TypeError):
                    adapter = TypeAdapter(Any)  # a type pydantic cannot check: pass it as is
                try:
                    value = adapter.validate_python(value)
                except ValidationError as exc:
                    self.problem(
                        spec, where, f"key '{key}': {exc.errors()[0]['msg']} (got {value!r})"
                    )
                    ok = False
                    continue
            kwargs[key] = value
        return kwargs if ok else None

    # -- cross-pipeline checks ------------------------------------------------------------------

    def check_routes(self, pipelines: Mapping[str, Any]) -> None:
        """A router's or tee's `target` must name a declared pipeline."""
        for pipeline in self.app.Pipelines.values():
            for component in pipeline.components():
                target = component.Config.get("target")
                if not isinstance(target, str) or not target:
                    continue
                pid = target.split(".", 1)[0]
                if pid not in pipelines:
                    self.problem(
                        None,
                        component.location(),
                        f"key 'target': unknown pipeline '{pid}' (declared: "
                        f"{', '.join(map(str, pipelines))})",
                    )


def _references(config: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(key, kind, id) of the connections and lookups a component's keys name."""
    references = [
        ("connection", "connection", config.get("connection")),
        ("lookup", "lookup", config.get("lookup")),
    ]
    lookups = config.get("lookups")
    if isinstance(lookups, Mapping):
        references += [(f"lookups.{k}", "lookup", v) for k, v in lookups.items()]
    return references


def _null_type(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """`type: null` is YAML's None: it means the sink called "null"."""
    if "type" in spec and spec["type"] is None:
        return LocatedDict.like(spec, {**spec, "type": "null"})
    return spec


def _default_id(spec: Any, kind: str) -> str:
    """A component's id when the spec gives none: its type, or its class's name."""
    if isinstance(spec, Mapping):
        spec = _null_type(spec)
        if spec.get("type"):
            return str(spec["type"])
        if spec.get("class"):
            return str(spec["class"]).replace(":", ".").rsplit(".", 1)[-1]
    return kind


def _hints(cls: type) -> dict[str, Any]:
    """The constructor's annotations that can be evaluated (others are not converted)."""
    module = inspect.getmodule(cls)
    namespace = {**typing.__dict__, **vars(module)} if module else dict(typing.__dict__)
    out: dict[str, Any] = {}
    for name, p in inspect.signature(cls).parameters.items():
        annotation = p.annotation
        if annotation is p.empty:
            continue
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # the class's own annotation text
            except Exception:
                continue
        out[name] = annotation
    return out
