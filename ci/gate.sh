#!/usr/bin/env bash
# Merge gate: a short soak (profile `ci`), compared with the committed
# baseline; the summary goes to $GITHUB_STEP_SUMMARY when set. The exit code
# is the verdict: 0 pass, 1 breach or regression, 2 usage/input error,
# 3 target failure.
#
# Every setting can be overridden from the environment (tests shorten it):
#   MEMSOAK            memsoak binary to use (default: built with cargo)
#   MEMSOAK_BACKEND    candle | synthetic            (default candle, the real embedder)
#   MEMSOAK_WORKLOAD   synthetic | FILE.txt | FILE.toml | FILE.jsonl | NAME
#                      (a trace, a workload definition, workloads/NAME.toml;
#                      default synthetic)
#   MEMSOAK_PROFILE    profile of the run            (default ci)
#   MEMSOAK_DURATION   e.g. 8s, 3m                   (default: the profile's)
#   MEMSOAK_SAMPLE_EVERY e.g. 200ms                  (default: the profile's)
#   MEMSOAK_ARGS       more `memsoak run` flags, e.g. "--cost 1ms --inject linear:4KiB"
#   MEMSOAK_BASELINE   baseline name or folder       (default: the naming rule below)
#   MEMSOAK_BASELINE_SUFFIX appended to the default name (nightly.sh: -nightly)
#   MEMSOAK_BASELINES_DIR folder of named baselines  (default baselines)
#   MEMSOAK_COMPARE_ARGS more `memsoak compare` flags (e.g. "--slope-tolerance 2MiB/min")
#   MEMSOAK_OUT        run folder                    (default reports/gate-<time>-<backend>)
#
# Baseline naming rule (one rule for the scripts, the workflows and
# ci/README.md): <backend>-<workload><suffix>, where <workload> is `default`
# for the synthetic workload and otherwise the workload file's name without
# its directory and extension (workloads/long-tail.toml -> long-tail), e.g.
# candle-default, synthetic-multilingual, candle-sample-trace-nightly.
set -uo pipefail
cd "$(dirname "$0")/.."

backend=${MEMSOAK_BACKEND:-candle}
workload=${MEMSOAK_WORKLOAD:-synthetic}
profile=${MEMSOAK_PROFILE:-ci}
baselines_dir=${MEMSOAK_BASELINES_DIR:-baselines}
case "$workload" in
    synthetic) workload_key=default ;;
    *) workload_key=$(basename "$workload") && workload_key=${workload_key%.*} ;;
esac
baseline=${MEMSOAK_BASELINE:-$backend-$workload_key${MEMSOAK_BASELINE_SUFFIX:-}}
out=${MEMSOAK_OUT:-reports/gate-$(date -u +%Y%m%dT%H%M%SZ)-$backend}

if [[ -n "${MEMSOAK:-}" ]]; then
    memsoak=$MEMSOAK
else
    features=()
    [[ "$backend" == candle ]] && features=(--features candle)
    echo "== building memsoak ${features[*]}" >&2
    cargo build --quiet --bin memsoak "${features[@]}" || exit 2
    memsoak=target/debug/memsoak
fi

run_args=(run --profile "$profile" --backend "$backend" --workload "$workload" --out "$out" -q)
[[ -n "${MEMSOAK_DURATION:-}" ]] && run_args+=(--duration "$MEMSOAK_DURATION")
[[ -n "${MEMSOAK_SAMPLE_EVERY:-}" ]] && run_args+=(--sample-every "$MEMSOAK_SAMPLE_EVERY")
# shellcheck disable=SC2206 # word splitting of the extra flags is the point
[[ -n "${MEMSOAK_ARGS:-}" ]] && run_args+=($MEMSOAK_ARGS)

echo "== memsoak ${run_args[*]}" >&2
"$memsoak" "${run_args[@]}"
code=$?
echo "== run: exit $code ($out)" >&2

# Compare only a run that was judged (pass or breach): an errored run has
# nothing meaningful to compare.
if [[ $code -le 1 && -d "$out" ]]; then
    if [[ -d "$baseline" || -d "$baselines_dir/$baseline" ]]; then
        # shellcheck disable=SC2206
        compare_args=(compare "$out" --baseline "$baseline" --baselines-dir "$baselines_dir" -q ${MEMSOAK_COMPARE_ARGS:-})
        "$memsoak" "${compare_args[@]}"
        cmp=$?
        echo "== compare with $baseline: exit $cmp" >&2
        if [[ $cmp -eq 2 ]]; then
            code=2
        elif [[ $cmp -gt $code ]]; then
            code=$cmp
        fi
    else
        echo "== no baseline $baseline (in $baselines_dir): thresholds only" >&2
        printf '\n_No baseline `%s` to compare with: judged on thresholds only._\n' "$baseline" >>"$out/summary.md"
    fi
fi

if [[ -f "$out/summary.md" ]]; then
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
        cat "$out/summary.md" >>"$GITHUB_STEP_SUMMARY"
    else
        cat "$out/summary.md"
    fi
fi
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    echo "run_dir=$out" >>"$GITHUB_OUTPUT"
fi
echo "== gate: exit $code" >&2
exit "$code"
