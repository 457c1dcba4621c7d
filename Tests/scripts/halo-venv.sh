#!/bin/sh
# Creates (once) the Python venv holding HALO's trace parser and indexer, used by the HALO peer tests
# and bench-traces. Usage: Tests/scripts/halo-venv.sh [VENV_DIR]   (default: .build/halo-venv)
# Exit 0 when the venv is ready (prints its path), 2 when PyPI cannot be reached.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/.build/halo-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import engine.traces.trace_store' 2>/dev/null; then
    echo "$venv"
    exit 0
fi
python3 -m venv "$venv" || { echo "halo-venv: python3 -m venv failed" >&2; exit 2; }
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 2 pydantic==2.13.3 >&2 ||
   ! "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 2 --no-deps halo-engine==0.3.5 >&2; then
    echo "halo-venv: could not install pydantic/halo-engine from PyPI" >&2
    exit 2
fi
"$venv/bin/python" -c 'import engine.traces.trace_store' || { echo "halo-venv: HALO engine not importable" >&2; exit 2; }
echo "$venv"
