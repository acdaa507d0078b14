#!/usr/bin/env bash
# memsoak's candle embedder against sentence-transformers on the same CPU, in
# one command (issue 15): the embed bench built in release, then, for each of
# ROUNDS rounds, the candle bench and sentence-transformers on exactly the
# same batches (32 texts, fixed and variable lengths), one after the other,
# each ratio printed as it comes (sentences/s and per CPU-second), then the
# median ratio over the rounds. The machine (CPU model, CPUs this process may
# use) and the load average before each run are printed with the figures.
#
# Usage: ci/bench-vs-st.sh [ROUNDS (default 3)] [-- extra embed-bench flags]
#   e.g. ci/bench-vs-st.sh 3 -- --batches 2 --threads 2
# Needs the model (ci/fetch-model.sh) and the sentence-transformers venv
# (ci/st-venv.sh builds it once, about 5 min; MEMSOAK_ST_PYTHON overrides).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${1:-3}
[[ $# -gt 0 ]] && shift
[[ "${1:-}" == "--" ]] && shift
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: ROUNDS must be a whole number >= 1, not '$rounds'" >&2
    exit 2
fi

python=${MEMSOAK_ST_PYTHON:-}
if [[ -z "$python" ]]; then
    python=$(ci/st-venv.sh | tail -n 1)
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "machine: ${cpu:-unknown CPU}, $(nproc) CPUs usable, $(free -g | awk '/^Mem:/ {print $2}') GiB"

cargo bench --bench embed --no-run >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for r in $(seq 1 "$rounds"); do
    echo "== round $r of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    cargo bench --bench embed -- "$@" 2>/dev/null | grep -E '^(candle|  *fixed|variable)'
    "$python" ci/bench_sentence_transformers.py --repeat 3 | tee -a "$log" | sed 's/^/  /'
done

echo "== median over $rounds round(s), candle / sentence-transformers"
"$python" - "$log" <<'PY'
import re, statistics, sys
# The ratio lines: "   fixed:  1.12x sentences/s (..), 1.30x per CPU-second (..)".
pat = re.compile(r"^\s*(fixed|variable):\s+([0-9.]+)x sentences/s .*?([0-9.]+)x per CPU-second")
seen = {}
for line in open(sys.argv[1], encoding="utf-8"):
    m = pat.match(line)
    if m:
        seen.setdefault(m[1], []).append((float(m[2]), float(m[3])))
for w, rs in seen.items():
    print(f"{w:>9}: {statistics.median(r[0] for r in rs):.2f}x sentences/s, "
          f"{statistics.median(r[1] for r in rs):.2f}x per CPU-second "
          f"(rounds: {', '.join(f'{r[0]:.2f}' for r in rs)})")
PY
