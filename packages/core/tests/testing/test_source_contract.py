"""SourceContract on a redelivering queue source: good passes, broken ones fail their rule."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

import pytest
from pydantic import Field

import pump
from pump.common import IteratorSource
from pump.testing import SourceContract


class MemoryQueue:
    """A broker queue in memory: messages are leased to a consumer until acknowledged.

    Acknowledged messages are gone; messages returned (`requeue`) go back to the front in
    their order, as a broker redelivers unacknowledged messages of a closed channel.
    """

    def __init__(self):
        self.ready = deque()
        self.leased = {}
        self.tags = itertools.count(1)

    def put(self, events):
        self.ready.extend((next(self.tags), event) for event in events)

    def lease(self, n):
        items = [self.ready.popleft() for _ in range(min(n, len(self.ready)))]
        self.leased.update(items)
        return items

    def ack(self, tags):
        for tag in tags:
            self.leased.pop(tag, None)

    def requeue(self, tags):
        returned = sorted((tag, self.leased.pop(tag)) for tag in tags if tag in self.leased)
        self.ready.extendleft(reversed(returned))


class QueueSourceConfig(pump.ComponentConfig):
    batch_size: int = Field(2, ge=1, description="Most messages handed over at once")
    poll_interval: float = Field(0.005, gt=0, description="Seconds between polls of an empty queue")


class MemoryQueueSource(pump.Source):
    """Consumes a MemoryQueue: acknowledge() acks, reject() and stop() return messages."""

    ConfigModel = QueueSourceConfig

    def __init__(self, app, pipeline, id=None, config=None, *, queue):
        super().__init__(app, pipeline, id, config)
        self.queue = queue
        self.outstanding = set()

    async def main(self):
        while True:
            await self.Pipeline.ready()
            items = self.queue.lease(self.Config.batch_size)
            if not items:
                await asyncio.sleep(self.Config.poll_interval)
                continue
            tags = [tag for tag, _ in items]
            self.outstanding.update(tags)
            await self.hand_over(items, tags)

    async def hand_over(self, items, tags):
        await self.emit(
            [event for _, event in items],
            contexts=[{"queue": "memory", "delivery_tag": tag} for tag, _ in items],
            token=tags,
        )

    def acknowledge(self, batch):
        self.outstanding.difference_update(batch.token)
        self.queue.ack(batch.token)

    def reject(self, batch):
        self.outstanding.difference_update(batch.token)
        self.queue.requeue(batch.token)

    async def stop(self):
        self.queue.requeue(list(self.outstanding))
        self.outstanding.clear()


class QueueContract(SourceContract):
    """Wires a source class to a fresh MemoryQueue per test."""

    source_class = MemoryQueueSource
    supports_redelivery = True
    expected_context_keys = ("queue", "delivery_tag")
    bad_configs = [{"batch_size": 0}, {"poll_interval": "often"}]
    timeout = 5.0

    def prepare(self):
        self.queue = MemoryQueue()

    def make_source(self, app, pipeline, config=None):
        return self.source_class(app, pipeline, "queue", config, queue=self.queue)

    def produce(self, events):
        self.queue.put(events)


class TestMemoryQueueSource(QueueContract):
    pass


class TestMemoryQueueSourceProducingWhileRunning(QueueContract):
    produce_after_start = True


class TestIteratorSource(SourceContract):
    """pump.common.IteratorSource: no redelivery (it re-reads its iterable from the start)."""

    expected_context_keys = ("origin",)
    bad_configs = [{"batch_size": 0}]
    timeout = 5.0

    def prepare(self):
        self.origin = []

    def make_source(self, app, pipeline, config=None):
        return IteratorSource(
            app,
            pipeline,
            lambda: list(self.origin),
            config={"batch_size": 2, **(config or {})},
            context={"origin": "list"},
        )

    def produce(self, events):
        self.origin.extend(events)


# -- the broken ones: each fails the rule it breaks ---------------------------------------------


class ImpatientSource(MemoryQueueSource):
    """Hands batches over without waiting for pipeline.ready()."""

    async def main(self):
        while True:
            items = self.queue.lease(self.Config.batch_size)
            if not items:
                await asyncio.sleep(self.Config.poll_interval)
                continue
            tags = [tag for tag, _ in items]
            self.outstanding.update(tags)
            self.Pipeline.process_batch(
                [e for _, e in items],
                contexts=[{"queue": "memory", "delivery_tag": t} for t in tags],
                source=self,
                token=tags,
            )
            await asyncio.sleep(0)


class SelfAckingSource(MemoryQueueSource):
    """Acknowledges each batch as soon as it is handed over."""

    async def hand_over(self, items, tags):
        batch = await self.emit(
            [e for _, e in items],
            contexts=[{"queue": "memory", "delivery_tag": t} for t in tags],
            token=tags,
        )
        if batch is not None:
            self.acknowledge(batch)


class CommitOnHandoverSource(MemoryQueueSource):
    """Acks at the queue once the pipeline took the batch, not once it is done (at-most-once)."""

    async def hand_over(self, items, tags):
        await super().hand_over(items, tags)
        self.queue.ack(tags)
        self.outstanding.difference_update(tags)

    def reject(self, batch):
        pass


class ForgetfulSource(MemoryQueueSource):
    """Never returns rejected or in-flight messages: the broker keeps them leased forever."""

    def reject(self, batch):
        self.outstanding.difference_update(batch.token)

    async def stop(self):
        self.outstanding.clear()


class LazyCommitSource(MemoryQueueSource):
    """Commits acknowledgements every second; stop() drops the ones not committed yet."""

    async def start(self):
        self.to_commit = []
        self.committer = asyncio.get_running_loop().create_task(self.commit_periodically())

    async def commit_periodically(self):
        while True:
            await asyncio.sleep(1.0)
            self.queue.ack(self.to_commit)
            self.to_commit = []

    def acknowledge(self, batch):
        self.outstanding.difference_update(batch.token)
        self.to_commit.extend(batch.token)

    async def stop(self):
        self.committer.cancel()
        self.queue.requeue([*self.outstanding, *self.to_commit])
        self.outstanding.clear()


class MetadataFreeSource(MemoryQueueSource):
    """Hands events over without their delivery tags."""

    async def hand_over(self, items, tags):
        await self.emit([e for _, e in items], {"queue": "memory"}, token=tags)


class LaxConfigSource(MemoryQueueSource):
    """Accepts any batch size, even zero."""

    class ConfigModel(pump.ComponentConfig):
        batch_size: int = 2
        poll_interval: float = 0.005


def broken(source_class, **attributes):
    """A (non-collected) contract subclass over `source_class`, with short timeouts."""
    return type(
        f"Broken{source_class.__name__}Contract",
        (QueueContract,),
        {"source_class": source_class, "timeout": 1.0, "quiet_period": 0.1, **attributes},
    )


async def test_ignoring_ready_is_caught():
    with pytest.raises(AssertionError, match=r"did not wait for pipeline\.ready"):
        await broken(ImpatientSource)().test_waits_for_ready_when_the_pipeline_is_full()


async def test_acknowledging_on_hand_over_is_caught():
    with pytest.raises(
        AssertionError, match=r"acknowledged or rejected.*while the sink had not finished"
    ):
        await broken(SelfAckingSource)().test_acknowledges_only_after_the_sink_is_done()


async def test_committing_on_hand_over_loses_events_and_is_caught():
    contract = broken(CommitOnHandoverSource)
    with pytest.raises(
        AssertionError, match=r"after a restart, the unacknowledged events: .* did not arrive"
    ):
        await contract().test_unacknowledged_events_come_again_after_restart()
    with pytest.raises(
        AssertionError, match=r"after a restart, the rejected events: .* did not arrive"
    ):
        await contract().test_rejected_events_come_again_after_restart()


async def test_not_returning_in_flight_messages_is_caught():
    with pytest.raises(AssertionError, match="after a restart, the unacknowledged events"):
        await broken(ForgetfulSource)().test_unacknowledged_events_come_again_after_restart()


async def test_commits_dropped_on_stop_are_caught():
    contract = broken(LazyCommitSource)
    with pytest.raises(AssertionError, match="acknowledged during the drain came again"):
        await contract().test_stop_drains_what_was_handed_over()
    with pytest.raises(AssertionError, match="acknowledged events came again after a restart"):
        await contract().test_acknowledges_only_after_the_sink_is_done()


async def test_missing_metadata_is_caught():
    with pytest.raises(AssertionError, match=r"lacks \['delivery_tag'\]"):
        await broken(MetadataFreeSource)().test_context_carries_the_metadata()


async def test_unvalidated_config_is_caught():
    with pytest.raises(AssertionError, match=r"config \{'batch_size': 0\} was accepted"):
        await broken(LaxConfigSource)().test_bad_config_is_refused_naming_the_key()


async def test_lost_events_are_caught():
    class Dropping(MemoryQueueSource):
        async def hand_over(self, items, tags):
            kept = [(t, e) for t, e in items if e["id"] % 5]
            if kept:
                await super().hand_over(kept, [t for t, _ in kept])
            self.queue.ack(tags)

    with pytest.raises(AssertionError, match="4 of 20 produced events did not arrive"):
        await broken(Dropping)().test_produced_events_arrive()


async def test_redelivery_tests_skip_without_redelivery():
    with pytest.raises(pytest.skip.Exception, match="supports_redelivery"):
        await TestIteratorSource().test_rejected_events_come_again_after_restart()
