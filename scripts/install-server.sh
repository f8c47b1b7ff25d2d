#!/usr/bin/env bash
# Installs llama-cpp-python's OpenAI-compatible server into .venv-server/, the real
# chat-completions server that `grlm-train terms --endpoint` is tested against
# (training/tests/integration/terms_endpoint.rs). PyPI ships it as source only, so pip compiles its
# llama.cpp here: several minutes once, nothing when it is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.3.36
venv=.venv-server
if [[ -x $venv/bin/python ]] &&
    "$venv/bin/python" -c "import llama_cpp, llama_cpp.server; assert llama_cpp.__version__ == '$version'" 2>/dev/null; then
    echo "server present: $venv (llama-cpp-python $version)" >&2
    exit 0
fi
echo "installing llama-cpp-python[server]==$version into $venv (compiles llama.cpp)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
# Portable CPU code: the venv may be copied to another machine of the same architecture.
CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$venv/bin/pip" install --quiet --no-cache-dir "llama-cpp-python[server]==$version"
"$venv/bin/python" -c "import llama_cpp.server" # fails loudly if the build is unusable
