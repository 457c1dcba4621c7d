#!/bin/sh
# Creates (once) the Python venv holding lxml, used to validate JUnit XML against the Jenkins xunit schema
# (Tests/FlywheelTests/Fixtures/junit-10.xsd). Usage: Tests/scripts/lxml-venv.sh [VENV_DIR]   (default: .build/lxml-venv)
# Exit 0 when the venv is ready (prints its path), 2 when PyPI cannot be reached.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/.build/lxml-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import lxml.etree' 2>/dev/null; then
    echo "$venv"
    exit 0
fi
python3 -m venv "$venv" || { echo "lxml-venv: python3 -m venv failed" >&2; exit 2; }
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 2 lxml==6.1.3 >&2; then
    echo "lxml-venv: could not install lxml from PyPI" >&2
    exit 2
fi
"$venv/bin/python" -c 'import lxml.etree' || { echo "lxml-venv: lxml not importable" >&2; exit 2; }
echo "$venv"
