"""The sandbox's catalogue endpoints (sandbox/catalogue_api.py, sandbox/entities.py), through real HTTP."""

from __future__ import annotations

import pytest
import requests

from sandbox import SandboxServer, SandboxSettings
from sandbox.entities import WEBHOOK_CREDENTIALS, Entities

KEY = "sandbox-key"


def settings(**overrides) -> SandboxSettings:
    return SandboxSettings(**{"rate_limit": 0, "anchor": 1_750_000_000, **overrides})


@pytest.fixture(scope="module")
def server():
    with SandboxServer(settings(campaigns=9, actions_per_campaign=23, newsletters=6, broadcasts=4,
                                transactional=4)) as srv:
        yield srv


@pytest.fixture(scope="module")
def api():
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    yield session
    session.close()


def get(api, server, path, **params):
    response = api.get(server.url + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def follow(api, server, path, key, method="GET", body=None, **params):
    items, pages = [], 0
    while True:
        response = api.request(method, server.url + path, params=params, json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page[key]
        pages += 1
        if not page.get("next"):
            return items, pages
        params["start"] = page["next"]


def test_entities_keep_the_hand_written_ids_and_are_deterministic():
    small = Entities(settings())
    assert small.campaign_ids() == [5, 12, 23, 31, 45, 58, 61]
    assert small.campaign_action_ids(5) == [259, 260, 261]
    assert small.newsletter_ids() == [128275, 128301, 130002]
    assert small.newsletter_content_ids(130002) == [90, 91, 92]
    assert small.broadcast_ids() == [14, 15] and small.broadcast_action_ids(14) == [701, 702]
    assert small.transactional_ids() == [3, 4]
    large = Entities(settings(campaigns=500, actions_per_campaign=5, newsletters=2000, contents_per_newsletter=2,
                              broadcasts=50, transactional=50))
    assert len(large.campaign_ids()) == 500 and len(set(large.campaign_ids())) == 500
    assert all(len(large.campaign_action_ids(c)) == 5 for c in large.campaign_ids()[7:])
    assert len(large.newsletter_ids()) == 2000 and len(large.broadcast_ids()) == 50
    assert len(large.transactional_ids()) == 50
    all_actions = [a for c in large.campaign_ids() for a in large.campaign_action_ids(c)]
    assert len(all_actions) == len(set(all_actions))
    again = Entities(settings(campaigns=500, actions_per_campaign=5, newsletters=2000, contents_per_newsletter=2,
                              broadcasts=50, transactional=50))
    assert again.newsletters() == large.newsletters() and again.campaign_actions(1003) == large.campaign_actions(1003)


def test_catalogue_scenario_is_the_benchmark_size():
    s = SandboxSettings.for_scenario("catalogue")
    assert (s.campaigns, s.actions_per_campaign, s.newsletters, s.contents_per_newsletter, s.broadcasts,
            s.transactional) == (500, 5, 2000, 2, 50, 50)


def test_campaign_actions_page_by_ten_with_string_ids(api, server):
    actions, pages = follow(api, server, "/v1/campaigns/1001/actions", "actions")
    assert pages == 3 and len(actions) == 23
    assert all(isinstance(a["id"], str) for a in actions)
    assert [int(a["id"]) for a in actions] == server.workspace.entities.campaign_action_ids(1001)
    assert {a["campaign_id"] for a in actions} == {1001}
    single = get(api, server, f"/v1/campaigns/1001/actions/{actions[0]['id']}")["action"]
    assert single["id"] == int(actions[0]["id"])
    assert api.get(server.url + "/v1/campaigns/999999/actions").status_code == 404
    assert api.get(server.url + "/v1/campaigns/abc/actions").status_code == 400
    # A token the route did not mint is a 400 (estuary/connectors source-customer-io/bruno/Child Entities/campaign
    # actions start rejected.yml): another campaign's, another endpoint's, a made-up one.
    token = get(api, server, "/v1/campaigns/1001/actions")["next"]
    foreign = get(api, server, "/v1/newsletters", limit=1)["next"]
    other = server.workspace.entities.campaign_ids()[0]
    assert other != 1001
    for start in (token, foreign, "MDox"):
        assert api.get(server.url + f"/v1/campaigns/{other}/actions", params={"start": start}).status_code == 400


def test_newsletters_page_and_children(api, server):
    newsletters, pages = follow(api, server, "/v1/newsletters", "newsletters", limit=4)
    assert pages == 2 and [n["id"] for n in newsletters] == server.workspace.entities.newsletter_ids()
    contents = get(api, server, "/v1/newsletters/130002/contents")["contents"]
    assert [c["id"] for c in contents] == [90, 91, 92] and {c["newsletter_id"] for c in contents} == {130002}
    assert "created" not in contents[0] and "next" not in get(api, server, "/v1/newsletters/130002/contents")
    groups = get(api, server, "/v1/newsletters/130002/test_groups")["test_groups"]
    assert [g["id"] for g in groups] == [0, 2]  # ids restart per newsletter
    assert get(api, server, "/v1/newsletters/128301/test_groups")["test_groups"] == []
    missing = api.get(server.url + "/v1/newsletters/1/contents")
    assert missing.status_code == 404 and "does not exist" in missing.text


def test_broadcasts_triggers_and_integer_next_of_trigger_errors(api, server):
    broadcasts = get(api, server, "/v1/broadcasts", start="x", limit=1)["broadcasts"]  # unpaginated: ignored
    assert [b["id"] for b in broadcasts] == [14, 15, 100, 101]
    assert broadcasts[1]["tags"] == "nil"
    first = get(api, server, "/v1/broadcasts/14/actions")
    assert [a["id"] for a in first["actions"]] == [701] and first["next"]  # paged with `next`, one action a page
    actions, pages = follow(api, server, "/v1/broadcasts/14/actions", "actions")
    assert [a["id"] for a in actions] == [701, 702] and pages == 3  # a token past the end, then an empty page
    last = get(api, server, "/v1/broadcasts/14/actions", start=get(api, server, "/v1/broadcasts/14/actions",
                                                                    start=first["next"])["next"])
    assert last == {"actions": []}  # `next` absent at the end
    foreign = api.get(server.url + "/v1/broadcasts/15/actions", params={"start": first["next"]})
    assert foreign.status_code == 400  # a token of another broadcast
    triggers = get(api, server, "/v1/broadcasts/14/triggers")["triggers"]
    assert triggers and all(t["broadcast_id"] == 14 for t in triggers)
    errors, start = [], None
    while True:
        page = get(api, server, f"/v1/campaigns/14/triggers/{triggers[0]['id']}/errors",
                   **({"start": start} if start is not None else {}))
        errors += page["errors"]
        if "next" not in page:
            break
        assert isinstance(page["next"], int)
        start = page["next"]
    assert len(errors) == len(server.workspace.entities.trigger_errors(14, triggers[0]["id"]))


def test_transactional_envelope_and_meta_error(api, server):
    messages = get(api, server, "/v1/transactional")["messages"]
    assert [m["id"] for m in messages] == [3, 4, 200, 201]
    contents = get(api, server, "/v1/transactional/3/contents")["contents"]
    assert [c["language"] for c in contents] == ["", "fr"]
    bad = api.get(server.url + "/v1/transactional/x/contents")
    assert bad.status_code == 400 and bad.json() == {"meta": {"error": "The request was malformed."}}


def test_sender_identities_hidden_true_answers_only_the_hidden_ones(api, server):
    visible, _ = follow(api, server, "/v1/sender_identities", "sender_identities")
    hidden, _ = follow(api, server, "/v1/sender_identities", "sender_identities", hidden="true")
    every = server.workspace.entities.sender_identities
    assert {s["id"] for s in visible} == {s["id"] for s in every if not s["hidden"]}
    assert {s["id"] for s in hidden} == {s["id"] for s in every if s["hidden"]}
    assert visible and hidden


def test_a_full_last_page_carries_a_token_to_an_empty_page_that_ends_with_an_empty_next(api, server):
    # The third end-of-list convention (beside "" and an absent `next`): a list exhausted on a page boundary
    # (estuary/connectors source-customer-io/bruno/Snapshots/newsletters next loops.yml).
    visible = [s for s in server.workspace.entities.sender_identities if not s["hidden"]]
    first = get(api, server, "/v1/sender_identities", limit=len(visible))
    assert len(first["sender_identities"]) == len(visible) and first["next"]
    last = get(api, server, "/v1/sender_identities", limit=len(visible), start=first["next"])
    assert last == {"sender_identities": [], "next": ""}
    short = get(api, server, "/v1/sender_identities", limit=len(visible) + 1)
    assert short["next"] == ""  # a short page ends the list at once


def test_objects_search_attributes_and_relationships(api, server):
    types = get(api, server, "/v1/object_types")["types"]
    assert [t["id"] for t in types] == ["1", "2"]
    match_all = {"not": {"object_attribute": {"type_id": "1", "field": "no_such_attribute", "operator": "exists"}}}
    ids, pages = follow(api, server, "/v1/objects", "ids", method="POST", body={"object_type_id": "1",
                                                                                "filter": match_all})
    assert pages == 2 and ids == server.workspace.entities.object_ids("1")
    bad = api.post(server.url + "/v1/objects", json={"object_type_id": 1, "filter": match_all})
    assert bad.status_code == 400
    obj = get(api, server, f"/v1/objects/1/{ids[0]}/attributes")["object"]
    assert obj["identifiers"]["object_id"] == ids[0] and obj["object_type_id"] == "1"
    counts = [len(follow(api, server, f"/v1/objects/1/{oid}/relationships", "cio_relationships")[0]) for oid in ids]
    assert max(counts) > 10 and min(counts) == 0


def test_workspace_lists_quirks(api, server):
    hooks = get(api, server, "/v1/reporting_webhooks")["reporting_webhooks"]
    assert any(WEBHOOK_CREDENTIALS[0] in h["endpoint"] for h in hooks)
    snippets = get(api, server, "/v1/snippets")["snippets"]
    assert all("id" not in s for s in snippets)
    for path, key in [("/v1/workspaces", "workspaces"), ("/v1/collections", "collections"),
                      ("/v1/subscription_topics", "topics")]:
        assert get(api, server, path)[key]
    usage = get(api, server, "/v1/segments/3/used_by")
    assert usage["segment_id"] == 3 and 5 in usage["used_by"]["campaigns"]


def test_esp_suppressions_limit_offset_and_empty_list(api, server):
    rows, offset = [], 0
    while True:
        page = get(api, server, "/v1/esp/suppression/bounces", limit=500, offset=offset)
        assert "next" not in page and page["category"] == "bounces"
        rows += page["suppressions"] or []
        if len(page["suppressions"] or []) < 500:
            break
        offset += 500
    assert len(rows) == 1203 and len({r["email"] for r in rows}) == 1203
    assert get(api, server, "/v1/esp/suppression/invalid_emails")["suppressions"] is None  # null, not []
    assert get(api, server, "/v1/esp/suppression/bounces", offset=99999)["suppressions"] is None
    assert get(api, server, "/v1/esp/suppression/spam_reports")["category"] == "spam"
    assert api.get(server.url + "/v1/esp/suppression/bounces", params={"limit": 1001}).status_code == 400


def test_optouts_next_is_absent_at_the_end(api, server):
    rows, pages = follow(api, server, "/v1/optouts", "optouts")
    assert pages == 2 and len(rows) == len({r["cio_id"] for r in rows})
    last = get(api, server, "/v1/optouts", start=api.get(server.url + "/v1/optouts").json()["next"])
    assert "next" not in last


def test_limited_key_gets_403_outside_campaigns_and_segments(server):
    headers = {"Authorization": "Bearer sandbox-key-limited"}
    assert requests.get(server.url + "/v1/newsletters", headers=headers).status_code == 403
    assert requests.get(server.url + "/v1/campaigns/5/actions", headers=headers).status_code == 200


def test_parent_deleted_mid_run_answers_404():
    with SandboxServer(settings()) as srv:
        assert requests.post(srv.url + "/_sandbox/catalogue/newsletter/128301/delete").status_code == 200
        headers = {"Authorization": f"Bearer {KEY}"}
        assert requests.get(srv.url + "/v1/newsletters/128301/contents", headers=headers).status_code == 404
        ids = [n["id"] for n in requests.get(srv.url + "/v1/newsletters", headers=headers).json()["newsletters"]]
        assert ids == [128275, 130002]
        assert requests.post(srv.url + "/_sandbox/catalogue/object/1/account-1-0001/delete").status_code == 200
        assert requests.get(srv.url + "/v1/objects/1/account-1-0001/attributes", headers=headers).status_code == 404
        # Deleted but still listed (as for a reader that listed it just before): listed, its children 404.
        assert requests.post(srv.url + "/_sandbox/catalogue/newsletter/130002/delete?listed=true").status_code == 200
        ids = [n["id"] for n in requests.get(srv.url + "/v1/newsletters", headers=headers).json()["newsletters"]]
        assert ids == [128275, 130002]
        assert requests.get(srv.url + "/v1/newsletters/130002/contents", headers=headers).status_code == 404
        assert requests.get(srv.url + "/v1/newsletters/130002/metrics", headers=headers).status_code == 404
        assert requests.post(srv.url + "/_sandbox/catalogue/campaign/424242/delete").status_code == 404
        assert requests.post(srv.url + "/_sandbox/catalogue/planet/1/delete").status_code == 400


def test_segments_carry_conditions_and_one_being_rebuilt_lists_a_partial_roster(api, server):
    segments = {s["id"]: s for s in get(api, server, "/v1/segments")["segments"]}
    shapes = {next(iter(s["conditions"])) for s in segments.values()}
    assert len(shapes) > 2  # a nested tree whose shape varies by segment
    rebuilt = segments[21]
    assert rebuilt["state"] == "build" and rebuilt["progress"] == 42
    ws = server.workspace
    members = ws.segment_member_indices(21)
    assert max(members) < ws.people_count * 42 // 100
    listed, _ = follow(api, server, "/v1/segments/21/membership", "identifiers")
    assert [m["cio_id"] for m in listed] == ws.segment_member_ids(21)


def test_design_studio_pages_by_number_with_exclusive_update_bounds(api, server):
    data = server.workspace.entities.design_studio
    first = get(api, server, "/v1/design_studio/emails", page=1, limit=4)
    assert first["meta"]["pagination"] == {"page": 1, "limit": 4, "total": len(data["emails"])}
    assert "next" not in first and {f["id"] for f in first["folders"]} <= {f["id"] for f in data["folders"]}
    past = get(api, server, "/v1/design_studio/emails", page=99, limit=4)
    assert past["emails"] == [] and past["meta"]["pagination"]["total"] == len(data["emails"])  # no restart
    for params in ({"page": 0}, {"limit": 10001}, {"limit": 0}):
        assert api.get(server.url + "/v1/design_studio/emails", params=params).status_code == 400
    email = data["emails"][3]
    after = get(api, server, "/v1/design_studio/emails", updated_after=email["updated"])["emails"]
    assert email["id"] not in {e["id"] for e in after}  # exclusive
    assert {e["id"] for e in after} == {e["id"] for e in data["emails"] if e["updated"] > email["updated"]}
    for kind in ("components", "folders"):
        assert len(get(api, server, f"/v1/design_studio/{kind}")[kind]) == len(data[kind])
    assert get(api, server, "/v1/subscription_channels")["channels"]
