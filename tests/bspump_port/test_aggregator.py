"""BSPump's aggregator example shape, ported by changing imports: a Source calling
`await self.Pipeline.process(event)` → Aggregator(ListEventAggregationStrategy) → PPrintSink.
"""

from __future__ import annotations

from typing import Any

import pump
import pump.common
from pump.common import Aggregator, ListAggregationStrategy, ListEventAggregationStrategy


class IntStreamSource(pump.Source):
    async def main(self):
        for event in range(10):
            await self.Pipeline.ready()
            await self.Pipeline.process(event)


class AggregatorPipeline(pump.Pipeline):
    def __init__(self, app, pipeline_id, strategy=None):
        super().__init__(app, pipeline_id)
        self.build(
            IntStreamSource(app, self),
            Aggregator(
                app,
                self,
                aggregation_strategy=strategy,
                config={"completion_interval": 5, "completion_size": 4},
            ),
            pump.common.PPrintSink(app, self),
        )


def run(strategy: Any) -> int:
    app = pump.BSPumpApplication(args=[])
    svc = app.get_service("bspump.PumpService")
    svc.add_pipeline(AggregatorPipeline(app, "AggregatorPipeline", strategy))
    return app.run()


def test_list_event_strategy_emits_lists_of_events(capsys: Any) -> None:
    assert run(ListEventAggregationStrategy()) == 0
    # completion_size 4, and what is held is emitted when the source ends
    assert capsys.readouterr().out.splitlines() == ["[0, 1, 2, 3]", "[4, 5, 6, 7]", "[8, 9]"]


def test_default_strategy_is_a_list_of_events_where_bspump_gave_pairs(capsys: Any) -> None:
    # The deliberate difference listed in docs/porting-from-bspump.md.
    assert run(None) == 0
    assert capsys.readouterr().out.splitlines()[0] == "[0, 1, 2, 3]"
    assert run(ListAggregationStrategy()) == 0  # BSPump's default: (context, event) pairs
    assert capsys.readouterr().out.splitlines()[0] == "[({}, 0), ({}, 1), ({}, 2), ({}, 3)]"
