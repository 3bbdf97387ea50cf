"""`python -m sandbox`: run the sandbox until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .server import SandboxServer
from .settings import SCENARIOS, SandboxSettings


def parse_args(argv: list[str] | None = None) -> SandboxSettings:
    p = argparse.ArgumentParser(prog="python -m sandbox", description="Local Customer.io App API simulator")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8080; 0 = ephemeral)")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="test")
    p.add_argument("--latency-ms", type=float, default=None)
    p.add_argument("--jitter-ms", type=float, default=None)
    p.add_argument("--rate-limit", type=float, default=None, help="requests per second per key (0 disables)")
    p.add_argument("--people", type=int, default=None)
    p.add_argument("--messages", type=int, default=None)
    p.add_argument("--message-days", type=int, default=None, help="days the messages are spread over")
    p.add_argument("--activities", type=int, default=None)
    p.add_argument("--membership", type=int, default=None, help="total membership rows over all segments")
    p.add_argument("--segments", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    for size in ("campaigns", "actions-per-campaign", "newsletters", "contents-per-newsletter", "broadcasts",
                 "transactional"):
        p.add_argument(f"--{size}", type=int, default=None, help="catalogue size (see sandbox/entities.py)")
    p.add_argument("--empty-page-every", type=int, default=None,
                   help="every Kth page of a messages/activities/membership chain is empty but has next (0: 7/5/3)")
    p.add_argument("--message-order", choices=("newest", "oldest", "unrelated"), default=None,
                   help="order of GET /v1/messages within a window (default newest first)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--export-delay", type=float, default=None, help="seconds an export stays pending")
    p.add_argument("--download-url-ttl", type=int, default=None, help="seconds a download URL stays valid")
    p.add_argument("--anchor", type=int, default=None, help="unix time of 'server start' (default: now)")
    p.add_argument("--faults", default=None, help="JSON object, e.g. '{\"error_rate\": 0.05}'")
    p.add_argument(
        "--unwrapped-attributes",
        action="store_true",
        default=None,
        help="POST /v1/customers/attributes returns un-wrapped items (the singer-tap variant)",
    )
    args = p.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "scenario"}
    if overrides["port"] is None:
        overrides["port"] = 8080
    if overrides["faults"] is not None:
        try:
            overrides["faults"] = json.loads(overrides["faults"])
        except ValueError as exc:
            p.error(f"--faults is not valid JSON: {exc}")
    return SandboxSettings.for_scenario(args.scenario, **overrides)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = SandboxServer(settings).start()
    except (OSError, ValueError) as exc:
        print(f"sandbox failed to start: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"sandbox listening on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
