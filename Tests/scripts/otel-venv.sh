#!/bin/sh
# Creates (once) the Python venv holding the real OpenTelemetry SDK and its OTLP/HTTP protobuf exporter, used by the
# live receiver peer test. Usage: Tests/scripts/otel-venv.sh [VENV_DIR]   (default: .build/otel-venv)
# Exit 0 when the venv is ready (prints its path), 2 when PyPI cannot be reached.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/.build/otel-venv}
check='import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter'
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    echo "$venv"
    exit 0
fi
python3 -m venv "$venv" || { echo "otel-venv: python3 -m venv failed" >&2; exit 2; }
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 2 \
    opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2 >&2; then
    echo "otel-venv: could not install opentelemetry-sdk / opentelemetry-exporter-otlp-proto-http from PyPI" >&2
    exit 2
fi
"$venv/bin/python" -c "$check" || { echo "otel-venv: the OpenTelemetry SDK is not importable" >&2; exit 2; }
echo "$venv"
