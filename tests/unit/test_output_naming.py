import re

from hypothesis import given
from hypothesis import strategies as st

from output import storage_column_names, table_name
from output.naming import ColumnClash, renamed_clashes

VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$")


def test_valid_names_are_kept():
    assert storage_column_names(["id", "created_at", "Name", "x1"]) == ["id", "created_at", "Name", "x1"]


def test_invalid_characters_become_single_underscores():
    names = storage_column_names(["first name", "a.b-c", "e-mail  address!", "x__y", "$price%", "a: b"])
    assert names == ["first_name", "a_b_c", "e_mail_address", "x_y", "price", "a_b"]


def test_leading_underscores_are_stripped():
    assert storage_column_names(["_id", "__cio_id", "_"]) == ["id", "cio_id", "column"]


def test_non_ascii_is_transliterated_or_replaced():
    names = storage_column_names(["město", "Ärger", "naïve café", "日本語", "名前 name", "straße"])
    assert names == ["mesto", "Arger", "naive_cafe", "RiBenYu", "MingQian_name", "strasse"]


def test_names_without_ascii_letters_get_a_recognisable_deterministic_name():
    names = storage_column_names(["名前", "город", "🙂", "★", "---"])
    assert names == ["MingQian", "gorod", "slight_smile", "BLACK_STAR", "column"]


def test_empty_and_symbol_only_names_fall_back_to_column():
    assert storage_column_names(["", "!!!", "   "]) == ["column", "column_2", "column_3"]


def test_names_are_cut_to_64_characters_with_a_stable_hash():
    long_a = "attribute_" + "x" * 80 + "_a"
    long_b = "attribute_" + "x" * 80 + "_b"
    names = storage_column_names([long_a, long_b, "y" * 64])
    assert all(len(name) <= 64 and VALID.match(name) for name in names)
    assert names[0] != names[1]
    assert names[0].startswith("attribute_xxxx") and names[1].startswith("attribute_xxxx")
    assert re.fullmatch(r"attribute_x+_[0-9a-f]{8}", names[0])
    assert names[2] == "y" * 64  # exactly 64 is fine
    assert storage_column_names([long_a]) == names[:1]  # stable


def test_case_insensitive_clash_gets_a_numbered_suffix():
    keys = ["Name", "name", "First Name", "first_name", "NAME"]
    names = storage_column_names(keys)
    assert names == ["Name", "name_2", "First_Name", "first_name_2", "NAME_3"]
    assert len({name.lower() for name in names}) == len(names)
    assert renamed_clashes(keys, names) == [
        ColumnClash("name", "Name", "name_2"),
        ColumnClash("first_name", "First Name", "first_name_2"),
        ColumnClash("NAME", "Name", "NAME_3"),
    ]
    assert renamed_clashes(keys) == renamed_clashes(keys, names)


def test_clash_message_names_both_originals():
    clash = renamed_clashes(["Name", "name"])[0]
    assert clash.message("customers") == (
        "Columns 'Name' and 'name' of table customers clash in Storage; 'name' is written as 'name_2'."
    )


def test_no_clashes_reported_for_distinct_names():
    assert renamed_clashes(["id", "_o:weird", "name"]) == []


def test_suffixed_name_does_not_clash_with_an_existing_name():
    names = storage_column_names(["a_2", "a", "A"])
    assert names == ["a_2", "a", "A_3"]
    assert renamed_clashes(["a_2", "a", "A"]) == [ColumnClash("A", "a", "A_3")]


def test_suffix_keeps_long_names_within_64():
    base = "z" * 64
    names = storage_column_names([base, base.upper(), base + "!"])
    assert names == [base, "Z" * 62 + "_2", "z" * 62 + "_3"]


def test_first_come_keeps_the_plain_name_and_order_matters():
    assert storage_column_names(["name", "Name"]) == ["name", "Name_2"]
    assert storage_column_names(["Name", "name"]) == ["Name", "name_2"]


def test_append_stability():
    first = ["id", "Name", "name", "e-mail", "město"]
    extended = [*first, "NAME", "mesto", "e_mail", "new"]
    assert storage_column_names(extended)[: len(first)] == storage_column_names(first)


def test_many_clashes_stay_fast_and_unique():
    names = storage_column_names(["---"] * 5000)
    assert names[0] == "column" and names[-1] == "column_5000"
    assert len(set(names)) == 5000


def test_table_name_for_activity_types():
    assert table_name("_o:1:create") == "o_1_create"
    assert table_name("secondary:dropped_email") == "secondary_dropped_email"
    assert table_name("page") == "page"
    assert table_name("") == "table"
    assert table_name(":::") == "table"
    assert len(table_name("t" * 200)) == 64


keys = st.lists(st.text(max_size=80), max_size=30)


@given(keys, keys)
def test_storage_column_names_properties(first, more):
    names = storage_column_names(first)
    assert len(names) == len(first)
    assert all(VALID.match(name) for name in names), names
    assert len({name.lower() for name in names}) == len(names)
    extended = storage_column_names(first + more)
    assert extended[: len(first)] == names
    assert len({name.lower() for name in extended}) == len(extended)
    clashes = renamed_clashes(first, names)
    assert all(clash.name in names and clash.clashes_with in first for clash in clashes)


def test_the_earlier_rule_gave_the_names_tables_written_before_transliteration_have():
    from output.naming import earlier_column_names

    keys = ["cio_id", "straße", "город", "名前", "🎂 birthday", "město"]
    assert earlier_column_names(keys) == ["cio_id", "stra_e", "column", "column_2", "birthday", "mesto"]
    assert storage_column_names(keys) == ["cio_id", "strasse", "gorod", "MingQian", "birthday_birthday", "mesto"]


def test_kept_names_stay_and_new_names_never_take_them():
    kept = {"город": "column", "名前": "column_2", "🎂 birthday": "birthday"}
    keys = ["город", "名前", "🎂 birthday", "column", "birthday", "gorod"]
    assert storage_column_names(keys, kept) == ["column", "column_2", "birthday", "column_3", "birthday_2", "gorod"]
