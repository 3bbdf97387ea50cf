import csv
import io
import os
import random
import tempfile
import threading
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from output import TableResult, TableSpec, TableWriter, flatten
from output.naming import ColumnClash


@pytest.fixture
def tables_dir(tmp_path):
    path = tmp_path / "out" / "tables"
    path.mkdir(parents=True)
    return path


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def leftovers(tables_dir):
    """Everything under out/ except the written tables (spools must be gone)."""
    out = tables_dir.parent
    return sorted(p.name for p in out.iterdir() if p != tables_dir)


SPEC = TableSpec(name="messages", primary_key=("id",), seed_columns=("id", "created"))


def chain_rows():
    """Rows per chain key; shapes differ between chains and grow mid-stream."""
    return {
        ("email", 2): [{"id": f"e2-{i}", "created": str(i), "subject": f"s{i}"} for i in range(50)]
        + [{"id": "e2-x", "metrics_sent": "1", "created": "9"}],
        ("email", 1): [{"created": str(i), "id": f"e1-{i}", "recipient": "a@b.c"} for i in range(40)],
        ("sms", 1): [{"id": "s-1", "zeta": "z"}, {"id": "s-2", "alpha": "a,b", "zeta": 'q"uote'}],
        ("push", 0): [],
        (): [{"id": "default"}],
    }


def write_tables(tables_dir, order, threaded=False, close_chains=True):
    rows = chain_rows()
    writer = TableWriter(tables_dir, SPEC)

    def feed(key):
        chain = writer.chain(key)
        for row in rows[key]:
            chain.write(row)
        if close_chains:
            chain.close()

    if threaded:
        threads = [threading.Thread(target=feed, args=(key,)) for key in order]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for key in order:
            feed(key)
    result = writer.close()
    return result, result.path.read_bytes()


def test_same_rows_give_identical_bytes_whatever_the_order_or_threads(tables_dir):
    keys = list(chain_rows())
    result, expected = write_tables(tables_dir, keys)
    for seed in range(5):
        order = keys[:]
        random.Random(seed).shuffle(order)
        assert write_tables(tables_dir, order)[1] == expected
        assert write_tables(tables_dir, order, threaded=True)[1] == expected
        assert write_tables(tables_dir, order, threaded=True, close_chains=False)[1] == expected
    assert result.rows == 51 + 40 + 2 + 1
    assert result.columns == ["id", "created", "alpha", "metrics_sent", "recipient", "subject", "zeta"]
    assert leftovers(tables_dir) == []

    table = read_csv(tables_dir / "messages.csv")
    assert table[0] == result.names == result.columns
    assert table[1] == ["default", "", "", "", "", "", ""]  # key () sorts first
    assert table[2] == ["e1-0", "0", "", "", "a@b.c", "", ""]  # then ("email", 1)
    assert table[42] == ["e2-0", "0", "", "", "", "s0", ""]
    assert table[92] == ["e2-x", "9", "", "1", "", "", ""]
    assert table[93:] == [["s-1", "", "", "", "", "", "z"], ["s-2", "", "a,b", "", "", "", 'q"uote']]


def test_many_threads_writing_many_chains(tables_dir):
    def run(shuffle_seed):
        writer = TableWriter(tables_dir, TableSpec(name="t"))
        keys = [(k,) for k in range(16)]
        random.Random(shuffle_seed).shuffle(keys)

        def feed(key):
            chain = writer.chain(key)
            for i in range(200):
                chain.write({f"c{(key[0] + i) % 7}": str(i), "k": str(key[0])})

        threads = [threading.Thread(target=feed, args=(key,)) for key in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return writer.close().path.read_bytes()

    first = run(0)
    assert all(run(seed) == first for seed in (1, 2, 3))
    table = read_csv(tables_dir / "t.csv")
    assert table[0] == ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "k"]
    assert len(table) == 1 + 16 * 200
    assert [row[-1] for row in table[1:201]] == ["0"] * 200


def test_chain_creation_is_thread_safe_and_returns_one_chain_per_key(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="t"))
    chains = []
    barrier = threading.Barrier(8)

    def get():
        barrier.wait()
        chains.append(writer.chain(("same",)))

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(chain) for chain in chains}) == 1
    writer.abort()


