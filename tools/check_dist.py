"""Check built distributions before they are published: only the package, complete metadata.

    python tools/check_dist.py dist/*.whl dist/*.tar.gz

A wheel may hold its import packages and its .dist-info, nothing else: no tests, caches,
compiled files or stray top-level files. Its metadata needs a license expression with the
license file, authors, the project URLs, a Development Status classifier, and a long
description without links relative to the repository (they break on the package index).
An sdist may hold tests, but no caches. Prints every problem; exit code 1 if there is any.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

CACHE_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
TEST_PARTS = {"tests", "test", "testing_fixtures", "fixture_dists"}
COMPILED = (".pyc", ".pyo")
PROJECT_URLS = ("Homepage", "Documentation", "Source", "Issues")
# A markdown link or image whose target is neither absolute nor an anchor.
RELATIVE_LINK = re.compile(r"!?\[[^\]]*\]\((?!https?://|mailto:|#)([^)\s]+)\)")


def wheel_problems(path: Path) -> list[str]:
    """What is wrong with one wheel (empty when nothing)."""
    problems: list[str] = []
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        dist_info = sorted(
            {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        )
        if len(dist_info) != 1:
            return [f"{path.name}: expected one .dist-info folder, found {dist_info}"]
        info = dist_info[0]
        for name in names:
            parts = PurePosixPath(name).parts
            if parts[0] == info:
                continue
            if len(parts) == 1:
                problems.append(f"{path.name}: stray top-level file {name}")
            if CACHE_PARTS & set(parts) or name.endswith(COMPILED):
                problems.append(f"{path.name}: cache or compiled file {name}")
            if TEST_PARTS & set(parts) or PurePosixPath(name).name == "conftest.py":
                problems.append(f"{path.name}: test file {name}")
            if any(p.startswith(".") for p in parts):
                problems.append(f"{path.name}: hidden file {name}")
        if f"{info}/licenses/LICENSE" not in names:
            problems.append(f"{path.name}: the LICENSE file is not in {info}/licenses/")
        metadata = wheel.read(f"{info}/METADATA").decode()
    problems += [f"{path.name}: {p}" for p in metadata_problems(metadata)]
    return problems


def metadata_problems(text: str) -> list[str]:
    """What the core metadata (METADATA / PKG-INFO) lacks."""
    message = HeaderParser().parsestr(text)
    problems: list[str] = []
    if not message.get("License-Expression"):
        problems.append("no License-Expression")
    if not message.get_all("License-File"):
        problems.append("no License-File")
    if not (message.get("Author") or message.get("Author-email")):
        problems.append("no Author")
    urls = {u.split(",", 1)[0].strip() for u in message.get_all("Project-URL") or []}
    problems += [f"no Project-URL {label}" for label in PROJECT_URLS if label not in urls]
    classifiers = message.get_all("Classifier") or []
    if not any(c.startswith("Development Status ::") for c in classifiers):
        problems.append("no Development Status classifier")
    description = message.get_payload()
    if not isinstance(description, str) or not description.strip():
        problems.append("no long description")
    else:
        relative = RELATIVE_LINK.findall(description)
        if relative:
            problems.append(f"links relative to the repository in the long description: {relative}")
    return problems


def sdist_problems(path: Path) -> list[str]:
    """What is wrong with one sdist (empty when nothing)."""
    problems: list[str] = []
    with tarfile.open(path) as sdist:
        members = sdist.getmembers()
        for member in members:
            parts = PurePosixPath(member.name).parts
            if CACHE_PARTS & set(parts) or member.name.endswith(COMPILED):
                problems.append(f"{path.name}: cache or compiled file {member.name}")
            if member.issym() or member.islnk():
                problems.append(f"{path.name}: link {member.name} (installers refuse them)")
        top = PurePosixPath(members[0].name).parts[0] if members else ""
        if f"{top}/LICENSE" not in {m.name for m in members}:
            problems.append(f"{path.name}: no LICENSE at its top")
    return problems


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: python tools/check_dist.py DIST...", file=sys.stderr)
        return 2
    problems: list[str] = []
    for name in paths:
        path = Path(name)
        if path.suffix == ".whl":
            problems += wheel_problems(path)
        elif path.name.endswith(".tar.gz"):
            problems += sdist_problems(path)
        else:
            problems.append(f"{path.name}: not a wheel or an sdist")
    for problem in problems:
        print(problem)
    if not problems:
        print(f"check_dist: {len(paths)} distributions are clean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
