"""The sandbox's people changes between runs and the profile activities they log (what customers' "continue since
last run" reads)."""

from __future__ import annotations

from sandbox import SandboxSettings
from sandbox.workspace import Workspace


def profile_activities(ws: Workspace, deleted: bool) -> list[tuple[str, str]]:
    return [(a["type"], a["customer_identifiers"]["cio_id"]) for a in ws.iter_activities(deleted=deleted)
            if a["type"].startswith("profile_") or (a["type"] == "attribute_change" and a["timestamp"] >= ws.anchor)]


def test_changes_log_profile_activities_and_a_deleted_persons_need_deleted_true():
    ws = Workspace(SandboxSettings(scenario="test", people=40))
    before = {p["identifiers"]["cio_id"] for p in ws.iter_people()}
    created = ws.create_person()
    assert created not in before and created > max(before)
    assert created in {p["identifiers"]["cio_id"] for p in ws.iter_people()}
    assert ws.person_attributes(created) is not None
    old_plan = ws.person_attributes("a3000002")["attributes"].get("plan", "")
    assert ws.change_attributes("a3000002", {"plan": "x", "no_such": None})  # removing a missing one logs nothing
    assert ws.delete_person("a3000003")
    primary = ws.person_attributes("a3000004")["attributes"]
    secondary = ws.person_attributes("a3000005")["attributes"]
    assert ws.merge_people("a3000004", "a3000005")
    merged = ws.person_attributes("a3000004")["attributes"]
    assert ws.person_attributes("a3000005") is None
    for name, value in secondary.items():  # inherited where the primary had nothing
        if name not in ("cio_id", "id", "email") and value and not primary.get(name):
            assert merged[name] == value
    assert {name: merged[name] for name in primary} == primary  # the primary's own values win

    assert profile_activities(ws, deleted=True) == [  # newest first
        ("profile_merge", "a3000004"), ("profile_merge", "a3000005"), ("profile_delete", "a3000003"),
        ("attribute_change", "a3000002"), ("profile_create", created)]
    assert profile_activities(ws, deleted=False) == [
        ("profile_merge", "a3000004"), ("attribute_change", "a3000002"), ("profile_create", created)]
    change = next(a for a in ws.iter_activities(type="attribute_change") if a["timestamp"] >= ws.anchor)
    assert change["data"] == {"plan": {"from": old_plan, "to": "x"}} and change["name"] == "plan"
