"""Spool files live in the temporary directory (TMPDIR), never under /data; the table is merged into out/tables."""

from __future__ import annotations

import tempfile

import pytest

from output import TableSpec, TableWriter

SPEC = TableSpec(name="messages", primary_key=("id",), seed_columns=("id",))


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # what TMPDIR sets for a fresh process
    return temp


def test_spools_are_in_the_temporary_directory_and_gone_after_close(tmp_path, tmpdir_env):
    data = tmp_path / "data"
    tables = data / "out" / "tables"
    tables.mkdir(parents=True)  # as the platform gives it
    writer = TableWriter(tables, SPEC)
    writer.chain((1,)).write({"id": "b", "x": "1"})
    writer.chain((0,)).write({"id": "a"})
    spools = list(tmpdir_env.iterdir())
    assert len(spools) == 1 and spools[0].name.startswith("spool-messages-")
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == ["out", "out/tables"]
    result = writer.close()
    assert result.path == tables / "messages.csv"
    assert result.path.read_text() == "id,x\na,\nb,1\n"
    assert list(tmpdir_env.iterdir()) == []
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == [
        "out", "out/tables", "out/tables/messages.csv"]


def test_a_merge_that_fails_leaves_no_partial_table(tmp_path, tmpdir_env, monkeypatch):
    tables = tmp_path / "out" / "tables"
    tables.mkdir(parents=True)
    writer = TableWriter(tables, SPEC)
    writer.write({"id": "a"})

    def broken(*_args):
        (tables / "messages.csv").write_text("id\n")  # part of the file is written when the merge breaks
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_write_merged", broken)
    with pytest.raises(OSError, match="No space"):
        writer.close()
    assert list(tables.iterdir()) == []
    assert list(tmpdir_env.iterdir()) == []
