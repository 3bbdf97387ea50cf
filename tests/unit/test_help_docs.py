"""The texts a user reads outside the code: the Portal descriptions and the help.keboola.com page agree with the
component (datasets, message types, load types per table kind, limits) and point to one another."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from customerio.types import MESSAGE_TYPES
from datasets import REGISTRY
from datasets.messages import DRAFTS_SPEC, LINKS_SPEC, SPEC

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "component_config"
PAGE = ROOT / "docs/keboola-help/src/content/docs/components/extractors/marketing-sales/customerio/index.md"


def text(name: str) -> str:
    return (CONFIG / name).read_text(encoding="utf-8")


def front_matter(page: str) -> dict[str, str]:
    match = re.match(r"^---\n(.*?)\n---\n", page, re.DOTALL)
    assert match, "the page starts with front matter"
    return {key: value.strip().strip("'\"") for key, value in
            (line.split(":", 1) for line in match.group(1).splitlines())}


def test_the_page_is_in_the_help_sites_format_where_the_documentation_url_points():
    meta = front_matter(PAGE.read_text(encoding="utf-8"))
    assert meta["title"] and meta["description"]
    assert text("documentationUrl.md").strip() == f"https://help.keboola.com/{meta['slug']}/"
    assert PAGE.parent.relative_to(ROOT / "docs/keboola-help/src/content/docs").as_posix() == meta["slug"]


def test_the_page_names_every_dataset_and_message_type():
    page = PAGE.read_text(encoding="utf-8")
    for key in [*REGISTRY.flags(), "segment_membership", "messages", "customers", "customer_attributes",
                "activities_all", "*_metrics", *MESSAGE_TYPES]:
        assert f"`{key}`" in page or f", {key}" in page or f"| {key}" in page, key


def test_the_page_names_every_table_of_the_messages_dataset():
    page = PAGE.read_text(encoding="utf-8")
    for spec in (SPEC, LINKS_SPEC, DRAFTS_SPEC):
        assert f"`{spec.name}`" in page or f"| {spec.name}" in page or f", {spec.name}" in page, spec.name


def test_the_page_states_the_limits_the_portal_declares():
    page = PAGE.read_text(encoding="utf-8")
    memory = text("requiredMemory.md").strip()
    hours = int(text("processTimeout.md")) // 3600
    assert f"{memory[:-1]} MB of memory and {hours} hours" in page


@pytest.mark.parametrize("description", [
    "configuration_description.md",
    "configSchema.json:incremental_output",
    "docs/keboola-help:Load types",
])
def test_each_description_of_the_load_type_says_what_happens_per_table_kind(description):
    if description.startswith("configSchema"):
        said = json.loads(text("configSchema.json"))["properties"]["incremental_output"]["description"]
    elif description.startswith("docs/"):
        said = PAGE.read_text(encoding="utf-8").split("## Load types", 1)[1].split("\n## ", 1)[0]
    else:
        said = text(description)
    said = " ".join(said.split()).lower()
    for words in ("snapshot", "replaced", "primary key", "deleted", "upserted", "metrics"):
        assert words in said, f"{description}: {words}"
    assert "upserts rows into storage by each table's primary key" not in said  # the old, wrong one-liner


def test_the_short_description_describes_the_service():
    short = text("component_short_description.md").strip()
    assert short.startswith("Customer.io is ")
    assert len(short) <= 200 and short.count(". ") == 0  # one sentence


def test_the_long_description_covers_the_catalogue_the_metrics_and_the_key_with_links():
    long = text("component_long_description.md")
    for words in ("catalogue", "Metrics", "App API key", "read access", "https://docs.customer.io/",
                  "https://fly.customer.io/settings/api_credentials", text("documentationUrl.md").strip()):
        assert words in long, words


def _form_labels(node) -> set[str]:
    labels = set()
    if isinstance(node, dict):
        for key in ("title", "label"):
            if isinstance(node.get(key), str):
                labels.add(node[key].removesuffix(" (optional)").strip())
        labels.update(node.get("enum_titles", []))
        for value in node.values():
            labels |= _form_labels(value)
    elif isinstance(node, list):
        for value in node:
            labels |= _form_labels(value)
    return labels


def test_the_fields_the_page_names_are_the_forms_labels():
    # A user looks for the words the page puts in bold: they must be on the form (or Keboola's own buttons).
    labels = _form_labels(json.loads(text("configSchema.json"))) | {"Customer.io", "Save", "Reset State"}
    named = {" ".join(name.split()).rstrip(":") for name in re.findall(r"\*\*([^*]+)\*\*", PAGE.read_text(encoding="utf-8"))
             if name[0].isupper()}
    assert named - labels == set()
