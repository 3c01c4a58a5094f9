"""A YAML pipeline built from the registered names, run against the cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from pump import declarative
from pump_elastic import ElasticsearchConnection, ElasticsearchSink

SECRET = "yaml-s3cret"


def test_a_yaml_pipeline_builds_with_secrets_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        "  es: {type: elasticsearch, url: 'http://127.0.0.1:9200', username: elastic,\n"
        "       password: '${ES_PASSWORD}', request_timeout: 5}\n"
        "pipelines:\n"
        "  load:\n"
        "    source: {type: file.jsonl, path: /nonexistent/*.jsonl}\n"
        "    sink: {type: elasticsearch, connection: es, index: 'logs-{%Y.%m}',\n"
        "           data_feeder: update}\n"
    )
    app = declarative.build_file(path, environ={"ES_PASSWORD": SECRET})
    connection = app.Connections["es"]
    assert isinstance(connection, ElasticsearchConnection)
    assert connection.client_options()["basic_auth"] == ("elastic", SECRET)
    assert SECRET not in repr(connection.Config)
    sink = app.Pipelines["load"].sink
    assert isinstance(sink, ElasticsearchSink) and sink.Config.data_feeder == "update"


async def test_a_yaml_pipeline_loads_a_file_into_the_cluster(es: Any, tmp_path: Path) -> None:
    index = es.index()
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl").write_bytes(
        b"".join(orjson.dumps({"_id": f"y{i}", "n": i}) + b"\n" for i in range(500))
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        f"  es: {{type: elasticsearch, url: '{es.url}'}}\n"
        "pipelines:\n"
        "  load:\n"
        f"    source: {{type: file.jsonl, path: '{data}/*.jsonl', post_process: keep,\n"
        f"             position_dir: '{tmp_path}/pos'}}\n"
        f"    sink: {{type: elasticsearch, connection: es, index: {index}}}\n"
    )
    app = declarative.build_file(path)
    code = await app.main()
    assert code == 0
    docs = es.docs(index)
    assert len(docs) == 500 and docs["y42"] == {"n": 42}
