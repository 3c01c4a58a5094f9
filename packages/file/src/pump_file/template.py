"""Output path templates: `out/{date:%Y-%m-%d}/{country}/part-{n:04d}.jsonl`.

Fields:
- `{date:...}` / `{time:...}` / `{now:...}` — the current time (a datetime; UTC or local);
- `{n}` — the part number, raised on each rotation and whenever a file by that name exists;
- `{pipeline}`, `{sink}`, `{host}`, `{pid}`;
- `{event[key]}`, `{context[key]}`, or a bare `{key}` — an event field, else a context key.

Values from events and contexts cannot leave the folder the template gives them: path
separators, NUL and the names `.`/`..` are replaced with `_`. A template without `{n}` gets
`-1`, `-2`, ... before its extension when a part must not overwrite an existing file.
"""

from __future__ import annotations

import os
import re
import socket
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: Stands for the part number in a rendered key, until a part is opened.
N_MARK = "\x00"

_TIME_FIELDS = {"date", "time", "now"}
_FIXED_FIELDS = {"pipeline", "sink", "host", "pid"}


class TemplateError(ValueError):
    """A template field is missing from the event and its context, or the template is malformed."""


def safe(value: Any) -> Any:
    """A value from an event or context, made harmless as (part of) one path component."""
    if isinstance(value, str):
        cleaned = value.replace("/", "_").replace("\\", "_").replace(N_MARK, "_")
        return "_" if cleaned in ("", ".", "..") else cleaned
    return value


class _SafeView:
    """`{event[key]}` / `{context[key]}`: item access returning sanitised values."""

    __slots__ = ("_data", "_what")

    def __init__(self, data: Any, what: str) -> None:
        self._data = data
        self._what = what

    def __getitem__(self, key: str) -> Any:
        try:
            return safe(self._data[key])
        except (KeyError, IndexError, TypeError):
            raise TemplateError(f"the {self._what} has no field '{key}'") from None


class _Fields(Mapping[str, Any]):
    """What `str.format_map` sees when a template is rendered."""

    __slots__ = ("context", "event", "fixed", "now")

    def __init__(self, fixed: dict[str, Any], now: datetime, event: Any, context: Any) -> None:
        self.fixed = fixed
        self.now = now
        self.event = event
        self.context = context

    def __getitem__(self, key: str) -> Any:
        if key in self.fixed:
            return self.fixed[key]
        if key in _TIME_FIELDS:
            return self.now
        if key == "event":
            return _SafeView(self.event, "event")
        if key == "context":
            return _SafeView(self.context, "context")
        event = self.event
        if isinstance(event, Mapping) and key in event:
            return safe(event[key])
        context = self.context
        if context is not None and key in context:
            return safe(context[key])
        raise TemplateError(f"'{{{key}}}' is neither a field of the event nor a context key")

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


class PathTemplate:
    """Renders paths from a template; `key()` gives a path with the part number still open."""

    def __init__(
        self, template: str, *, pipeline: str = "", sink: str = "", utc: bool = True
    ) -> None:
        self.template = template
        self.utc = utc
        self.n_spec = ""
        self.n_conversion: str | None = None
        self.has_n = False
        fields: set[str] = set()
        pieces: list[str] = []
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise TemplateError(f"template {template!r}: {exc}") from None
        for literal, name, spec, conversion in parsed:
            pieces.append(literal.replace("{", "{{").replace("}", "}}"))
            if name is None:
                continue
            root = re.split(r"[.\[]", name, maxsplit=1)[0]
            if not root:
                raise TemplateError(
                    f"template {template!r}: a field needs a name ({{}} is not allowed)"
                )
            fields.add(root)
            if root == "n":
                self.has_n = True
                self.n_spec, self.n_conversion = spec or "", conversion
                pieces.append("{__n__}")
                continue
            pieces.append(
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
        self.fields = fields
        #: True when the path depends on the event or its context (rendered per event).
        self.per_event = bool(fields - _TIME_FIELDS - _FIXED_FIELDS - {"n"})
        self.per_time = bool(fields & _TIME_FIELDS)
        self._format = "".join(pieces)
        self._regex: re.Pattern[str] | None = None
        self._fixed = {
            "pipeline": safe(pipeline),
            "sink": safe(sink),
            "host": safe(socket.gethostname()),
            "pid": os.getpid(),
            "__n__": N_MARK,
        }
        # Fail now on a template that cannot render at all (a bad date format, ...).
        probe_event: dict[str, Any] = {}
        probe = _Fields(self._fixed, self.now(), probe_event, {})
        if not self.per_event:
            try:
                self._format.format_map(probe)
            except (ValueError, TypeError, AttributeError) as exc:
                raise TemplateError(f"template {template!r}: {exc}") from None

    def now(self) -> datetime:
        """The time templates are rendered with."""
        return datetime.now(UTC) if self.utc else datetime.now().astimezone()

    def key(self, now: datetime, event: Any = None, context: Any = None) -> str:
        """The path, with `N_MARK` where the part number goes (if the template has `{n}`)."""
        try:
            return self._format.format_map(_Fields(self._fixed, now, event, context))
        except TemplateError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            raise TemplateError(f"template {self.template!r}: {exc}") from None

    def path(self, key: str, n: int) -> str:
        """The path of part `n` of `key`."""
        if self.has_n:
            value: Any = n
            if self.n_conversion == "s":
                value = str(n)
            elif self.n_conversion == "r":
                value = repr(n)
            return key.replace(N_MARK, format(value, self.n_spec))
        if n == 0:
            return key
        head, tail = os.path.split(key)
        stem, dot, ext = tail.partition(".")
        return os.path.join(head, f"{stem}-{n}{dot}{ext}")

    def static_prefix(self) -> str:
        """The folder every rendered path lies in (the template's text before its first field)."""
        first = self._format.find("{")
        while first != -1 and self._format[first : first + 2] == "{{":
            first = self._format.find("{", first + 2)
        head = self._format if first == -1 else self._format[:first]
        head = head.replace("{{", "{").replace("}}", "}")
        return os.path.dirname(head) or "."

    def matches(self, path: str) -> bool:
        """True when `path` could be a part this template renders (any field values, any n)."""
        if self._regex is None:
            out = []
            for literal, name, _spec, _conversion in string.Formatter().parse(self.template):
                out.append(re.escape(literal))
                if name is not None:
                    out.append(".*")
            self._regex = re.compile("".join(out) + r"\Z", re.DOTALL)
        if self._regex.match(path):
            return True
        if self.has_n:
            return False
        # without {n}, parts after the first have -1, -2, ... before the extension
        head, tail = os.path.split(path)
        stem, dot, ext = tail.partition(".")
        unnumbered = re.sub(r"-\d+\Z", "", stem)
        return unnumbered != stem and bool(
            self._regex.match(os.path.join(head, unnumbered + dot + ext))
        )
