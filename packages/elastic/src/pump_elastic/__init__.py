"""pump-elastic: Elasticsearch connection, bulk sink, sources and lookup for Pump."""

from pump_elastic.aggs_source import ElasticsearchAggsSource, flatten
from pump_elastic.connection import ElasticsearchConnection
from pump_elastic.errors import (
    BulkItemError,
    BulkItemRejected,
    ClusterUnavailable,
    ElasticsearchConnectorError,
)
from pump_elastic.index_initializer import ElasticsearchIndexInitializer
from pump_elastic.lookup import ElasticsearchLookup
from pump_elastic.sink import ElasticsearchSink
from pump_elastic.source import ElasticsearchSource

__version__ = "0.1.0"

__all__ = [
    "BulkItemError",
    "BulkItemRejected",
    "ClusterUnavailable",
    "ElasticsearchAggsSource",
    "ElasticsearchConnection",
    "ElasticsearchConnectorError",
    "ElasticsearchIndexInitializer",
    "ElasticsearchLookup",
    "ElasticsearchSink",
    "ElasticsearchSource",
    "flatten",
]
