#!/usr/bin/env bash
# Check the crate's layering: no module imports from a layer above it
# (harness/src/layers.rs declares the order: cli > soak > report >
# runfolder > analysis > backend > workload > target > trace > sample,
# stats, units) and no import cycle between the modules of a folder.
# Prints each offending import (file:line) and exits non-zero if any.
# `cargo test` runs the same checks.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test -q -p memsoak --lib layers:: -- --nocapture
