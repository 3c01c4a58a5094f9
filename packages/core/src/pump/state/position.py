"""Where a batch's events are in their source: the partition, the ordered stream, the positions."""

from __future__ import annotations

from typing import NamedTuple


class StreamPosition(NamedTuple):
    """The place of a run of events in a source, as `Source.stream_position` describes it.

    `partition` is the unit of ownership of state (a Kafka topic-partition; "" for a source
    that is not partitioned): a stateful processor keeps one key space per partition, and a
    partition's state moves with it on a rebalance. `stream` names an ordered sequence of
    positions (a Kafka topic-partition, one file); `first` and `last` are the positions of the
    run's first and last events, and `field` is the context key holding each event's position.
    Positions grow along a stream; restored state skips events at or below its checkpoint's.
    """

    partition: str
    stream: str
    first: int
    last: int
    field: str
