"""Common processors, sources and sinks: JSON, text, flattening, mapping, filtering, aggregation."""

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
    JsonBytesToDictParser,
    JsonParser,
    JsonSerializer,
)
from pump.common.listsink import ListSink
from pump.common.mapping import (
    MappingItemsGenerator,
    MappingItemsProcessor,
    MappingKeysGenerator,
    MappingKeysProcessor,
    MappingValuesGenerator,
    MappingValuesProcessor,
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
from pump.common.timezone import TimeZoneNormalizer

__all__ = [
    "AggregationStrategy",
    "Aggregator",
    "BytesToStringParser",
    "CountingSink",
    "DictAggregationStrategy",
    "DictToJsonBytesParser",
    "FilterProcessor",
    "FlattenDictProcessor",
    "FunctionProcessor",
    "HexlifyProcessor",
    "IteratorSource",
    "JsonBytesToDictParser",
    "JsonParser",
    "JsonSerializer",
    "ListAggregationStrategy",
    "ListEventAggregationStrategy",
    "ListSink",
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
    "StringAggregationStrategy",
    "StringToBytesParser",
    "TimeZoneNormalizer",
    "flatten",
]
