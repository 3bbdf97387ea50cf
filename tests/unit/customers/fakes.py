"""The fake App API and helpers shared by the customers tests (search and export mode)."""

from __future__ import annotations

import csv
import json
import random
import threading
import time
from pathlib import Path

from configuration import load_configuration
from datasets import RunContext
from datasets.customers import Customers

# --------------------------------------------------------------------------------------------------- the fake API


def person(n: int, *, with_id: bool = True, with_email: bool = True, **attributes) -> dict:
    cio_id = f"c{n:06d}"
    attrs = {"cio_id": cio_id, "plan": ["free", "pro"][n % 2], **attributes}
    if with_id:
        attrs["id"] = str(n)
    if with_email:
        attrs["email"] = f"p{n}@example.com"
    if n % 3 == 0:
        attrs["city"] = "Praha"
    return {
        "cio_id": cio_id,
        "id": str(n) if with_id else None,
        "email": f"p{n}@example.com" if with_email else None,
        "attributes": attrs,
        "devices": [{"id": f"d{n}", "platform": "ios", "last_used": 1700000000 + n}] if n % 4 == 0 else [],
        "unsubscribed": n % 5 == 0,
    }


class FakeApi:
    """Just enough of the App API for the customers and segment_membership datasets. Thread-safe."""

    def __init__(self, people: list[dict], *, wrapped: bool = True, delay: float = 0.0, seed: int = 0):
        self.people = people
        self.wrapped = wrapped
        self.delay = delay
        self.random = random.Random(seed)
        self.calls: list[tuple[str, str, dict | None, object]] = []
        self.lock = threading.Lock()
        self.vanished: set[str] = set()  # cio_ids the attributes endpoint no longer knows
        self.fail_attributes: Exception | None = None
        self.matches = lambda p: True
        # export behaviour
        self.export_statuses: list[dict] = []
        self.export_file: bytes = b""
        self.download_failures: list[Exception] = []
        self.urls_issued = 0
        self.downloads: list[str] = []

    def _record(self, method, path, params, body):
        with self.lock:
            self.calls.append((method, path, dict(params or {}), body))
            jitter = self.random.random() * self.delay
        if jitter:
            time.sleep(jitter)

    def calls_to(self, path):
        return [call for call in self.calls if call[1] == path]

    # -- client interface --

    def request_json(self, method, path, *, params=None, json_body=None):
        self._record(method, path, params, json_body)
        if (method, path) == ("POST", "/v1/customers/attributes"):
            assert params == {"id_type": "cio_id"}
            ids = json_body["ids"]
            assert 1 <= len(ids) <= 100
            if self.fail_attributes:
                raise self.fail_attributes
            by_cio = {p["cio_id"]: p for p in self.people}
            items = []
            for cio_id in ids:
                if cio_id in self.vanished or cio_id not in by_cio:
                    continue
                p = by_cio[cio_id]
                item = {"id": p["id"], "attributes": p["attributes"], "devices": p["devices"],
                        "identifiers": {"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]},
                        "timestamps": {}, "unsubscribed": p["unsubscribed"]}
                items.append({"customer": item} if self.wrapped else item)
            self.random.shuffle(items)  # the order of the answer must not matter
            return {"customers": items}
        if (method, path) == ("POST", "/v1/exports/customers"):
            return {"export": {"id": 77, "status": "pending", "failed": False, "total": 0}}
        if (method, path) == ("GET", "/v1/exports/77"):
            return {"export": self.export_statuses.pop(0) if len(self.export_statuses) > 1 else self.export_statuses[0]}
        if (method, path) == ("GET", "/v1/exports/77/download"):
            self.urls_issued += 1
            return {"url": f"https://files.example/export-77?sig={self.urls_issued}"}
        raise AssertionError(f"unexpected request {method} {path}")

    def paginate(self, method, path, *, params=None, json_body=None):
        assert (method, path) == ("POST", "/v1/customers")
        limit = params["limit"]
        matched = [p for p in self.people if self.matches(p)]
        start = 0
        while True:
            self._record(method, path, {**params, "start": start}, json_body)
            chunk = matched[start:start + limit]
            start += limit
            more = start < len(matched)
            yield {"identifiers": [{"cio_id": p["cio_id"], "id": p["id"], "email": p["email"]} for p in chunk],
                   "ids": [p["id"] or "" for p in chunk], "next": str(start) if more else ""}
            if not more:
                return

    def download(self, url, fileobj):
        self.downloads.append(url)
        fileobj.seek(0)
        fileobj.truncate()
        if self.download_failures:
            fileobj.write(self.export_file[: len(self.export_file) // 2])  # a half-written file before failing
            raise self.download_failures.pop(0)
        fileobj.write(self.export_file)
        return len(self.export_file)


# ------------------------------------------------------------------------------------------------------- helpers


def context(api, component, workers: int = 4) -> RunContext:
    return RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                      incremental_load=True, now=1_700_000_000, max_workers=workers)


def config(**customers):
    return load_configuration({"#api_secret": "k", "customers": {"mode": "search", **customers}})


def run(api, component, state=None, workers=4, **customers) -> dict:
    return Customers(config(**customers)).run(context(api, component, workers), state or {})


def read(component, name) -> tuple[list[str], list[dict]]:
    with open(Path(component.tables_out_path) / f"{name}.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def manifest(component, name) -> dict:
    return json.loads((Path(component.tables_out_path) / f"{name}.csv.manifest").read_text())


PEOPLE = [person(n, with_id=n % 7 != 3, with_email=n % 11 != 5) for n in range(1, 351)]