def test_new_columns_mid_stream_are_padded(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="t"))
    writer.write({"b": "1"})
    writer.write({"b": "2", "a": "x"})
    writer.write({"c": "3"})
    writer.write({})
    result = writer.close()
    assert result.columns == ["a", "b", "c"]
    assert read_csv(result.path) == [["a", "b", "c"], ["", "1", ""], ["x", "2", ""], ["", "", "3"], ["", "", ""]]


@pytest.fixture
def merge_paths(monkeypatch):
    """Counts how spool segments are merged: 'copy' (bytes as they are) or 'reparse' (re-ordered/padded).

    Closed chains are not consolidated here, so the segments are merged as a large chain's would be.
    """
    from output import table_writer

    monkeypatch.setattr(table_writer, "_CONSOLIDATE_ROWS", 0)

    calls = []
    real_copy, real_reorder = table_writer.shutil.copyfileobj, table_writer._copy_reordered

    def copy(*args, **kwargs):
        calls.append("copy")
        return real_copy(*args, **kwargs)

    def reorder(*args, **kwargs):
        calls.append("reparse")
        return real_reorder(*args, **kwargs)

    monkeypatch.setattr(table_writer.shutil, "copyfileobj", copy)
    monkeypatch.setattr(table_writer, "_copy_reordered", reorder)
    return calls


def test_fast_path_and_re_parsing_paths_agree(tables_dir, merge_paths):
    rows = [{"id": str(i), "v": f"x,{i}" if i else "", "w": "a\nb"} for i in range(20)]

    def write(name, rows):
        merge_paths.clear()
        writer = TableWriter(tables_dir, TableSpec(name=name, seed_columns=("id",)))
        for row in rows:
            writer.write(row)
        return writer.close().path.read_bytes()

    # The first row's keys are taken in sorted order and no column appears later: the spool is copied as is.
    fast = write("fast", rows)
    assert merge_paths == ["copy"]
    assert fast.startswith(b'id,v,w\n0,,"a\nb"\n1,"x,1","a\nb"\n')
    # Another key order in the rows does not matter: rows are written in the spool's column order.
    assert write("shuffled", [{"w": r["w"], "id": r["id"], "v": r["v"]} for r in rows]) == fast
    assert merge_paths == ["copy"]
    # "v" first seen in the second row: the first row's segment (id, w) is re-ordered, a new segment
    # (id, v, w) starts with the second row and is copied.
    assert write("reordered", [{"id": "0", "w": "a\nb"}, *rows[1:]]) == fast
    assert merge_paths == ["reparse", "copy"]
    # Keys known from state (known columns) -> one segment in the final order from the start.
    writer = TableWriter(tables_dir, TableSpec(name="known", seed_columns=("id",)), known_columns=["w", "v"])
    for row in rows:
        writer.write(row)
    merge_paths.clear()
    assert read_csv(writer.close().path)[1:3] == [["a\nb", "", "0"], ["a\nb", "x,1", "1"]]
    assert merge_paths == ["copy"]


def test_after_the_segment_cap_new_columns_make_short_rows(tables_dir, merge_paths):
    from output.table_writer import _MAX_SEGMENTS

    count = _MAX_SEGMENTS + 30
    writer = TableWriter(tables_dir, TableSpec(name="sparse", seed_columns=("id",)))
    for i in range(count):
        writer.write({"id": str(i), f"c{i:03d}": "x", "shared": "s,"})  # a new column in every row
    result = writer.close()
    assert merge_paths.count("reparse") == _MAX_SEGMENTS  # every segment but none is in the final order
    table = read_csv(result.path)
    assert table[0] == ["id", *[f"c{i:03d}" for i in range(count)], "shared"]
    for i, row in enumerate(table[1:]):
        assert row == [str(i), *["x" if j == i else "" for j in range(count)], "s,"]


def test_known_columns_come_first_and_are_never_dropped(tables_dir):
    spec = TableSpec(name="customers", primary_key=("cio_id",), seed_columns=("id", "email"))
    writer = TableWriter(tables_dir, spec, known_columns=["zz_old", "email", "attr_b", "zz_old"])
    writer.write({"attr_a": "1", "id": "7", "email": "e@x", "attr_c": "3", "cio_id": "c1"})
    result = writer.close()
    assert result.columns == ["zz_old", "email", "attr_b", "id", "cio_id", "attr_a", "attr_c"]
    assert read_csv(result.path) == [result.names, ["", "e@x", "", "7", "c1", "1", "3"]]


