"""BSPump's Coindesk example shape, ported by changing imports: an HTTP polling TriggerSource
on a PeriodicTrigger → StdJsonToDictParser → an enriching Processor → PPrintSink.

Only `bspump` → `pump` and `bspump.http` → `pump_http` changed; the server is local, the
period shorter.
"""

from __future__ import annotations

from typing import Any

from port_helpers import JsonServer, pprinted, run_until

import pump
import pump.common
import pump.trigger
import pump_http

PRICES = [30000.5, 31000.25, 32000.0]


class ConvertProcessor(pump.Processor):
    """Adds the price in another currency, BSPump-style (own __init__ passing everything on)."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id=id, config=config)
        self.Rate = 0.5

    def process(self, context, event):
        usd = event["bpi"]["USD"]["rate_float"]
        event["bpi"]["XYZ"] = {"code": "XYZ", "rate_float": usd * self.Rate}
        return event


class SamplePipeline(pump.Pipeline):
    def __init__(self, app, pipeline_id, url):
        super().__init__(app, pipeline_id)
        self.build(
            pump_http.HTTPClientSource(app, self, config={"url": url}).on(
                pump.trigger.PeriodicTrigger(app, 0.05)
            ),
            pump.common.StdJsonToDictParser(app, self),
            ConvertProcessor(app, self),
            pump.common.PPrintSink(app, self),
        )


async def test_coindesk_shape_polls_parses_enriches_and_prints(capsys: Any) -> None:
    served = iter(PRICES)

    def respond(path: str) -> tuple[int, Any]:
        price = next(served, PRICES[-1])
        return 200, {"bpi": {"USD": {"code": "USD", "rate_float": price}}}

    with JsonServer(respond) as server:
        app = pump.BSPumpApplication(args=[])
        svc = app.get_service("bspump.PumpService")
        pl = SamplePipeline(app, "SamplePipeline", server.url + "/v1/bpi/currentprice.json")
        svc.add_pipeline(pl)

        code = await run_until(app, lambda: pl.counters.events_in >= 3 and pl.in_flight == 0)

    assert code == 0
    assert server.paths[:3] == ["/v1/bpi/currentprice.json"] * 3
    printed = pprinted(capsys.readouterr().out)
    assert len(printed) >= 3
    for event, price in zip(printed, PRICES, strict=False):
        assert event["bpi"]["USD"]["rate_float"] == price
        assert event["bpi"]["XYZ"] == {"code": "XYZ", "rate_float": price * 0.5}
    assert svc.locate("SamplePipeline") is pl
