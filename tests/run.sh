#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one: installs what the tests need
# (the demo service's npm packages, supervisor), then runs every test in debug, and the
# sandbox-limit tests again against a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x tests/fixtures/setup.sh ]; then
    tests/fixtures/setup.sh
fi

cargo test --all-targets
cargo build --release
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RUNBOOK_BIN="$target_dir/release/runbook" cargo test --test engine -- limits deep_nesting wall_clock ctrl_c
