"""The generic reader of declarations (datasets/declared.py) against an in-memory fake of the App API: the three
paging styles, parents and nested parents, deterministic order under concurrency, bounded submission, the 404
skip, the 403 sentence and the shape check."""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import threading
import time
from pathlib import Path

import pytest

from customerio.errors import InvalidResponseError, NotFoundError, PermissionDeniedError
from datasets import RunContext, run_dataset
from datasets.declared import Declaration, DeclaredDataset, Paging, Parent, listed, strip_url_credentials
from output import TableSpec


class FakeApi:
    """GET /parents (one answer), /parents/{id}/items (cursor pages of 2), /offset (limit/offset)."""

    def __init__(self, parents: int = 30, items_per_parent=lambda pid: pid % 5, delay: float = 0.0):
        self.parents = list(range(1, parents + 1))
        self.items_per_parent = items_per_parent
        self.delay = delay
        self.random = random.Random(7)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[tuple[str, dict]] = []
        self.gone: set[int] = set()
        self.forbidden: set[str] = set()

    def _enter(self, path, params):
        with self.lock:
            self.calls.append((path, dict(params or {})))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            jitter = self.random.random() * self.delay
        time.sleep(jitter)
        with self.lock:
            self.in_flight -= 1
        if path in self.forbidden:
            raise PermissionDeniedError("no", status=403, path=path)

    def request_json(self, method, path, *, params=None, json_body=None):
        self._enter(path, params)
        if path == "/parents":
            return {"parents": [{"id": pid, "name": f"P{pid}"} for pid in self.parents]}
        if path == "/offset":
            rows = [{"email": f"e{n}@x"} for n in range(23)]
            offset, limit = params["offset"], params["limit"]
            return {"rows": rows[offset : offset + limit]}
        if path == "/broken":
            return {"rows": "not a list"}
        raise AssertionError(path)

    def paginate(self, method, path, *, params=None, json_body=None):
        pid = int(path.split("/")[2])
        start = 0
        while True:
            self._enter(path, {**(params or {}), "start": start})
            if pid in self.gone:
                raise NotFoundError("gone", status=404, path=path)
            items = [{"id": f"{pid}-{n}", "n": n, "tags": ["a", n]} for n in range(self.items_per_parent(pid))]
            page = items[start : start + 2]
            start += 2
            yield {"items": page, "next": "x" if start < len(items) else ""}
            if start >= len(items):
                return


PARENTS = Declaration(key="parents", path="/parents", items_key="parents",
                      table=TableSpec(name="parents", primary_key=("id",)))
CHILDREN = Declaration(
    key="children", path="/parents/{parent_id}/items", items_key="items", paging=Paging.CURSOR, page_size=2,
    parent=Parent(PARENTS, {"parent_id": "id"}, noun="parent"), access="access to Parents",
    table=TableSpec(name="children", primary_key=("parent_id", "id"), seed_columns=("parent_id", "id")))


def run(api, component, declaration, workers=4) -> dict:
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, max_workers=workers)
    return run_dataset(DeclaredDataset(None, declaration), ctx, {})


