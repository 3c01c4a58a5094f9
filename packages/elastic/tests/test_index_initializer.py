"""ElasticsearchIndexInitializer: templates put and indices created before events flow."""

from __future__ import annotations

from typing import Any

import pump
from pump_elastic import ElasticsearchConnection, ElasticsearchIndexInitializer


async def test_templates_and_indices_exist_after_start_and_again_is_fine(es: Any) -> None:
    prefix = es.index("tpl")
    app = pump.Application()
    app.add_connection(ElasticsearchConnection(app, "es", config=es.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    config = {
        "templates": [
            {
                "name": prefix,
                "index_patterns": [f"{prefix}-*"],
                "mappings": {"properties": {"n": {"type": "long"}}},
            }
        ],
        "indices": [f"{prefix}-one"],
    }
    initializer = ElasticsearchIndexInitializer(app, pipeline, "es", config=config)
    assert await initializer.initialize() == [f"{prefix}-one"]
    assert await initializer.initialize() == [], "existing indices are left alone"
    assert es.client.indices.exists_index_template(name=prefix)
    mapping = es.client.indices.get_mapping(index=f"{prefix}-one")
    assert mapping[f"{prefix}-one"]["mappings"]["properties"]["n"]["type"] == "long"
    assert initializer.process({}, {"x": 1}) == {"x": 1}
