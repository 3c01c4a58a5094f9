"""A local stand-in for OpenWeatherMap's current-weather API: GET /data/2.5/weather?q=CITY.

It wants `appid` (the API key) in the query: without it, or with another, it answers 401 as
the real API does; an unknown city is a 404.
"""

from __future__ import annotations

from aiohttp import web

PATH = "/data/2.5/weather"
#: The cities asked for, in order (`app[REQUESTS]`).
REQUESTS = web.AppKey("requests", list)

CITIES = {
    "London": {"country": "GB", "lon": -0.1257, "lat": 51.5085, "temp": 8.91, "humidity": 71},
    "New York": {"country": "US", "lon": -74.006, "lat": 40.7143, "temp": -1.13, "humidity": 51},
    "Berlin": {"country": "DE", "lon": 13.4105, "lat": 52.5244, "temp": 6.01, "humidity": 91},
}


def make_app(api_key: str) -> web.Application:
    """The API, answering the cities above to requests carrying `api_key`."""

    async def weather(request: web.Request) -> web.Response:
        request.app[REQUESTS].append(request.query.get("q", ""))
        if request.query.get("appid") != api_key:
            return web.json_response({"cod": 401, "message": "Invalid API key."}, status=401)
        city = CITIES.get(request.query.get("q", ""))
        if city is None:
            return web.json_response({"cod": "404", "message": "city not found"}, status=404)
        name = request.query["q"]
        return web.json_response(
            {
                "coord": {"lon": city["lon"], "lat": city["lat"]},
                "weather": [{"main": "Clouds", "description": "scattered clouds"}],
                "main": {
                    "temp": city["temp"],
                    "feels_like": round(city["temp"] - 2.05, 2),
                    "pressure": 1030,
                    "humidity": city["humidity"],
                },
                "sys": {"country": city["country"]},
                "name": name,
                "cod": 200,
            }
        )

    app = web.Application()
    app[REQUESTS] = []
    app.router.add_get(PATH, weather)
    return app
