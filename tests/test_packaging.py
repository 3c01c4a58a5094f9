"""Every package is publish-ready: one version place, complete metadata, clean wheels."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent for p in ROOT.glob("packages/*/pyproject.toml"))
REPOSITORY = "https://github.com/pump-dev/pump"
CHECK_DIST = ROOT / "tools" / "check_dist.py"


def project(package: Path) -> dict:
    with (package / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def version_file(package: Path) -> Path:
    return package / project(package)["tool"]["hatch"]["version"]["path"]


def written_version(package: Path) -> str:
    """`__version__ = "..."` as written in the package's version file."""
    tree = ast.parse(version_file(package).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            "__version__"
        ]:
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(f"{version_file(package)} has no __version__")


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_the_version_is_written_in_one_place(package: Path) -> None:
    meta = project(package)["project"]
    assert "version" not in meta, f"{package.name}: pyproject.toml must not repeat the version"
    assert "version" in meta["dynamic"]
    assert version_file(package).is_file()
    name = meta["name"]
    import_name = version_file(package).parent.name
    module = __import__(import_name)
    assert module.__version__ == written_version(package)
    assert importlib.metadata.version(name) == module.__version__, (
        f"{name}: installed metadata says {importlib.metadata.version(name)}, the package "
        f"{module.__version__} (reinstall it)"
    )


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_pump_core_range_matches_its_version(package: Path) -> None:
    core = Version(written_version(ROOT / "packages" / "core"))
    next_minor = Version(f"{core.major}.{core.minor + 1}")
    required = [
        Requirement(r)
        for r in project(package)["project"].get("dependencies", [])
        if Requirement(r).name == "pump-core"
    ]
    if package.name == "core":
        assert not required
        return
    assert len(required) == 1, f"{package.name} must depend on pump-core once"
    specifier = required[0].specifier
    assert core in specifier, f"{package.name}: {specifier} excludes pump-core {core}"
    assert next_minor not in specifier, f"{package.name}: {specifier} admits pump-core {next_minor}"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_metadata_is_complete(package: Path) -> None:
    meta = project(package)["project"]
    assert meta["license"] == "Apache-2.0"
    assert meta["license-files"] == ["LICENSE"]
    assert (package / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes(), (
        f"packages/{package.name}/LICENSE differs from the root LICENSE (copy it again)"
    )
    assert meta["authors"]
    assert set(meta["urls"]) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(url.startswith(REPOSITORY) for url in meta["urls"].values())
    assert any(c.startswith("Development Status ::") for c in meta["classifiers"])


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_readme_links_are_absolute(package: Path) -> None:
    """The README is the long description on the package index: no links into the repository."""
    text = (package / "README.md").read_text()
    relative = re.findall(r"!?\[[^\]]*\]\((?!https?://|mailto:|#)([^)\s]+)\)", text)
    assert not relative, f"packages/{package.name}/README.md links relatively: {relative}"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory, uv: str) -> list[Path]:
    """A wheel of every package, built as `nox -s build` builds them."""
    out = tmp_path_factory.mktemp("dist")
    for package in PACKAGES:
        subprocess.run(
            [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(package)],
            check=True,
        )
    return sorted(out.glob("*.whl"))


def test_wheels_hold_only_the_package(wheels: list[Path]) -> None:
    assert len(wheels) == len(PACKAGES)
    checked = subprocess.run(
        [sys.executable, str(CHECK_DIST), *map(str, wheels)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
        assert not [n for n in names if "/tests/" in n or "__pycache__" in n], names


def test_the_check_finds_tests_caches_and_missing_metadata(
    wheels: list[Path], tmp_path: Path
) -> None:
    """tools/check_dist.py fails a wheel with stray files or a README linking relatively."""
    source = next(w for w in wheels if w.name.startswith("pump_core-"))
    bad = tmp_path / source.name
    with zipfile.ZipFile(source) as good, zipfile.ZipFile(bad, "w") as out:
        for item in good.infolist():
            data = good.read(item)
            if item.filename.endswith("/METADATA"):
                data = data.replace(b"Project-URL: Issues", b"Project-URL: Tracker")
                data += b"\nSee [the guide](docs/guide.md).\n"
            out.writestr(item, data)
        out.writestr("pump/__pycache__/cli.cpython-311.pyc", b"")
        out.writestr("tests/test_x.py", b"")
        out.writestr("setup.cfg", b"")
    checked = subprocess.run(
        [sys.executable, str(CHECK_DIST), str(bad)], capture_output=True, text=True
    )
    assert checked.returncode == 1
    for expected in (
        "cache or compiled file pump/__pycache__/cli.cpython-311.pyc",
        "test file tests/test_x.py",
        "stray top-level file setup.cfg",
        "no Project-URL Issues",
        "links relative to the repository in the long description: ['docs/guide.md']",
    ):
        assert expected in checked.stdout, checked.stdout
