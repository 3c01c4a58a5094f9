"""pump_elastic.testing: a protocol-level Elasticsearch stand-in for tests, with fault injection.

    from pump_elastic.testing import ElasticsearchTestServer

    server = ElasticsearchTestServer()
    url = server.start_in_thread()
    server.faults.fail_items(400, count=1)     # the next bulk item fails with a mapping error
    ...
    server.stop_thread()

It speaks the REST subset the pump-elastic components use (root info, bulk, search with
point in time and search_after, mget, msearch, count, aggregations, index templates, cluster
health), following the Elasticsearch reference; it is no search engine (no scoring, no text
analysis beyond words). `python -m pump_elastic.testing --port 9200` serves from a process of
its own. Needs aiohttp (`pip install pump-elastic[testing]`).
"""

from pump_elastic.testing.faults import Faults
from pump_elastic.testing.server import ElasticsearchTestServer

__all__ = ["ElasticsearchTestServer", "Faults"]
