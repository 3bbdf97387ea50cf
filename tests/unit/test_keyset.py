"""KeySet: each key once, whatever the number of keys (the array grows), compact."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from datasets.keyset import KeySet


def test_each_key_is_new_once_across_growth():
    keys = KeySet()
    assert all(keys.add(f"a3{n:06x}") for n in range(50_000))
    assert not any(keys.add(f"a3{n:06x}") for n in range(0, 50_000, 7))
    assert len(keys) == 50_000
    assert "a3000010" in keys and "missing" not in keys


def test_stays_compact():
    keys = KeySet()
    for n in range(100_000):
        keys.add(str(n))
    assert keys._slots.itemsize * len(keys._slots) <= 32 * 100_000


@given(st.lists(st.text(max_size=12)))
def test_agrees_with_a_set(values):
    keys, plain = KeySet(), set()
    for value in values:
        assert keys.add(value) == (value not in plain)
        plain.add(value)
    assert len(keys) == len(plain)


def test_add_hash_takes_keys_hashed_in_this_process():
    from datasets.keyset import KeySet, process_hash

    keys = KeySet()
    assert [keys.add_hash(process_hash(k)) for k in ("a", "b", "a", "c", "b")] == [True, True, False, True, False]
    assert len(keys) == 3


@given(st.lists(st.lists(st.text(max_size=6), max_size=40), max_size=8))
def test_pages_added_at_once_agree_with_a_set(pages):
    from datasets.keyset import process_hash

    keys, plain = KeySet(), set()
    for page in pages:
        expected = []
        for value in page:  # the first of a page's repeats is new, the rest are not
            expected.append(value not in plain)
            plain.add(value)
        assert keys.add_hashes(map(process_hash, page)) == expected
    assert len(keys) == len(plain)


def test_one_page_that_grows_the_set_many_times_keeps_every_key_once():
    from datasets.keyset import process_hash

    keys = KeySet()
    page = [f"c{n:06d}" for n in range(20_000)]
    page[15_000:15_000] = page[:100] + page[9_900:10_000]  # repeats after several growths, inside the same page
    fresh = keys.add_hashes(map(process_hash, page))
    assert fresh == [True] * 15_000 + [False] * 200 + [True] * 5_000
    assert len(keys) == 20_000
    assert not any(keys.add_hashes(map(process_hash, page[::97])))  # and in a later page
