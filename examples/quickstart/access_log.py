"""The quickstart's access-log.yaml written in Python: the same components, the same results.

python examples/quickstart/generate.py && python examples/quickstart/access_log.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pump
from pump.common import FilterProcessor, FunctionProcessor
from pump.routing import InternalSource, TeeProcessor
from pump.windows import TumblingWindow
from pump_file import FileCSVLookup, FileCSVSink, FileJSONLinesSink, FileLineSource

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accesslog import GeoEnrich, is_page_view, minute_row, parse  # noqa: E402


class RequestsPipeline(pump.Pipeline):
    """access logs → parse → enrich → filter → copy to 'minutes' → JSON Lines."""

    def __init__(self, app: pump.Application, pipeline_id: str) -> None:
        super().__init__(app, pipeline_id, config={"on_error": "dead_letter"})
        self.build(
            FileLineSource(
                app,
                self,
                config={"path": str(HERE / "data" / "access-*.log"), "post_process": "keep"},
            ),
            FunctionProcessor(app, self, parse, id="parse"),
            GeoEnrich(app, self, "geo", config={"lookup": "countries"}),
            FilterProcessor(app, self, is_page_view, id="page-views"),
            TeeProcessor(app, self, config={"target": "minutes", "share": True}),
            FileJSONLinesSink(
                app,
                self,
                config={
                    "path": str(HERE / "out" / "requests" / "requests-{n:02d}.jsonl"),
                    "max_events": 50_000,
                },
            ),
        )
        self.set_dead_letter(
            FileJSONLinesSink(
                app, self, "dead-letter", config={"path": str(HERE / "out" / "dead-letter.jsonl")}
            )
        )


class MinutesPipeline(pump.Pipeline):
    """requests copied from 'requests' → a window per minute → one row per minute → CSV."""

    def __init__(self, app: pump.Application, pipeline_id: str) -> None:
        super().__init__(app, pipeline_id, config={"state_dir": str(HERE / "data" / ".state")})
        per_minute = {
            "time": "time",
            "size": "1m",
            "reduce": {
                "requests": "count",
                "visitors": {"distinct": "ip"},
                "statuses": {"histogram": "status"},
                "bytes": "sum",
                "top_country": {"top": "country"},
                "top_page": {"top": "path"},
            },
        }
        self.build(
            InternalSource(app, self),
            TumblingWindow(app, self, "per-minute", config=per_minute),
            FunctionProcessor(app, self, minute_row, id="row"),
            FileCSVSink(app, self, config={"path": str(HERE / "out" / "minutes.csv")}),
        )


def main() -> int:
    app = pump.Application()
    app.add_lookup(
        FileCSVLookup(
            app,
            "countries",
            config={"path": str(HERE / "countries.csv"), "key": "prefix", "value": "country"},
        )
    )
    # the downstream pipeline first: the tee finds its target when it starts
    app.add_pipeline(MinutesPipeline(app, "minutes"))
    requests = app.add_pipeline(RequestsPipeline(app, "requests"))
    started = time.perf_counter()
    code = app.run()
    elapsed = time.perf_counter() - started
    m = requests.metrics()
    print(
        f"read {m['events_in']:,} lines, wrote {m['events_out']:,} requests, "
        f"dropped {m['dropped']:,} "
        f"(health checks, static files), dead-lettered {m['dead_lettered']:,}, "
        f"{m['events_in'] / elapsed:,.0f} lines/s — exit code {code}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