def read(component, name) -> list[dict]:
    with open(Path(component.tables_out_path) / f"{name}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def expected_children(api) -> list[tuple[str, str]]:
    return [(str(pid), f"{pid}-{n}") for pid in api.parents if pid not in api.gone
            for n in range(api.items_per_parent(pid))]


def test_parent_fan_out_writes_every_row_once_in_parent_order(component):
    api = FakeApi(delay=0.003)
    state = run(api, component, CHILDREN)
    rows = read(component, "children")
    assert [(r["parent_id"], r["id"]) for r in rows] == expected_children(api)
    assert json.loads(rows[0]["tags"]) == ["a", 0]  # lists are JSON text
    assert state["columns"]["children"][:2] == ["parent_id", "id"]
    pages = [p for p, _ in api.calls if p.endswith("/items")]
    assert len(pages) == sum(max(1, (api.items_per_parent(p) + 1) // 2) for p in api.parents)
    assert all(params.get("limit") == 2 for path, params in api.calls if path.endswith("/items"))


def test_output_is_byte_identical_whatever_the_timing(component, tmp_path):
    outputs = []
    for workers, delay in ((1, 0.0), (8, 0.004), (3, 0.002)):
        api = FakeApi(delay=delay)
        api.random = random.Random(workers)
        run(api, component, CHILDREN, workers=workers)
        outputs.append((Path(component.tables_out_path) / "children.csv").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_submission_is_bounded_by_the_window(component):
    consumed = []
    api = FakeApi(parents=200, items_per_parent=lambda pid: 1, delay=0.002)

    original = api.request_json

    def listing(method, path, **kwargs):
        body = original(method, path, **kwargs)
        if path == "/parents":
            items = body["parents"]

            class Lazy(list):  # records when the reader takes each parent off the list
                def __iter__(self):
                    for item in items:
                        consumed.append((item["id"], len([p for p, _ in api.calls if p.endswith("/items")])))
                        yield item

            body["parents"] = Lazy(items)
        return body

    api.request_json = listing
    run(api, component, CHILDREN, workers=2)
    # The reader never takes a parent more than the window (2 x workers) ahead of the requests made so far.
    assert all(taken - 1 - done <= 4 for taken, done in consumed)
    assert api.max_in_flight <= 2
    assert len(read(component, "children")) == 200


def test_a_parent_deleted_mid_run_is_skipped_with_a_warning(component, caplog):
    api = FakeApi()
    api.gone = {4, 9}
    run(api, component, CHILDREN)
    assert [(r["parent_id"], r["id"]) for r in read(component, "children")] == expected_children(api)
    assert "parent_id 4 was deleted during the run (404)" in caplog.text


def test_a_403_names_the_dataset_and_the_access_to_grant(component):
    api = FakeApi()
    api.forbidden = {"/parents"}
    with pytest.raises(PermissionDeniedError) as info:
        run(api, component, CHILDREN)
    message = str(info.value)
    assert "may not read children" in message and "access to Parents" in message and "'children' off" in message
    assert not (Path(component.tables_out_path) / "children.csv").exists()


def test_limit_offset_paging_stops_on_a_short_page(component):
    api = FakeApi()
    declaration = Declaration(key="offsets", path="/offset", items_key="rows", paging=Paging.OFFSET, page_size=10,
                              table=TableSpec(name="offsets", primary_key=("email",)))
    run(api, component, declaration)
    assert [r["email"] for r in read(component, "offsets")] == [f"e{n}@x" for n in range(23)]
    assert [params["offset"] for path, params in api.calls] == [0, 10, 20]


def test_nested_parents_and_a_parent_of_fixed_values(component):
    api = FakeApi(parents=3)
    per_kind = Declaration(key="per_kind", path="/parents", items_key="parents",
                           parent=Parent.fixed("kind", ("a", "b"), noun="kind"))
    leaf = Declaration(key="leaf", path="/parents/{parent_id}/items", items_key="items", paging=Paging.CURSOR,
                       parent=Parent(per_kind, {"kind": "kind", "parent_id": "id"}),
                       table=TableSpec(name="leaf", primary_key=("kind", "parent_id", "id")))
    run(api, component, leaf)
    rows = read(component, "leaf")
    assert [(r["kind"], r["id"]) for r in rows] == [(k, f"{p}-{n}") for k in "ab" for p in (1, 2, 3)
                                                    for n in range(p % 5)]


def test_a_list_that_is_not_a_list_is_one_sentence(component):
    declaration = Declaration(key="broken", path="/broken", items_key="rows",
                              table=TableSpec(name="broken", primary_key=("id",)))
    with pytest.raises(InvalidResponseError, match=r"answered GET /broken without a 'rows' list"):
        run(FakeApi(), component, declaration)


@pytest.mark.parametrize(("url", "clean"), [
    ("https://user:pa%40ss@hooks.example.com/x?y=1", "https://hooks.example.com/x?y=1"),
    ("http://token@10.0.0.5:8080/in", "http://10.0.0.5:8080/in"),
    ("https://example.com/a@b", "https://example.com/a@b"),
    ("https://example.com", "https://example.com"),
    (None, None),
])
def test_url_credentials_are_stripped(url, clean):
    assert strip_url_credentials(url) == clean


def test_a_parent_is_listed_once_per_run_and_shared_by_every_child(component):
    api = FakeApi()
    others = Declaration(key="others", path=CHILDREN.path, items_key="items", paging=Paging.CURSOR, page_size=2,
                         parent=CHILDREN.parent, table=TableSpec(name="others", primary_key=("parent_id", "id"),
                                                                 seed_columns=("parent_id", "id")))
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, max_workers=4)
    run_dataset(DeclaredDataset(None, CHILDREN), ctx, {})
    run_dataset(DeclaredDataset(None, others), ctx, {})
    assert [path for path, _ in api.calls if path == "/parents"] == ["/parents"]
    assert read(component, "others") == read(component, "children") != []


def test_datasets_side_by_side_list_a_parent_once_and_a_failed_listing_is_listed_again(component):
    from datasets.declared import listing

    api = FakeApi()
    api.delay = 0.05  # the first reader is still listing when the others ask
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, max_workers=4)
    results: list[list] = []

    def reader():
        results.append(list(listing(ctx, PARENTS, ("id",))))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [path for path, _ in api.calls if path == "/parents"] == ["/parents"]
    assert len(results) == 4 and all(result == results[0] != [] for result in results)

    other = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                       incremental_load=True, now=0, max_workers=4)
    api.forbidden.add("/parents")
    with pytest.raises(PermissionDeniedError):
        list(listing(other, PARENTS, ("id",)))
    api.forbidden.clear()
    assert list(listing(other, PARENTS, ("id",))) == results[0]  # nobody waits forever on the failed one
    assert not other.listings_under_way


class ListApi:
    """Pages of ``rows`` served by position: ``mode`` offset/page honours the position or ``ignore``s it (every
    request answers the first page, as an endpoint that drops an unknown parameter would); /once answers `next`."""

    def __init__(self, rows: int = 23, ignore: bool = False):
        self.rows = [{"email": f"e{n}@x"} for n in range(rows)]
        self.ignore = ignore
        self.calls: list[dict] = []

    def request_json(self, method, path, *, params=None, json_body=None):
        params = dict(params or {})
        self.calls.append(params)
        assert len(self.calls) < 50, "the reader does not stop"
        if path == "/once":  # an endpoint the spec lists as one answer, which carries `next` after all
            return {"rows": self.rows[:2], "next": "t2"}
        limit = params["limit"]
        start = 0 if self.ignore else params.get("offset", (params.get("page", 1) - 1) * limit)
        return {"rows": self.rows[start : start + limit]}

    def paginate(self, method, path, *, params=None, json_body=None, start=None):
        position = 2
        while True:
            self.calls.append({**(params or {}), "start": start})
            page = self.rows[position : position + 2]
            position += 2
            following = f"t{position}" if position < len(self.rows) else None  # absent at the end
            yield {"rows": page, **({"next": following} if following else {})}
            if not following:
                return


def _list(key, paging=Paging.NONE, **kwargs):
    return Declaration(key=key, path=f"/{key}", items_key="rows", paging=paging,
                       table=TableSpec(name=key, primary_key=("email",)), **kwargs)


def test_an_answer_that_carries_next_is_followed_on_every_endpoint(component):
    api = ListApi(rows=7)
    run(api, component, _list("once"))
    assert [r["email"] for r in read(component, "once")] == [f"e{n}@x" for n in range(7)]
    assert api.calls[1]["start"] == "t2"


@pytest.mark.parametrize("paging", [Paging.OFFSET, Paging.PAGE])
def test_positional_paging_ends_on_a_page_that_repeats_the_last_one(component, paging, caplog):
    api = ListApi(rows=23, ignore=True)
    run(api, component, _list("offsets", paging, page_size=10))
    assert [r["email"] for r in read(component, "offsets")] == [f"e{n}@x" for n in range(10)]
    assert len(api.calls) == 2
    assert "answered the same page" in caplog.text and "only its first 10 offsets are read" in caplog.text


def test_page_number_paging_starts_at_one_and_ends_on_a_short_page(component):
    api = ListApi(rows=23)
    run(api, component, _list("pages", Paging.PAGE, page_size=10))
    assert [r["email"] for r in read(component, "pages")] == [f"e{n}@x" for n in range(23)]
    assert [c["page"] for c in api.calls] == [1, 2, 3]


def test_several_passes_keep_each_key_once(component):
    api = ListApi(rows=5)
    declaration = _list("passes", Paging.OFFSET, page_size=3, passes=({"hidden": "false"}, {"hidden": "true"}))
    run(api, component, declaration)
    assert [r["email"] for r in read(component, "passes")] == [f"e{n}@x" for n in range(5)]
    assert [c["hidden"] for c in api.calls] == ["false", "false", "true", "true"]


def test_every_reader_of_a_listing_finds_its_fields_in_the_listing_the_table_fills():
    """A parent's fields that a child, segment membership or metrics takes are among the declaration's
    listing_fields: the table's own read (or the first listing) serves every later reader, no second listing."""
    from datasets import catalogue
    from datasets.metrics import entities
    from datasets.segment_membership import WITH_STATES

    parents = [d.parent for d in catalogue.CATALOGUE if d.parent is not None and d.parent.declaration is not None]
    parents += [WITH_STATES, entities.CAMPAIGNS, entities.BROADCASTS, entities.NEWSLETTERS, entities.TRANSACTIONAL]
    for parent in parents:
        if parent.declaration.table is not None:
            assert set(parent.columns.values()) <= set(parent.declaration.listing_fields), parent.declaration.key


def test_a_table_fills_the_listing_its_children_and_a_wider_reader_share(component):
    api = FakeApi(parents=5)
    ctx = RunContext(client=api, component=component, tables_dir=Path(component.tables_out_path),
                     incremental_load=True, now=0, max_workers=4)
    table = dataclasses.replace(PARENTS, listing_fields=("id", "name"))
    run_dataset(DeclaredDataset(None, table), ctx, {})
    run_dataset(DeclaredDataset(None, dataclasses.replace(CHILDREN, parent=Parent(table, {"parent_id": "id"}))), ctx,
                {})
    named = list(listed(ctx, Parent(table, {"parent_id": "id", "label": "name"})))
    assert named == [{"parent_id": pid, "label": f"P{pid}"} for pid in range(1, 6)]
    assert [path for path, _ in api.calls if path == "/parents"] == ["/parents"]  # the table's read, nothing else
    assert [row["parent_id"] for row in read(component, "children")][:1] == ["1"]
    # a field the listing did not keep: listed again (correct, if slower), and the wider listing is kept
    assert [scope["x"] for scope in listed(ctx, Parent(table, {"x": "missing"}))] == [None] * 5
    assert len([path for path, _ in api.calls if path == "/parents"]) == 2
