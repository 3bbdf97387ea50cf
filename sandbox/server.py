"""HTTP transport of the sandbox: keep-alive HTTP/1.1, Bearer auth, rate limiting, latency, faults, admin API."""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import itertools
import json
import random
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

from . import catalogue_api, metrics
from .api import LIMITED_PATHS, Api, ApiError, Request, Response, error_response, json_response, s3_error
from .faults import Decision, Faults
from .settings import SandboxSettings
from .util import error_body
from .workspace import Workspace

HTML_ERROR = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
HTML_200 = (
    "<!DOCTYPE html><html><head><title>Customer.io</title></head><body><h1>We'll be right back</h1>"
    "<p>Customer.io is undergoing scheduled maintenance.</p></body></html>"
)
REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


class RateLimiter:
    """Sliding 1-second window per key, by arrival time; a request is counted only if it is admitted.

    A request is refused when any sliding second that holds it would hold more than ``limit`` admitted requests.
    Arrival times may come out of order (a handler thread that got the interpreter late decides after one that
    arrived later), so the admitted times are kept sorted and every second around the new one is checked."""

    def __init__(self, limit: float, window: float = 1.0):
        self.limit = limit
        self.window = window
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, [])
            # Nothing at or before (the newest arrival - 2 windows) can share a second with a request still to come.
            del hits[: bisect.bisect_right(hits, max(now, hits[-1] if hits else now) - 2 * self.window)]
            # The seconds that would hold this request end at `now` or at an admitted arrival less than a window later.
            ends = [now, *hits[bisect.bisect_left(hits, now): bisect.bisect_left(hits, now + self.window)]]
            for end in ends:
                held = bisect.bisect_right(hits, end) - bisect.bisect_right(hits, end - self.window)
                if held >= self.limit:
                    return False
            bisect.insort(hits, now)
            return True


# Linux timestamps each TCP segment as it arrives (SO_TIMESTAMPNS; the constant is missing from Python's socket module).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform == "linux" else None


def _arrival(connection: socket.socket, stamped: bool) -> float:
    """Wait for the next request on a keep-alive connection; returns when its first bytes arrived (wall clock).

    Customer.io counts a request when it reaches its servers. A handler thread of this sandbox may run only
    milliseconds later (another thread serializing a large page holds the interpreter, the client takes the cores):
    counted then, a request paced correctly by the client could fall into the next second's window. The kernel's
    receive timestamp is when it really arrived. Reading the request itself is left to the handler (MSG_PEEK)."""
    if not stamped:
        connection.recv(1, socket.MSG_PEEK)  # elsewhere: the time this thread sees it come
        return time.time()
    data, ancillary, _flags, _address = connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    for level, kind, value in ancillary:
        if data and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            seconds, nanoseconds = struct.unpack("qq", value[:16])
            if seconds:
                return seconds + nanoseconds / 1e9
    return time.time()  # no timestamp (the first request of a connection may come before it was asked for)


