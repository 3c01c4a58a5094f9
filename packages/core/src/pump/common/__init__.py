"""Common processors, sources and sinks: JSON, text, flattening, mapping, filtering, aggregation,
routing; under BSPump's names too (`bspump.common.X` is `pump.common.X`)."""

from pump.common.aggregation import (
    AggregationStrategy,
    DictAggregationStrategy,
    ListAggregationStrategy,
    ListEventAggregationStrategy,
    StringAggregationStrategy,
)
from pump.common.aggregator import Aggregator
from pump.common.encoding import BytesToStringParser, StringToBytesParser
from pump.common.filtering import FilterProcessor
from pump.common.flatten import FlattenDictProcessor, flatten
from pump.common.function import FunctionProcessor
from pump.common.hexlify import HexlifyProcessor
from pump.common.iterator import IteratorSource
from pump.common.jsoncodec import (
    DictToJsonBytesParser,
    DictToJsonParser,
    JsonBytesToDictParser,
    JsonParser,
    JsonSerializer,
    JsonToDictParser,
    StdDictToJsonParser,
    StdJsonToDictParser,
)
from pump.common.listsink import ListSink
from pump.common.mapping import (
    MapItemsProcessor,
    MapKeysProcessor,
    MappingItemsGenerator,
    MappingItemsProcessor,
    MappingKeysGenerator,
    MappingKeysProcessor,
    MappingValuesGenerator,
    MappingValuesProcessor,
    MapValuesProcessor,
)
from pump.common.null import CountingSink, NullSink
from pump.common.printing import (
    PPrintContextProcessor,
    PPrintProcessor,
    PPrintSink,
    PrintContextProcessor,
    PrintProcessor,
    PrintSink,
)
from pump.common.splitting import IteratorGenerator, SplitGenerator
from pump.common.timezone import TimeZoneNormalizer
from pump.routing import InternalSource, RouterSink, TeeProcessor, TeeSource

__all__ = [
    "AggregationStrategy",
    "Aggregator",
    "BytesToStringParser",
    "CountingSink",
    "DictAggregationStrategy",
    "DictToJsonBytesParser",
    "DictToJsonParser",
    "FilterProcessor",
    "FlattenDictProcessor",
    "FunctionProcessor",
    "HexlifyProcessor",
    "InternalSource",
    "IteratorGenerator",
    "IteratorSource",
    "JsonBytesToDictParser",
    "JsonParser",
    "JsonSerializer",
    "JsonToDictParser",
    "ListAggregationStrategy",
    "ListEventAggregationStrategy",
    "ListSink",
    "MapItemsProcessor",
    "MapKeysProcessor",
    "MapValuesProcessor",
    "MappingItemsGenerator",
    "MappingItemsProcessor",
    "MappingKeysGenerator",
    "MappingKeysProcessor",
    "MappingValuesGenerator",
    "MappingValuesProcessor",
    "NullSink",
    "PPrintContextProcessor",
    "PPrintProcessor",
    "PPrintSink",
    "PrintContextProcessor",
    "PrintProcessor",
    "PrintSink",
    "RouterSink",
    "SplitGenerator",
    "StdDictToJsonParser",
    "StdJsonToDictParser",
    "StringAggregationStrategy",
    "StringToBytesParser",
    "TeeProcessor",
    "TeeSource",
    "TimeZoneNormalizer",
    "flatten",
]
