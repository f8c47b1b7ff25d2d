#!/usr/bin/env bash
# Installs DuckDB's Python package into .venv-duckdb/ (git-ignored), pinned and checked
# against its SHA-256: the test suite runs scripts/transition-counts.sql in it to check that
# counts made where the logs live give the same catalogue as `--sequences`. Skipped when
# present.
#
#   ./scripts/install-duckdb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-duckdb
version=1.4.2
if [[ -x $venv/bin/python ]] && $venv/bin/python -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$version')" 2>/dev/null; then
    echo "duckdb present: $venv" >&2
    exit 0
fi
python3 -m venv "$venv.tmp"
cat >"$venv.tmp/req.txt" <<REQ
duckdb==$version \
    --hash=sha256:0c2315b693f201787c9892f31eb9a0484d3c648edb3578a86dc8c1284dd2873a
REQ
"$venv.tmp/bin/pip" install --quiet --no-deps --require-hashes -r "$venv.tmp/req.txt"
rm -rf "$venv"
mv "$venv.tmp" "$venv"
echo "duckdb $version installed: $venv" >&2
