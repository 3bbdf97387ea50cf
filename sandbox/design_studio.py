"""Design Studio data: emails, components, folders (served by catalogue_api.DesignStudioApi with the live paging).

What the live API does (estuary/connectors source-customer-io/bruno/Design Studio/, VERIFIED 2026-09-22):
page-number paging (``page`` from 1, ``limit`` 1..10000, default 1000) with ``meta.pagination`` {page, limit,
total}, ``total`` counting every row that matches the filters; a page past the end is an empty list (no restart);
``page`` < 1 and ``limit`` outside 1..10000 are a 400; ``updated_after``/``updated_before`` (and ``created_*``)
are filtered on the server with exclusive bounds; rows sorted by ``created`` ascending; /emails and /components
also answer the ``folders`` their rows sit in. No ``next``.
"""

from __future__ import annotations

_T0 = 1_695_000_000
FOLDERS = ("Newsletters", "Onboarding", "Transactional — účty")
FILTERS = ("created_after", "created_before", "updated_after", "updated_before")


def build(emails: int, components: int) -> dict[str, list[dict]]:
    """Folders (one nested in another), then emails and components spread over them and the root."""
    folders = [{"id": f"f{n + 1}", "name": name, "parent_folder_id": "f1" if n == 2 else None,
                "created": _T0 + 3600 * n, "updated": _T0 + 3600 * n + 60} for n, name in enumerate(FOLDERS)]
    out: dict[str, list[dict]] = {"folders": folders, "emails": [], "components": []}
    for n in range(emails):
        created = _T0 + 7200 * (n // 2)  # two emails share each second: ties in `created`
        out["emails"].append({
            "id": f"{n + 1:08x}-1111-4111-8111-{n + 1:012x}", "name": f"Email {n + 1}", "is_template": n % 5 == 0,
            "is_linked": n % 7 == 0, "has_translations": n % 3 == 0,
            "parent_folder_id": None if n % 4 == 0 else folders[n % len(folders)]["id"],
            "created": created, "updated": created + 86400 * (n % 3)})
    for n in range(components):
        created = _T0 + 5400 * n
        out["components"].append({
            "id": f"c{n + 1}", "name": f"Footer {n + 1}", "tag": ["footer", "header"][n % 2],
            "parent_folder_id": None if n % 2 else "f2", "created": created, "updated": created + 600})
    return out


def within(row: dict, bounds: dict[str, int | None]) -> bool:
    """Exclusive bounds, as the live filter (a bound equal to the row's own timestamp leaves the row out)."""
    for name, bound in bounds.items():
        if bound is None:
            continue
        field, _, side = name.partition("_")
        if (side == "after" and not row[field] > bound) or (side == "before" and not row[field] < bound):
            return False
    return True