def _reference(rng: random.Random) -> str:
    return f"{rng.getrandbits(24):06x}"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def server_bind(self) -> None:
        if SO_TIMESTAMPNS is not None:  # accepted connections inherit it: their first request is stamped too
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        # Skip HTTPServer.server_bind's getfqdn() (a reverse DNS lookup that can take seconds).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    # Unbuffered: the next request's arrival is peeked on the socket (_arrival), so none may wait in a buffer.
    rbufsize = 0
    sandbox: SandboxServer
    arrived = 0.0  # when the request being handled arrived (wall clock)

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._stamped = False
        if SO_TIMESTAMPNS is not None:
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self._stamped = True
            except OSError:
                pass

    def handle_one_request(self) -> None:
        try:
            self.arrived = _arrival(self.connection, self._stamped)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        super().handle_one_request()

    def _dispatch(self) -> None:
        try:
            self.sandbox._serve(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        return


class SandboxServer:
    """A local Customer.io App API. Use as a context manager; serves in a daemon thread."""

    def __init__(self, settings: SandboxSettings | None = None):
        self.settings = settings or SandboxSettings()
        self.workspace = Workspace(self.settings)
        secret = hashlib.sha256(f"sandbox-secret:{self.settings.seed}".encode()).digest()
        self.faults = Faults(self.settings.seed, self.settings.faults)
        self.api = Api(self.workspace, self.faults, self.settings, secret)
        self.api.routes += catalogue_api.CatalogueApi(self.workspace, self.settings, self.api.codec).routes
        self.api.routes += metrics.MetricsApi(self.workspace).routes
        self.limiter = RateLimiter(self.settings.rate_limit) if self.settings.rate_limit > 0 else None
        # A live list (tests may .clear() it); trimmed to the newest request_log_limit entries in batches.
        self._log: list[dict] = []
        self._log_lock = threading.Lock()
        self._counter = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._secrets = {self.settings.api_key, self.settings.limited_api_key}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._httpd = _HTTPServer((self.settings.host, self.settings.port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ test helpers
    @property
    def request_log(self) -> list[dict]:
        """The live request log (oldest first). Copy it before iterating while requests are in flight."""
        return self._log

    def reset_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def set_faults(self, faults: dict | None) -> dict:
        """Replace the active faults (validated; raises ValueError). {} or None clears them."""
        return self.faults.set(faults)

    def append(self, dataset: str, count: int) -> tuple[int, int]:
        return self.workspace.append(dataset, count)

    def delete_segment(self, segment_id: int) -> bool:
        return self.workspace.delete_segment(segment_id)

    def delete_person(self, cio_id: str) -> bool:
        return self.workspace.delete_person(cio_id)

    def leave_segment(self, segment_id: int, cio_id: str) -> bool:
        return self.workspace.leave_segment(segment_id, cio_id)

    def change_attributes(self, cio_id: str, changes: dict) -> bool:
        return self.workspace.change_attributes(cio_id, changes)

    def create_person(self) -> str:
        return self.workspace.create_person()

    def merge_people(self, primary: str, secondary: str) -> bool:
        return self.workspace.merge_people(primary, secondary)

    def append_future_activities(self, count: int, seconds_ahead: int) -> tuple[int, int]:
        return self.workspace.append_future_activities(count, seconds_ahead)

    # ------------------------------------------------------------------ request flow
    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        body = self._read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        host = headers.get("host")
        req = Request(handler.command, path, query, body, headers, f"http://{host}" if host else self.url)
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            self._write(handler, self._admin(req), Decision())
            return
        arrival = handler.arrived or time.time()
        n = next(self._counter)
        entry = {
            "n": n,
            "method": req.method,
            "path": path,
            "query": self._log_query(query),
            "status": None,
            "t": round(arrival, 6),
        }
        with self._log_lock:
            self._log.append(entry)
            limit = self.settings.request_log_limit
            if len(self._log) > limit + max(1000, limit // 10):
                del self._log[: len(self._log) - limit]
        if path.startswith("/_download/"):
            decision = self.faults.decide(n, path, download=True)
            if decision.name:
                entry["fault"] = decision.name  # before a slow fault's sleep: the client may be gone by then
            resp = self._download(req, decision)
        elif path == "/v1" or path.startswith("/v1/"):
            decision, resp = self._v1(req, n, entry)
        else:
            decision = Decision()
            resp = error_response(ApiError(404, f"no such endpoint: {req.method} {path}", code="not_found"))
        if decision.name:
            entry["fault"] = decision.name
        entry["status"] = resp.status
        self._write(handler, resp, decision)

    def _v1(self, req: Request, n: int, entry: dict) -> tuple[Decision, Response]:
        rng = random.Random(self.settings.seed * 7_919 + n)
        token = _bearer(req.headers.get("authorization"))
        admitted = self.limiter is None or self.limiter.allow(token or "", now=entry["t"])
        decision = self.faults.decide(n, req.path)
        delay = self.settings.latency_ms + rng.uniform(-1, 1) * self.settings.jitter_ms
        if delay > 0:
            time.sleep(delay / 1000)
        if not admitted:
            return Decision(), self._too_many(rng, self.settings.rate_limit, retry_after=True)
        if decision.name:
            # Logged when decided, not after the handler: a client that timed out on a slow fault may have
            # finished its run (and a test read the log) before the sleep ends.
            entry["fault"] = decision.name
        if decision.too_many:
            return decision, self._too_many(rng, 10, retry_after=decision.retry_after)
        if decision.error_status:
            status = decision.error_status
            if decision.error_html:
                text = HTML_ERROR.format(status=status, reason=REASONS.get(status, "Error"))
                return decision, Response(status, text.encode(), content_type="text/html")
            detail = f"internal error (reference {_reference(rng)})"
            return decision, json_response(error_body(status, detail), status)
        if decision.slow_seconds:
            time.sleep(decision.slow_seconds)
        if token is None or token not in self._secrets:
            detail = f"unauthorized (reference {_reference(rng)})"
            resp = json_response(error_body(401, detail, code="invalid_credentials"), 401)
        elif token == self.settings.limited_api_key and not LIMITED_PATHS.match(req.path):
            detail = f"this API key lacks the scope required for {req.path} (reference {_reference(rng)})"
            resp = json_response(error_body(403, detail, code="forbidden"), 403)
        else:
            resp = self.api.handle(req)
        if decision.truncate and resp.stream is None:
            resp = Response(200, resp.body[: len(resp.body) // 2], content_type=resp.content_type)
        elif decision.non_json:
            resp = Response(200, HTML_200.encode(), content_type="text/html")
        return decision, resp

    @staticmethod
    def _too_many(rng: random.Random, limit: float, retry_after: bool) -> Response:
        limit_text = int(limit) if float(limit).is_integer() else limit
        detail = f"rate limited to {limit_text} requests per 1s (reference {_reference(rng)})"
        resp = json_response({"errors": [{"detail": detail, "status": "429"}]}, 429)
        if retry_after:
            resp.headers.append(("Retry-After", "1"))
        return resp

    def _download(self, req: Request, decision: Decision) -> Response:
        if decision.error_status:
            code = "SlowDown" if decision.error_status == 503 else "InternalError"
            return s3_error(decision.error_status, code, "We encountered an internal error. Please try again.")
        if decision.slow_seconds:
            time.sleep(decision.slow_seconds)
        if req.method != "GET":
            return s3_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        return self.api.download(req, req.path[len("/_download/") :])

    # ------------------------------------------------------------------ admin
    def _admin(self, req: Request) -> Response:
        path, method = req.path.rstrip("/"), req.method
        try:
            if path == "/_sandbox/health" and method == "GET":
                ws = self.workspace
                return json_response(
                    {
                        "status": "ok",
                        "url": self.url,
                        "scenario": self.settings.scenario,
                        "now": ws.now(),
                        "anchor": ws.anchor,
                        "counts": {
                            "people": ws.people_count,
                            "messages": ws.messages.total,
                            "activities": ws.activities.total,
                            "segments": len(ws.segments()),
                        },
                    }
                )
            if path == "/_sandbox/requests" and method == "GET":
                since = int(req.param("since") or 0)
                with self._log_lock:
                    entries = [dict(e) for e in self._log if e["n"] > since]
                return json_response(entries)
            if path == "/_sandbox/requests/reset" and method == "POST":
                self.reset_requests()
                return json_response({"ok": True})
            if path == "/_sandbox/faults" and method == "GET":
                return json_response({"faults": self.faults.spec})
            if path == "/_sandbox/faults" and method == "POST":
                spec = json.loads(req.body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("faults must be a JSON object")
                return json_response({"faults": self.set_faults(spec)})
            if path == "/_sandbox/append" and method == "POST":
                body = json.loads(req.body or b"{}")
                first, end = self.append(str(body.get("dataset")), int(body.get("count", 0)))
                return json_response({"dataset": body.get("dataset"), "from_index": first, "to_index": end})
            if path.startswith("/_sandbox/segments/") and path.endswith("/delete") and method == "POST":
                sid = int(path.split("/")[3])
                if not self.delete_segment(sid):
                    return json_response(error_body(404, "unknown segment"), 404)
                return json_response({"deleted": sid})
            if (catalogue := catalogue_api.admin(self.workspace.entities, req)) is not None:
                return catalogue
            parts = path.split("/")  # ["", "_sandbox", kind, id, action]
            if len(parts) == 5 and method == "POST":
                return self._change(parts[2], parts[3], parts[4], json.loads(req.body or b"{}"))
            if path == "/_sandbox/people/create" and method == "POST":
                return json_response({"cio_id": self.create_person()})
            if path == "/_sandbox/activities/future" and method == "POST":
                body = json.loads(req.body or b"{}")
                first, end = self.append_future_activities(int(body.get("count", 1)), int(body.get("seconds", 86400)))
                return json_response({"dataset": "activities", "from_index": first, "to_index": end})
        except (ValueError, TypeError) as exc:
            return json_response(error_body(400, str(exc)), 400)
        return json_response(error_body(404, f"no such admin endpoint: {method} {req.path}"), 404)

    def _change(self, kind: str, key: str, action: str, body: object) -> Response:
        """POST /_sandbox/{people/{cio_id}/delete | people/{cio_id}/attributes | people/{cio_id}/merge |
        segments/{id}/leave}: the workspace
        changes between two runs (campaigns and other catalogue entities: /_sandbox/catalogue/...)."""
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        if (kind, action) == ("people", "delete"):
            done = self.delete_person(key)
        elif (kind, action) == ("people", "attributes"):
            if not all(value is None or isinstance(value, str) for value in body.values()):
                raise ValueError("attribute values must be strings, or null to remove the attribute")
            done = self.change_attributes(key, body)
        elif (kind, action) == ("people", "merge"):  # key: the primary; body {"secondary": cio_id}
            done = self.merge_people(key, str(body.get("secondary")))
        elif (kind, action) == ("segments", "leave"):
            done = self.leave_segment(int(key), str(body.get("cio_id")))
        else:
            return json_response(error_body(404, f"no such admin endpoint: POST /_sandbox/{kind}/{key}/{action}"), 404)
        if not done:
            return json_response(error_body(404, f"unknown {kind[:-1]} {key} (or not a member)"), 404)
        return json_response({"ok": True})

    # ------------------------------------------------------------------ io
    def _log_query(self, query: dict[str, list[str]]) -> dict:
        out = {}
        for key, values in query.items():
            clean = ["***" if v in self._secrets else v for v in values]
            out[key] = clean[0] if len(clean) == 1 else clean
        return out

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size_line = handler.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while handler.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(handler.rfile.read(size))
                handler.rfile.readline(65537)
            return b"".join(parts)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length > 0 else b""

    @staticmethod
    def _write(handler: _Handler, resp: Response, decision: Decision) -> None:
        content_type = resp.content_type
        if content_type in ("application/json", "text/html", "text/csv", "application/xml"):
            content_type += "; charset=utf-8"
        handler.send_response(resp.status)
        handler.send_header("Content-Type", content_type)
        for key, value in resp.headers:
            handler.send_header(key, value)
        if resp.stream is None:
            body = b"" if handler.command == "HEAD" else resp.body
            handler.send_header("Content-Length", str(len(resp.body)))
            if handler.close_connection:
                handler.send_header("Connection", "close")
            handler.end_headers()
            if decision.drop:
                handler.wfile.write(body[: len(body) // 2])
                handler.wfile.flush()
                handler.close_connection = True
                return
            handler.wfile.write(body)
            return
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        cut = decision.download_cut or decision.drop
        cut_after = max(1, resp.stream_rows // 2)
        pending: list[bytes] = []
        size = 0
        for rows, piece in enumerate(resp.stream, start=1):
            pending.append(piece)
            size += len(piece)
            if size >= 65536 or (cut and rows > cut_after):
                data = b"".join(pending)
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                pending, size = [], 0
                if cut and rows > cut_after:
                    handler.wfile.flush()
                    handler.close_connection = True  # the body ends without the terminating chunk
                    return
        if pending:
            data = b"".join(pending)
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.write(b"0\r\n\r\n")


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token


__all__ = ["RateLimiter", "SandboxServer"]
