#!/bin/sh
# Creates (once) a venv with the real openai-agents SDK and HALO's engine, used by the external-agent peer test
# (it runs ../shared/tools/agents_sdk_offline_traces.py, fully offline). Usage: Tests/scripts/agents-sdk-venv.sh [VENV_DIR]
# (default: .build/halo-full-venv). Exit 0 when ready (prints its path), 2 when PyPI cannot be reached.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/.build/halo-full-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import agents, engine' 2>/dev/null; then
    echo "$venv"
    exit 0
fi
python3 -m venv "$venv" || { echo "agents-sdk-venv: python3 -m venv failed" >&2; exit 2; }
pip() { "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 30 --retries 2 "$@" >&2; }
if ! pip --no-deps halo-engine==0.3.5 ||
   ! pip pydantic==2.13.3 openai==2.32.0 openai-agents==0.14.7 "inference-catalyst-tracing[openai-agents]==0.1.10"; then
    echo "agents-sdk-venv: could not install the SDK from PyPI" >&2
    exit 2
fi
"$venv/bin/python" -c 'import agents, engine' || { echo "agents-sdk-venv: SDK not importable" >&2; exit 2; }
echo "$venv"
