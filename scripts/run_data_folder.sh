#!/bin/sh
# Run the component on the data folder $KBC_DATADIR as Keboola would (the compose `dev` service).
# A folder without config.json gets the sample configuration; the last run's out/state.json becomes
# in/state.json, so a second run continues where the first stopped.
set -eu
data="${KBC_DATADIR:?set KBC_DATADIR to the data folder}"
if [ ! -f "$data/config.json" ]; then
    mkdir -p "$data"
    cp -R component_config/sample-config/. "$data/"
    echo "$data had no config.json: using component_config/sample-config"
fi
mkdir -p "$data/in"
if [ -f "$data/out/state.json" ]; then
    cp "$data/out/state.json" "$data/in/state.json"
fi
rm -rf "$data/out"
mkdir -p "$data/out/tables" "$data/out/files"
exec python -u src/component.py