def test_empty_table_writes_header_of_known_and_seed_columns(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="empty", seed_columns=("id", "name")), known_columns=["old"])
    result = writer.close()
    assert result == TableResult(columns=["old", "id", "name"], names=["old", "id", "name"], rows=0, path=result.path)
    assert result.path.read_bytes() == b"old,id,name\n"
    assert leftovers(tables_dir) == []


def test_table_without_any_column_writes_nothing(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="nothing"))
    writer.write({})
    result = writer.close()
    assert result.columns == [] and result.names == [] and result.rows == 0 and result.path is None
    assert list(tables_dir.iterdir()) == []
    assert leftovers(tables_dir) == []


def test_header_uses_storage_names_and_reports_clashes(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="customers", seed_columns=("id",)))
    writer.write({"id": "1", "Name": "A", "name": "a", "first name": "F", "_o:x": "o", "město": "Brno"})
    result = writer.close()
    assert result.columns == ["id", "Name", "_o:x", "first name", "město", "name"]  # new ones sorted by code point
    assert result.names == ["id", "Name", "o_x", "first_name", "mesto", "name_2"]
    assert result.clashes == [ColumnClash("name", "Name", "name_2")]
    assert read_csv(result.path)[0] == result.names


def test_quoting_round_trips(tables_dir):
    nasty = [
        "comma, here",
        'double "quotes"',
        "new\nline",
        "carriage\rreturn",
        "crlf\r\nend",
        "",
        " padded ",
        "ünïcødé 日本",
        '"',
        ",",
        "x" * 200_000,  # above csv's default 128 KiB field limit
        "nul\x00byte",
    ]
    writer = TableWriter(tables_dir, TableSpec(name="q"))
    writer.write({f"c{i:02d}": value for i, value in enumerate(nasty)})
    # A second chain with another column order forces the re-parsing merge path.
    writer.chain(("b",)).write({f"c{i:02d}": value for i, value in reversed(list(enumerate(nasty)))})
    writer.chain(("c",)).write({"c00": ""})
    result = writer.close()
    data = result.path.read_bytes()
    assert b"\r\n" not in data.replace(b'"crlf\r\nend"', b"")
    # header + 3 rows end in a bare \n; the other bare \n are the two quoted "new\nline" values
    assert data.count(b"\n") - data.count(b"\r\n") - 2 == 4
    table = read_csv(result.path)
    assert table[1] == nasty
    assert table[2] == nasty
    assert table[3] == [""] + [""] * (len(nasty) - 1)
    # Also parseable as a whole by a text reader.
    assert list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))[1] == nasty


def test_single_column_empty_values_stay_rows(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="one"))
    writer.write({"a": ""})
    writer.chain(("z",)).write({})
    result = writer.close()
    assert result.rows == 2
    assert result.path.read_bytes() == b'a\n""\n""\n'
    assert read_csv(result.path) == [["a"], [""], [""]]


def test_context_manager_closes_on_success_and_aborts_on_error(tables_dir):
    with TableWriter(tables_dir, TableSpec(name="ok")) as writer:
        writer.write({"a": "1"})
    assert (tables_dir / "ok.csv").read_bytes() == b"a\n1\n"

    with pytest.raises(RuntimeError, match="boom"), TableWriter(tables_dir, TableSpec(name="bad")) as writer:
        writer.chain(("x",)).write({"a": "1"})
        raise RuntimeError("boom")
    assert not (tables_dir / "bad.csv").exists()
    assert leftovers(tables_dir) == []
    with pytest.raises(RuntimeError):
        writer.chain(("y",))
    with pytest.raises(RuntimeError, match="aborted"):
        writer.close()


def test_close_is_idempotent_and_writes_after_close_fail(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="t"))
    chain = writer.chain()
    chain.write({"a": "1"})
    result = writer.close()
    assert writer.close() is result
    with pytest.raises(ValueError):
        chain.write({"a": "2"})
    with pytest.raises(ValueError):
        chain.write({"b": "2"})
    with pytest.raises(RuntimeError):
        writer.chain(("new",))
    writer.abort()  # no-op after a successful close
    assert result.path.read_bytes() == b"a\n1\n"


