"""Writes the quickstart's sample: a day's slice of a web server's access log, the same every run.

    python generate.py [LINES]        (default 100,000; into data/, replacing what is there)

The log is in the combined format nginx and Apache write by default; about one line in two
hundred is damaged (cut short, as when a disk fills or a process dies mid-write), so the
pipeline has something to put in its dead-letter file. The country lookup table is
countries.csv, next to this file.
"""

from __future__ import annotations

import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

NETWORKS = [
    "81.2",
    "85.13",
    "91.64",
    "93.184",
    "63.116",
    "104.28",
    "133.242",
    "152.165",
    "177.71",
    "10.20",
]
PAGES = [
    "/",
    "/products",
    "/products/42",
    "/cart",
    "/checkout",
    "/search?q=pump",
    "/login",
    "/api/items",
]
NOISE = ["/healthz", "/static/app.js", "/static/style.css", "/favicon.ico"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "kube-probe/1.28",
]
START = datetime(2023, 11, 14, 9, 0, tzinfo=UTC)


def lines(n: int, seed: int = 2023) -> list[str]:
    rnd = random.Random(seed)
    out = []
    moment = START
    for i in range(n):
        moment += timedelta(milliseconds=rnd.randint(1, 48))
        ip = f"{rnd.choice(NETWORKS)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        noise = rnd.random() < 0.15
        path = rnd.choice(NOISE) if noise else rnd.choice(PAGES)
        method = "POST" if path in ("/checkout", "/login") else "GET"
        status = rnd.choices([200, 301, 404, 500, 503], [88, 4, 6, 1, 1])[0]
        size = rnd.randint(150, 40_000) if status == 200 else rnd.randint(0, 600)
        agent = AGENTS[3] if path == "/healthz" else rnd.choice(AGENTS[:3])
        stamp = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
        line = f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "-" "{agent}"'
        if i % 200 == 137:
            line = line[: rnd.randint(5, len(line) - 20)]  # damaged
        out.append(line)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir()
    # two files, as a server rotating its log would leave them (their names sort by time)
    sample = lines(n)
    half = len(sample) // 2
    for name, part in (("access-1.log", sample[:half]), ("access-2.log", sample[half:])):
        (DATA / name).write_text("".join(f"{line}\n" for line in part))
    print(f"generate.py: {n:,} access-log lines in {DATA}")


if __name__ == "__main__":
    main()
