"""A local stand-in for Coindesk's current-price API: GET /v1/bpi/currentprice.json.

The price moves once every `tick` seconds (or when the test calls `market.move()`); between
moves the document is the same, and a request carrying its ETag is answered 304 Not Modified.
"""

from __future__ import annotations

import hashlib
import time

import orjson
from aiohttp import web

PATH = "/v1/bpi/currentprice.json"
EUR_PER_USD = 0.92
GBP_PER_USD = 0.79


class Market:
    """Bitcoin's price in USD: starts at `price`, moves by `step` per move."""

    def __init__(self, price: float = 30_000.0, step: float = 125.5, tick: float = 0.0) -> None:
        self.price = price
        self.step = step
        self.tick = tick
        self.moves = 0
        self.requests = 0
        self.not_modified = 0
        self._moved_at = time.monotonic()

    def move(self) -> None:
        """The next price."""
        self.moves += 1
        self.price = round(self.price + (self.step if self.moves % 3 else -self.step), 2)
        self._moved_at = time.monotonic()

    def document(self) -> dict:
        """Coindesk's shape: the time and the price in USD, EUR and GBP."""
        if self.tick and time.monotonic() - self._moved_at >= self.tick:
            self.move()
        usd = self.price
        return {
            "time": {"updated": f"move {self.moves}"},
            "chartName": "Bitcoin",
            "bpi": {
                code: {"code": code, "rate": f"{usd * rate:,.4f}", "rate_float": usd * rate}
                for code, rate in (("USD", 1.0), ("EUR", EUR_PER_USD), ("GBP", GBP_PER_USD))
            },
        }


def make_app(market: Market) -> web.Application:
    """The API: the current document, with an ETag; 304 when the client has it already."""

    async def current_price(request: web.Request) -> web.Response:
        market.requests += 1
        body = orjson.dumps(market.document())
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            market.not_modified += 1
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/json", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get(PATH, current_price)
    return app
