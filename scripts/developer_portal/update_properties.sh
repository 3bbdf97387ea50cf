#!/usr/bin/env bash
# Pushes the component's Developer Portal properties from component_config/ (one file per property), as
# keboola/cookiecutter-python-component's script does; keboola/component-ci's pipeline runs it after a deploy
# (semantic tag on the default branch) with KBC_DEVELOPERPORTAL_VENDOR, _APP, _USERNAME and _PASSWORD set.
# DRY_RUN=1 prints what would be pushed and calls nothing (no Docker, no network): tests/unit/test_portal.py.
# The README's Development section says why each value is what it is.

set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${KBC_DEVELOPERPORTAL_APP:-}" ]; then
    echo "Error: KBC_DEVELOPERPORTAL_APP environment variable is not set."
    exit 1
fi
app_id="$KBC_DEVELOPERPORTAL_APP"
dry_run="${DRY_RUN:-0}"
CLI=quay.io/keboola/developer-portal-cli-v2:latest
not_set=()

if [ "$dry_run" != "1" ]; then
    docker pull "$CLI"
fi

update_property() {
    local prop_name="$1" file_path="$2" value
    if [ ! -f "$file_path" ]; then
        echo "File '$file_path' not found. Skipping update for property '$prop_name' of application '$app_id'."
        return
    fi
    value=$(<"$file_path")
    if [ -z "$value" ]; then
        echo "$prop_name is empty for $app_id, skipping..."
        return
    fi
    echo "Updating $prop_name for $app_id"
    echo "$value"
    if [ "$dry_run" = "1" ]; then
        return
    fi
    # Some properties (requiredMemory, processTimeout, dataTypesConfiguration) only a Keboola admin may set
    # (the CLI's own test expects "Setting of parameter requiredMemory is forbidden"): a refusal is reported at the
    # end for the admin, and does not stop the other properties.
    if docker run --rm \
        -e KBC_DEVELOPERPORTAL_USERNAME \
        -e KBC_DEVELOPERPORTAL_PASSWORD \
        "$CLI" \
        update-app-property "$KBC_DEVELOPERPORTAL_VENDOR" "$app_id" "$prop_name" --value="$value"; then
        echo "Property $prop_name updated successfully for $app_id"
    else
        not_set+=("$prop_name = $value")
    fi
}

update_property "longDescription" "component_config/component_long_description.md"
update_property "configurationSchema" "component_config/configSchema.json"
update_property "configurationDescription" "component_config/configuration_description.md"
update_property "shortDescription" "component_config/component_short_description.md"
update_property "logger" "component_config/logger"
update_property "loggerConfiguration" "component_config/loggerConfiguration.json"
update_property "licenseUrl" "component_config/licenseUrl.md"
update_property "documentationUrl" "component_config/documentationUrl.md"
update_property "sourceCodeUrl" "component_config/sourceCodeUrl.md"
# (no configurationRowSchema: the component has no configuration rows)
update_property "uiOptions" "component_config/uiOptions.md"
update_property "defaultBucket" "component_config/defaultBucket.md"
update_property "defaultBucketStage" "component_config/defaultBucketStage.md"
update_property "requiredMemory" "component_config/requiredMemory.md"
update_property "processTimeout" "component_config/processTimeout.md"
update_property "dataTypesConfiguration" "component_config/dataTypesConfiguration.json"

# The sync actions, generated from the code (@sync_action names)
source scripts/developer_portal/fn_actions_md_update.sh
update_property "actions" "component_config/actions.md"

if [ ${#not_set[@]} -gt 0 ]; then
    echo "The Developer Portal refused these properties; ask a Keboola admin to set them:"
    printf '  %s\n' "${not_set[@]}"
fi
