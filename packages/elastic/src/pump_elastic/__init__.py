"""pump-elastic: Elasticsearch connection, bulk sink, sources and lookup for Pump."""

from pump_elastic.connection import ElasticsearchConnection
from pump_elastic.errors import BulkItemError, ClusterUnavailable, ElasticsearchConnectorError
from pump_elastic.sink import ElasticsearchSink

__version__ = "0.1.0"

__all__ = [
    "BulkItemError",
    "ClusterUnavailable",
    "ElasticsearchConnection",
    "ElasticsearchConnectorError",
    "ElasticsearchSink",
]
