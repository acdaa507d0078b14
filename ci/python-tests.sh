#!/usr/bin/env bash
# The Python side (issue 16), run by .ci/run after the cargo tests:
#   1. the pytest plugin's own tests, in a fresh venv holding pytest and the
#      plugin, against the dev build (`MEMSOAK_BIN=target/debug/memsoak`);
#   2. the `memsoak` wheel: maturin builds it with CARGO_TARGET_DIR=target from
#      the build CI already made (the dev profile of `cargo test`: 4 s, a
#      relink), a fresh venv installs it, and from there `memsoak --version`,
#      a short `memsoak run --backend synthetic`, and a soak test that must
#      find the wheel's memsoak with no MEMSOAK_BIN set.
# Every venv lives under target/python/ and is made anew. Exit: 0 when all
# passed, else 1 (every step still runs).
#
#   MEMSOAK_WHEEL_PROFILE=dev|release   the wheel's cargo profile (default dev).
#   NOTE: CI makes no release build; `release` builds one: 2 min 35 s here for
#   the memsoak crate alone over a target/release that holds the dependencies,
#   about 9 min on 2 cores from a clean clone (candle), which would take CI
#   from ~17.5 to ~27 min of its 40. The wheel's packaging is the same either
#   way; a wheel for PyPI is built by a release job (in a manylinux container).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-python3}
work=$root/target/python
export CARGO_TARGET_DIR=$root/target
status=0
step() { echo "== python: $*"; }
fail() { echo "== python: FAILED: $*" >&2; [[ $status -ne 0 ]] || status=1; }
pip_q() { "$1/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${@:2}"; }

rm -rf "$work"
mkdir -p "$work"

step "the dev build (MEMSOAK_BIN for the plugin's tests)"
cargo build --quiet --bin memsoak || fail "cargo build"

step "plugin tests: venv with pytest and pytest-memsoak, MEMSOAK_BIN=target/debug/memsoak"
start=$SECONDS
if "$py" -m venv "$work/plugin-venv" && pip_q "$work/plugin-venv" pytest ./python/pytest-memsoak; then
    MEMSOAK_BIN=$root/target/debug/memsoak MEMSOAK_EXPECT_BIN=$root/target/debug/memsoak \
        "$work/plugin-venv/bin/python" -m pytest -p no:cacheprovider -q python/pytest-memsoak/tests \
        || fail "plugin tests"
else
    fail "plugin venv"
fi
echo "== python: plugin tests took $((SECONDS - start)) s"

profile=${MEMSOAK_WHEEL_PROFILE:-dev}
step "wheel: maturin build --profile $profile"
start=$SECONDS
wheels=$work/wheels
if "$py" -m venv "$work/build-venv" && pip_q "$work/build-venv" 'maturin>=1.5,<2'; then
    flag=(--release)
    [[ $profile == release ]] || flag=(--profile "$profile")
    "$work/build-venv/bin/maturin" build "${flag[@]}" --out "$wheels" --compatibility linux 2>&1 \
        | grep -v '^\s*Compiling ' || true
else
    fail "maturin venv"
fi
echo "== python: wheel build took $((SECONDS - start)) s"
wheel=$(ls "$wheels"/memsoak-*.whl 2>/dev/null | head -n 1)
if [[ -z $wheel ]]; then
    fail "no wheel was built"
else
    ls -l "$wheel"
    step "wheel: a fresh venv installs it (and the plugin)"
    venv=$work/wheel-venv
    if "$py" -m venv "$venv" && pip_q "$venv" "$wheel" pytest ./python/pytest-memsoak; then
        # NOTE: from the venv's bin only: the dev build must not be found.
        (
            set -e
            export PATH=$venv/bin:/usr/bin:/bin
            unset MEMSOAK_BIN
            [[ $(command -v memsoak) == "$venv/bin/memsoak" ]] || { echo "memsoak is $(command -v memsoak)"; exit 1; }
            memsoak --version
            memsoak run --backend synthetic --duration 5s --sample-every 250ms -q \
                --out "$work/wheel-run" -t 'rss.max<4GiB'
            echo "wheel run: exit $?, $(grep -o '"verdict": *"[a-z]*"' "$work/wheel-run/report.json")"
            MEMSOAK_EXPECT_BIN=$venv/bin/memsoak python -m pytest -p no:cacheprovider -q \
                python/pytest-memsoak/tests -k "memsoak_it_finds or looked_for"
        ) || fail "the wheel's memsoak"
    else
        fail "installing the wheel"
    fi
fi
exit "$status"
