#!/usr/bin/env bash
# Nightly soak: hours of the `nightly` profile (4 h at 5 s), compared with the
# backend's nightly baseline when one is committed. Same environment
# overrides as ci/gate.sh (MEMSOAK_DURATION, MEMSOAK_BACKEND, ...); the exit
# code is the verdict.
set -uo pipefail
cd "$(dirname "$0")/.."
backend=${MEMSOAK_BACKEND:-synthetic}
export MEMSOAK_PROFILE=${MEMSOAK_PROFILE:-nightly}
export MEMSOAK_BASELINE=${MEMSOAK_BASELINE:-$backend-nightly}
export MEMSOAK_OUT=${MEMSOAK_OUT:-reports/nightly-$(date -u +%Y%m%dT%H%M%SZ)-$backend}
exec bash ci/gate.sh
