#!/usr/bin/env bash
# Writes component_config/actions.md: the JSON list of the sync actions src/component.py registers with
# @sync_action("..."). Keboola's UI can call only the actions listed in the Portal property `actions`.
# Adapted from keboola/cookiecutter-python-component, whose version stops (exit 1) when the file exists; this one
# rewrites it, so the committed file can be checked against the code (tests/unit/test_portal.py).
# Sourced by update_properties.sh, or run alone from any folder.

PYTHON_FILE="src/component.py"
MD_FILE="component_config/actions.md"

sync_actions=$(grep -o -E "@sync_action\(['\"][^'\"]+['\"]\)" "$PYTHON_FILE" \
    | sed -E "s/@sync_action\(['\"]([^'\"]+)['\"]\)/\1/" | LC_ALL=C sort -u)
if [ -z "$sync_actions" ]; then
    echo "No sync actions found in $PYTHON_FILE; $MD_FILE not written."
else
    printf '[%s]\n' "$(printf '"%s", ' $sync_actions | sed 's/, $//')" > "$MD_FILE"
    echo "Wrote $MD_FILE: $(cat "$MD_FILE")"
fi
