"""The contract suites of pump.testing against core's in-memory source and sink."""

from pump.common import IteratorSource, ListSink
from pump.testing import SinkContract, SourceContract


class TestIteratorSource(SourceContract):
    bad_configs = ({"batch_size": 0},)

    def prepare(self):
        self.produced = []

    def make_source(self, app, pipeline, config=None):
        return IteratorSource(app, pipeline, lambda: list(self.produced), config=config)

    def produce(self, events):
        self.produced.extend(events)


class TestListSink(SinkContract):
    def prepare(self):
        self.sinks = []

    def make_sink(self, app, pipeline, config=None):
        sink = ListSink(app, pipeline, config=config)
        self.sinks.append(sink)
        return sink

    def read_back(self):
        return [event for sink in self.sinks for event in sink.events]
