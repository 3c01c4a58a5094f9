"""Finding input files: several glob patterns (`**` recursive), include/exclude filters, order."""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from pump_file.positions import is_position_file

Order = Literal["name", "mtime"]


def as_list(value: str | Sequence[str]) -> list[str]:
    """A config value given as one string or a list of strings, as a list."""
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v]


def matches(path: str, patterns: Iterable[str]) -> bool:
    """True when a pattern matches: patterns with a `/` match the path, others the file name."""
    name = os.path.basename(path)
    for pattern in patterns:
        if fnmatch.fnmatchcase(path if "/" in pattern else name, pattern):
            return True
    return False


def fixed_folder(pattern: str) -> str:
    """The folder a glob pattern starts in: its leading path parts without wildcards."""
    parts = pattern.split("/")[:-1]
    fixed: list[str] = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    if fixed == [""]:
        return "/"
    return "/".join(fixed) or "."


def _files(found: Iterable[str]) -> list[str]:
    return [p for p in found if os.path.isfile(p)]


def _count(n: int, what: str) -> str:
    return f"{n} file{'' if n == 1 else 's'} {what}"


class FileFinder:
    """Lists the files the patterns match, minus files in the lifecycle (locked, done, failed)."""

    def __init__(
        self,
        patterns: Sequence[str],
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        lifecycle_suffixes: Sequence[str] = (),
        order: Order = "name",
    ) -> None:
        self.patterns = list(patterns)
        self.include = list(include)
        self.exclude = list(exclude)
        self.lifecycle_suffixes = tuple(s for s in lifecycle_suffixes if s)
        self.order = order

    def wanted(self, path: str) -> bool:
        """True when include/exclude let `path` (an original, unsuffixed name) through."""
        name = os.path.basename(path)
        if is_position_file(name) or name.endswith(self.lifecycle_suffixes):
            return False
        if self.include and not matches(path, self.include):
            return False
        return not (self.exclude and matches(path, self.exclude))

    def find(self) -> list[str]:
        """Regular files matching the patterns that are wanted, in the configured order."""
        return self._sorted(p for p in self._glob("") if self.wanted(p))

    def find_suffixed(self, suffix: str) -> list[str]:
        """Files renamed with `suffix` (left locked by a dead pump) whose original is wanted."""
        if not suffix:
            return []
        found = []
        for path in self._glob(suffix):
            original = path[: -len(suffix)]
            if path.endswith(suffix) and self.wanted(original):
                found.append(path)
        return self._sorted(found)

    def why_nothing(
        self, pattern: str, set_aside: Mapping[str, str], done: Callable[[str], bool]
    ) -> str:
        """Why `pattern` gives nothing to read: no such folder, no file matches, or what the
        files that match are (`set_aside`: suffix → what a file with it is; `done(path)`: a
        file left in place that was read already)."""
        folder = fixed_folder(pattern)
        if not os.path.isdir(folder):
            return f"no such folder '{folder}'"
        reasons: dict[str, int] = {}
        for suffix, what in set_aside.items():
            for path in _files(glob.iglob(pattern + suffix, recursive=True)):
                if path.endswith(suffix) and self.wanted(path[: -len(suffix)]):
                    reasons[what] = reasons.get(what, 0) + 1
        left_out = 0
        for path in _files(glob.iglob(pattern, recursive=True)):
            if path.endswith(self.lifecycle_suffixes) or is_position_file(os.path.basename(path)):
                continue
            if not self.wanted(path):
                left_out += 1
            elif done(path):
                what = "already processed (kept; read again when they change)"
                reasons[what] = reasons.get(what, 0) + 1
        if left_out:
            reasons["left out by include/exclude"] = left_out
        if not reasons:
            return "no file matches"
        return ", ".join(_count(n, what) for what, n in reasons.items())

    def _glob(self, suffix: str) -> list[str]:
        seen: set[str] = set()
        out = []
        for pattern in self.patterns:
            for path in glob.iglob(pattern + suffix, recursive=True):
                if path not in seen and os.path.isfile(path):
                    seen.add(path)
                    out.append(path)
        return out

    def _sorted(self, paths: Iterable[str]) -> list[str]:
        if self.order == "mtime":
            keyed = []
            for p in paths:
                try:
                    keyed.append((os.stat(p).st_mtime_ns, p))
                except FileNotFoundError:
                    continue
            return [p for _, p in sorted(keyed)]
        return sorted(paths)
