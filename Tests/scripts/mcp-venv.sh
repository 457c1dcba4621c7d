#!/bin/sh
# Creates (once) the Python venv holding the official MCP client (PyPI `mcp`), used by the `flywheel mcp` peer test.
# Usage: Tests/scripts/mcp-venv.sh [VENV_DIR]   (default: .build/mcp-venv)
# Exit 0 when the venv is ready (prints its path), 2 when PyPI cannot be reached.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/.build/mcp-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import mcp.client.stdio' 2>/dev/null; then
    echo "$venv"
    exit 0
fi
python3 -m venv "$venv" || { echo "mcp-venv: python3 -m venv failed" >&2; exit 2; }
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 2 "mcp==1.*" >&2; then
    echo "mcp-venv: could not install mcp from PyPI" >&2
    exit 2
fi
"$venv/bin/python" -c 'import mcp.client.stdio' || { echo "mcp-venv: mcp not importable" >&2; exit 2; }
echo "$venv"
