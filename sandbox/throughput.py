"""Measure how many messages per second the sandbox serves (`python -m sandbox.throughput`).

Two figures: in-process (generate + json.dumps, one core) and over HTTP (one keep-alive client, limit=1000,
no latency, no rate limit) against the `bench` data set.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time

from .server import SandboxServer
from .settings import SandboxSettings
from .util import dumps


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sandbox.throughput")
    p.add_argument("--pages", type=int, default=40, help="pages of 1000 messages to fetch")
    args = p.parse_args(argv)
    settings = SandboxSettings.for_scenario("bench", latency_ms=0.0, jitter_ms=0.0, rate_limit=0.0)
    with SandboxServer(settings) as server:
        ws = server.workspace
        count = args.pages * 1000
        top = ws.messages.total - 1
        t = time.perf_counter()
        size = 0
        for page in range(args.pages):
            size += len(dumps({"messages": [ws.message(top - page * 1000 - k) for k in range(1000)], "next": ""}))
        in_process = count / (time.perf_counter() - t)
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        headers = {"Authorization": f"Bearer {settings.api_key}"}
        start, received = "", 0
        t = time.perf_counter()
        for _ in range(args.pages):
            conn.request("GET", f"/v1/messages?limit=1000&start={start.replace('+', '%2B').replace('/', '%2F')}",
                         headers=headers)
            body = json.loads(conn.getresponse().read())
            received += len(body["messages"])
            start = body["next"]
        over_http = received / (time.perf_counter() - t)
        conn.close()
    print(f"in-process: {in_process:,.0f} messages/s ({size / count:.0f} bytes each)")
    print(f"over HTTP:  {over_http:,.0f} messages/s (including the deliberate empty pages)")


if __name__ == "__main__":
    main()