def test_spec_validation():
    with pytest.raises(ValueError, match="Table name"):
        TableSpec(name="../evil")
    with pytest.raises(ValueError, match="Unknown column types"):
        TableSpec(name="t", column_types={"a": "VARCHAR"})
    spec = TableSpec(name="t", primary_key=["id"], seed_columns=["id"])  # lists are normalised to tuples
    assert spec.primary_key == ("id",) and spec.seed_columns == ("id",)


def test_chain_keys_must_be_tuples_and_column_names_str(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="t"))
    with pytest.raises(TypeError):
        writer.chain("email")
    with pytest.raises(TypeError):
        writer.write({1: "x"})
    writer.abort()


def test_incomparable_chain_keys_are_still_merged_deterministically(tables_dir):
    def run(order):
        writer = TableWriter(tables_dir, TableSpec(name="t"))
        for key in order:
            writer.chain(key).write({"k": repr(key)})
        return writer.close().path.read_bytes()

    keys = [(None,), (1,), ("a",)]
    assert run(keys) == run(list(reversed(keys)))


def test_sparse_columns_keep_rows_correct(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="sparse", seed_columns=("id",)))
    for i in range(3000):
        writer.write({"id": str(i), f"attr_{i % 1500:04d}": "v", f"other_{i % 1100:04d}": "w"})
    result = writer.close()
    table = read_csv(result.path)
    assert len(table) == 3001 and all(len(row) == len(result.columns) for row in table)
    header = table[0]
    row = dict(zip(header, table[2000], strict=True))
    assert row["id"] == "1999" and row["attr_0499"] == "v" and row["other_0899"] == "w"
    assert sum(1 for value in table[2000] if value) == 3


def test_flattened_message_records_end_to_end(tables_dir):
    records = [
        {
            "id": "m1",
            "created": 1619137767,
            "forgotten": False,
            "metrics": {"delivered": 1619137768, "sent": 1619137768},
            "customer_identifiers": {"cio_id": "a3", "email": "p@e.com", "id": 2},
            "tags": ["a", "b"],
            "failure_message": None,
        },
        {"id": "m2", "created": 1619137800, "metrics": {"opened": 1619137900}},
    ]
    spec = TableSpec(name="messages", primary_key=("id",), seed_columns=("id", "created"))
    with TableWriter(tables_dir, spec) as writer:
        for record in records:
            writer.write(flatten(record))
    table = read_csv(tables_dir / "messages.csv")
    assert table[0] == [
        "id",
        "created",
        "customer_identifiers_cio_id",
        "customer_identifiers_email",
        "customer_identifiers_id",
        "forgotten",  # failure_message is null in every record: no column (a seed column would keep it)
        "metrics_delivered",
        "metrics_opened",
        "metrics_sent",
        "tags",
    ]
    assert table[1] == [
        "m1",
        "1619137767",
        "a3",
        "p@e.com",
        "2",
        "false",
        "1619137768",
        "",
        "1619137768",
        '["a","b"]',
    ]
    assert table[2] == ["m2", "1619137800", "", "", "", "", "", "1619137900", "", ""]


def test_lone_surrogates_are_replaced_not_fatal(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="s"))
    writer.write(flatten({"a": "x\ud800y", "b": ["\udfff"]}))
    assert read_csv(writer.close().path) == [["a", "b"], ["x?y", '["?"]']]


column_keys = st.sampled_from(["id", "a", "B", "b", "c_d", "é", "z"])
cell_values = st.text(alphabet=st.sampled_from(["x", ",", '"', "\n", "\r", " ", "ü", "\x00"]), max_size=5)


