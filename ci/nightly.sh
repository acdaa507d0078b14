#!/usr/bin/env bash
# Nightly soak: hours of the `nightly` profile (4 h at 5 s), compared with the
# nightly baseline of the backend and workload when one is committed:
# <backend>-<workload>-nightly (the naming rule in ci/gate.sh, e.g.
# candle-default-nightly). Same environment overrides as ci/gate.sh
# (MEMSOAK_DURATION, MEMSOAK_BACKEND, MEMSOAK_WORKLOAD, ...); the exit code
# is the verdict.
set -uo pipefail
cd "$(dirname "$0")/.."
backend=${MEMSOAK_BACKEND:-candle}
export MEMSOAK_PROFILE=${MEMSOAK_PROFILE:-nightly}
export MEMSOAK_BASELINE_SUFFIX=${MEMSOAK_BASELINE_SUFFIX:--nightly}
export MEMSOAK_OUT=${MEMSOAK_OUT:-reports/nightly-$(date -u +%Y%m%dT%H%M%SZ)-$backend}
exec bash ci/gate.sh
