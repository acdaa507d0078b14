#!/usr/bin/env bash
# A venv with sentence-transformers and torch (CPU use; PyPI's torch wheel
# also pulls the CUDA libraries, about 6 GB in all), for the tests of the
# sentence-transformers worker. It lives outside the clone, in
# ${MEMSOAK_CACHE:-$HOME/.cache/memsoak}/st-venv, and is reused while
# ci/requirements-st.txt is unchanged (its sha256 is the cache key); a changed
# file, or a venv left half-built, is built anew (about 5 min).
#
# Usage: ci/st-venv.sh   prints the venv's python on the last line of stdout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
req=$root/ci/requirements-st.txt
cache=${MEMSOAK_CACHE:-$HOME/.cache/memsoak}
venv=$cache/st-venv
key=$(sha256sum "$req" | cut -d' ' -f1)
check='import sentence_transformers, torch; print("sentence-transformers", sentence_transformers.__version__, "torch", torch.__version__)'

mkdir -p "$cache"
# Two CI runs on one machine build it once.
exec 9>"$cache/st-venv.lock"
flock 9

if [[ "$(cat "$venv/.memsoak-key" 2>/dev/null)" == "$key" ]] && "$venv/bin/python3" -c "$check" >&2; then
    echo "sentence-transformers venv reused: $venv" >&2
else
    echo "building the sentence-transformers venv in $venv (key $key) ..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --no-input \
        --only-binary :all: -r "$req" >&2
    "$venv/bin/python3" -c "$check" >&2
    # Written last: a venv without it is rebuilt.
    echo "$key" >"$venv/.memsoak-key"
fi
echo "$venv/bin/python3"
