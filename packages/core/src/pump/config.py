"""Typed component configuration: class defaults < app config section < constructor `config=`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, create_model

from pump.errors import ConfigError

SECRET_MASK = "*****"

#: Custom (untyped) keys whose name says they hold a secret, masked like typed secrets.
_SECRET_NAME = re.compile(r"pass|secret|token|credential|key$", re.IGNORECASE)


class ComponentConfig(BaseModel):
    """Base of every component's config model; unknown keys are errors, values are typed."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, arbitrary_types_allowed=True
    )

    def __getitem__(self, key: str) -> Any:
        """BSPump-style `self.Config["key"]` access."""
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.model_extra
        if extra is not None and key in extra:
            return extra[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a key's value, or `default` if the key is not set."""
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.keys())

    def keys(self) -> list[str]:
        """Declared keys, then custom keys (see `with_custom_keys`)."""
        return [*type(self).model_fields, *(self.model_extra or ())]

    def masked(self) -> dict[str, Any]:
        """The config as a dict with every secret masked (safe to log); a URL keeps all but
        its credentials (`amqp://guest:*****@host/`)."""
        out: dict[str, Any] = {}
        for key in type(self).model_fields:
            value = getattr(self, key)
            out[key] = mask_secret(value) if is_secret(type(self), key) and value else value
        for key, value in (self.model_extra or {}).items():
            out[key] = SECRET_MASK if _SECRET_NAME.search(key) and value else value
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked()!r})"

    __str__ = __repr__


def mask_secret(value: Any) -> str:
    """A secret as it may be shown: empty stays empty; a URL keeps all but its password."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "":
        return ""
    text = str(value)
    if "://" in text:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(text)
            password = parts.password
        except ValueError:
            return SECRET_MASK
        netloc = parts.netloc
        if "@" in netloc:
            host = netloc.rpartition("@")[2]
            user = parts.username or ""
            credentials = f"{user}:{SECRET_MASK}" if password is not None else SECRET_MASK
            netloc = f"{credentials}@{host}"
        # a query may carry a token too: only its presence is shown
        query = SECRET_MASK if parts.query else ""
        return parts._replace(netloc=netloc, query=query, fragment="").geturl()
    return SECRET_MASK


def is_advanced(model: type[BaseModel], key: str) -> bool:
    """True when a field is marked `json_schema_extra={'advanced': True}` (rarely needed)."""
    extra = model.model_fields[key].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("advanced"))


def is_secret(model: type[BaseModel], key: str) -> bool:
    """True when a field holds a secret (a SecretStr, or `json_schema_extra={'secret': True}`)."""
    field = model.model_fields[key]
    if field.annotation is SecretStr:
        return True
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def model_from_defaults(
    name: str, base: type[ComponentConfig], defaults: Mapping[str, Any]
) -> type[ComponentConfig]:
    """Build a config model from a BSPump-style `ConfigDefaults` dict, typed by the defaults."""
    fields: dict[str, Any] = {}
    for key, value in defaults.items():
        if key in base.model_fields:
            annotation = base.model_fields[key].annotation
        else:
            annotation = Any if value is None else type(value)
        fields[key] = (annotation, value)
    model: type[ComponentConfig] = create_model(name, __base__=base, **fields)
    return model


def build_config(
    model: type[ComponentConfig], where: str, *layers: Mapping[str, Any] | None
) -> ComponentConfig:
    """Validate the merged layers against `model`; raise ConfigError listing every problem."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            merged.update(layer)
    try:
        config = model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(where, describe_validation_error(exc, model, layers)) from None
    if config.model_extra:
        misspelt = _misspelt_keys(config.model_extra, model)
        if misspelt:
            raise ConfigError(where, misspelt)
    return config


ConfigT = TypeVar("ConfigT", bound=ComponentConfig)


def with_custom_keys(model: type[ConfigT]) -> type[ConfigT]:
    """`model`, also keeping keys it does not declare, as given (BSPump/ASAB config sections).

    A key that looks like a misspelt declared key is still an error.
    """
    if model.model_config.get("extra") == "allow":
        return model
    name = model.__name__
    open_model: type[ConfigT] = type(
        name, (model,), {"model_config": ConfigDict(extra="allow"), "__module__": model.__module__}
    )
    return open_model


def _misspelt_keys(extra: Mapping[str, Any], model: type[BaseModel]) -> list[str]:
    problems = []
    for key in extra:
        close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.8)
        if close:
            problems.append(f"key '{key}': unknown key; did you mean '{close[0]}'?")
    return problems


def describe_validation_error(
    exc: ValidationError,
    model: type[BaseModel],
    layers: tuple[Mapping[str, Any] | None, ...] = (),
) -> list[str]:
    """Turn pydantic errors into one line per problem, never echoing a secret value.

    A key whose value came from a config file (a layer with `origins`, see
    `pump.configfile.ConfigSection`) is followed by `(from FILE [section])`.
    """
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(config)"
        top = str(err["loc"][0]) if err["loc"] else ""
        origin = _origin(top, layers)
        if err["type"] == "extra_forbidden":
            problems.append(unknown_key_message(key, list(model.model_fields)) + origin)
            continue
        if err["type"] == "missing":
            # The "input" of a missing key is the whole config, secrets included: never shown.
            problems.append(f"key '{key}': required key is missing{origin}")
            continue
        if top not in model.model_fields:
            # A check of the whole model: its input is every key, secrets included.
            problems.append(f"{err['msg'].removeprefix('Value error, ')}{origin}")
            continue
        value = err.get("input")
        if is_secret(model, top):
            value = SECRET_MASK
        problems.append(f"key '{key}': {err['msg']} (got {value!r}){origin}")
    return problems


def unknown_key_message(key: str, known: list[str]) -> str:
    """`key 'x': unknown key; did you mean 'y'? (known keys: ...)`."""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"key '{key}': unknown key{hint} (known keys: {', '.join(known) or 'none'})"


def _origin(key: str, layers: tuple[Mapping[str, Any] | None, ...]) -> str:
    """` (from FILE [section])` when the layer that gave `key` its value was read from a file."""
    for layer in reversed(layers):
        if layer and key in layer:
            origins: Mapping[str, str] = getattr(layer, "origins", None) or {}
            return f" (from {origins[key]})" if key in origins else ""
    return ""


class Configurable:
    """Mixin giving a class a typed `ConfigModel`, extendable BSPump-style via `ConfigDefaults`."""

    ConfigModel: ClassVar[type[ComponentConfig]] = ComponentConfig
    ConfigDefaults: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defaults = cls.__dict__.get("ConfigDefaults")
        if defaults:
            cls.ConfigModel = model_from_defaults(
                f"{cls.__name__}Config", cls.ConfigModel, defaults
            )
