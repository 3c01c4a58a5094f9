"""The docs say what the code does: generated config tables are fresh, `examples=` values are
valid, and every YAML pipeline in a README or docs/*.md passes `pump validate`.

The YAML check builds each file as `pump validate` does: every type, key, connection and lookup
is checked, nothing is started (so a Kafka or RabbitMQ pipeline needs no server). A user module
the snippet names as an illustration (`mypkg.enrich:process`) is stood in for by a stub.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pump.configref import MARKER, bad_examples, render_spec, rewrite, stale
from pump.describe import describe_class, render_markdown
from pump.pipeline import PipelineConfig
from pump.plugins import KINDS, Registry

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted(
    {
        *ROOT.glob("README.md"),
        *ROOT.glob("packages/*/README.md"),
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("examples/*/README.md"),
    }
)
#: READMEs whose config reference must be generated (one table per component at least).
CONNECTOR_READMES = ["core", "file", "kafka", "amqp", "elastic", "mysql", "http"]

YAML_BLOCK = re.compile(r"^```yaml\n(?P<body>.*?)^```", re.DOTALL | re.MULTILINE)

#: Stand-ins for the user modules the snippets name as illustrations.
USER_MODULES = {
    "mypkg/__init__.py": "",
    "mypkg/enrich.py": "def process(event):\n    return event\n",
    "mypkg/sales.py": "def enrich(event, lookup):\n    return event\n",
    "mypkg/orders.py": "def convert(frame):\n    return frame\n",
    "mypkg/geo.py": (
        "def country(event, lookup):\n    return event\n\n\n"
        "def label(context, event, countries, owners):\n    return event\n"
    ),
    "mypkg/processors.py": textwrap.dedent(
        """\
        import pump


        class Enrich(pump.Processor):
            def process(self, context, event):
                return event
        """
    ),
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- generated config tables --------------------------------------------------------------------


@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_the_config_tables_are_generated_from_the_models(path):
    assert stale(path) == [], f"{_rel(path)}: stale config tables; run `nox -s docs`"


@pytest.mark.parametrize("package", CONNECTOR_READMES)
def test_every_package_readme_has_generated_tables_and_no_hand_written_ones(package):
    text = (ROOT / "packages" / package / "README.md").read_text()
    assert MARKER.search(text), f"{package}: no <!-- pump:config ... --> table"
    outside = MARKER.sub("", text)
    assert "| key | default | meaning |" not in outside
    assert "| key | type | default | description |" not in outside


def test_a_changed_model_makes_its_table_stale(tmp_path):
    readme = tmp_path / "README.md"
    table = render_spec("pipeline")
    readme.write_text(f"# x\n\n<!-- pump:config pipeline -->\n{table}\n<!-- /pump:config -->\n")
    assert stale(readme) == []
    edited = table.replace("Source events not yet done", "Events in flight")
    readme.write_text(f"# x\n\n<!-- pump:config pipeline -->\n{edited}\n<!-- /pump:config -->\n")
    assert stale(readme) == ["pipeline"]
    readme.write_text(rewrite(readme.read_text()))
    assert stale(readme) == [] and "Source events not yet done" in readme.read_text()


def test_describe_markdown_prints_the_same_table_as_the_readme():
    registry = Registry(environ={})
    cls = registry.load("sink", "kafka")
    printed = render_markdown(describe_class(cls, "sink", "kafka"))
    assert render_spec("sink:kafka", registry) in printed
    readme = (ROOT / "packages/kafka/README.md").read_text()
    assert render_spec("sink:kafka", registry) in readme


# -- examples= values ---------------------------------------------------------------------------


def _models():
    registry = Registry(environ={})
    models = {PipelineConfig}
    for kind in KINDS:
        for name in registry.names(kind):
            if kind == "trigger" or name.startswith("test."):
                continue
            cls = registry.load(kind, name)
            model = getattr(cls, "ConfigModel", None)
            if model is not None:
                models.add(model)
    return sorted(models, key=lambda m: f"{m.__module__}.{m.__qualname__}")


def test_every_examples_value_is_valid_for_its_field():
    models = _models()
    with_examples = [m for m in models if any(f.examples for f in m.model_fields.values())]
    assert len(with_examples) >= 4, "the first-party models give examples"
    problems = [p for m in models for p in bad_examples(m)]
    assert problems == []


def test_a_bad_example_is_reported():
    from pydantic import Field

    from pump.config import ComponentConfig

    class Config(ComponentConfig):
        port: int = Field(1, gt=0, examples=[8080, "http", -1])

    problems = bad_examples(Config)
    assert len(problems) == 2
    assert "port: example 'http'" in problems[0] and "port: example -1" in problems[1]


# -- YAML snippets ------------------------------------------------------------------------------


def _yaml_blocks(pipelines_only: bool):
    for path in DOC_FILES:
        text = path.read_text()
        for match in YAML_BLOCK.finditer(text):
            if pipelines_only and not re.search(r"^pipelines:", match["body"], re.MULTILINE):
                continue  # a fragment of a larger file: only parsed, by the test below
            line = text.count("\n", 0, match.start()) + 2
            yield pytest.param(path, line, match["body"], id=f"{_rel(path)}:{line}")


@pytest.mark.parametrize("path, line, body", list(_yaml_blocks(pipelines_only=False)))
def test_every_yaml_block_in_the_docs_is_a_yaml_mapping(path, line, body):
    assert isinstance(yaml.safe_load(body), dict), f"{_rel(path)}:{line}: not a YAML mapping"


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    for name, source in USER_MODULES.items():
        target = tmp_path / "user" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path / "user"))
    yield
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


@pytest.mark.parametrize("path, line, body", list(_yaml_blocks(pipelines_only=True)))
def test_every_yaml_pipeline_in_the_docs_is_valid(path, line, body, user_modules, monkeypatch):
    from pump.declarative import build

    data = yaml.safe_load(body)
    # As `pump validate` does: relative paths and user modules beside the file.
    monkeypatch.chdir(path.parent)
    monkeypatch.syspath_prepend(str(path.parent))
    build(data, source=f"{_rel(path)}:{line}", environ={})