@settings(max_examples=60, deadline=None)
@given(
    chains=st.lists(
        st.tuples(st.integers(0, 3), st.lists(st.dictionaries(column_keys, cell_values), max_size=6)),
        max_size=4,
    ),
    known=st.lists(column_keys, max_size=3),
    seeds=st.lists(column_keys, max_size=2),
    max_segments=st.integers(1, 3),
    order_seed=st.integers(0, 3),
)
def test_merge_matches_a_simple_model(chains, known, seeds, max_segments, order_seed):
    """Whatever the chains, segments and write interleaving: the file is the rows of the chains in key order,
    each row laid out on the final columns."""
    from output import table_writer

    by_key = {}
    for key, rows in chains:
        by_key.setdefault((key,), []).extend(rows)
    # interleave the writes of the chains in a pseudo-random order
    writes = [(key, row) for key, rows in by_key.items() for row in rows]
    random.Random(order_seed).shuffle(writes)
    per_chain_order = {key: [row for k, row in writes if k == key] for key in by_key}

    spec = TableSpec(name="t", seed_columns=tuple(seeds))
    with tempfile.TemporaryDirectory() as tmp, patch.object(table_writer, "_MAX_SEGMENTS", max_segments):
        tables = Path(tmp) / "out" / "tables"
        writer = TableWriter(tables, spec, known_columns=known)
        for key in by_key:
            writer.chain(key)
        for key, row in writes:
            writer.chain(key).write(row)
        result = writer.close()

        fixed = list(dict.fromkeys([*known, *seeds]))
        seen = {column for rows in by_key.values() for row in rows for column in row}
        expected_columns = fixed + sorted(seen - set(fixed))
        if not expected_columns:
            assert result.columns == [] and result.path is None
            return
        assert result.columns == expected_columns
        expected_rows = [
            [row.get(column, "") for column in expected_columns]
            for key in sorted(by_key)
            for row in per_chain_order[key]
        ]
        assert result.rows == len(expected_rows)
        assert read_csv(result.path) == [result.names, *expected_rows]
        assert sorted(p.name for p in Path(tmp, "out").iterdir()) == ["tables"]


def test_discarded_chain_leaves_no_rows_and_no_columns(tables_dir):
    writer = TableWriter(tables_dir, SPEC)
    writer.chain((0,)).write({"id": "kept", "created": "1"})
    dropped = writer.chain((1,))
    dropped.write({"id": "dropped", "created": "2", "only_in_dropped": "x"})
    writer.discard_chain((1,))
    writer.discard_chain((7,))  # unknown keys are ignored
    result = writer.close()
    assert read_csv(result.path) == [["id", "created"], ["kept", "1"]]
    assert result.rows == 1
    assert leftovers(tables_dir) == []


def test_small_closed_chains_are_consolidated_into_one_spool_file_with_the_same_output(tables_dir, monkeypatch):
    from output import table_writer

    rng = random.Random(7)
    keys = [f"k{i}" for i in range(12)]
    chains = [[{"id": f"{c}-{r}", **{k: f"v{r}," for k in rng.sample(keys, rng.randint(1, 5))}} for r in range(30)]
              for c in range(40)]

    def write(name: str) -> tuple[bytes, TableWriter]:
        writer = TableWriter(tables_dir, TableSpec(name=name, seed_columns=("id",)))
        for index, rows in enumerate(chains):
            chain = writer.chain((index,))
            for row in rows:
                chain.write(row)
            chain.close()
        spool_files = sorted(os.listdir(writer._spool_dir))
        return writer.close().path.read_bytes(), spool_files

    consolidated, files = write("small")
    assert files == sorted(f"chain-{i}-all.csv" for i in range(40))  # one file per chain, the others deleted
    monkeypatch.setattr(table_writer, "_CONSOLIDATE_ROWS", 0)
    as_written, files = write("large")
    assert len(files) > 40
    assert consolidated == as_written


def test_closed_chains_share_their_column_tuples(tables_dir):
    writer = TableWriter(tables_dir, TableSpec(name="shared", seed_columns=("id",)))
    closed = []
    for index in range(3):
        chain = writer.chain((index,))
        chain.write({"id": str(index), "a": "1"})
        chain.write({"id": str(index), "b": "2", "a": "3"})  # a new column: a second segment, then one again
        chain.close()
        closed.append(chain)
    segments = [chain._segments() for chain in closed]
    assert all(len(parts) == 1 for parts in segments)
    assert segments[0][0].columns == ("id", "a", "b")
    assert segments[0][0].columns is segments[1][0].columns is segments[2][0].columns
    assert closed[0]._others is closed[1]._others
    writer.close()
