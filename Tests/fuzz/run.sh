#!/bin/sh
# Fuzzes the trace line scanner, the suite loader, the Markdown renderer and OTLP/JSON decoding.
#
#   Tests/fuzz/run.sh [--libfuzzer] [SECONDS] [TARGET ...]
#
# TARGETs: trace-line suite markdown otlp (default: all four), SECONDS per target (default 600). Runs under `nice`.
# Default mode: the harness's own mutation fuzzer (no coverage feedback; works with any toolchain).
# --libfuzzer: builds with `-sanitize=fuzzer` into .build/fuzz and runs libFuzzer (coverage-guided) on a copy of
# the seeds in .build/fuzz/work/TARGET (the committed seeds in Tests/fuzz/corpus/TARGET are never changed).
# A crash exits non-zero and leaves the input: crash-TARGET-*.bin (own fuzzer) or crash-* (libFuzzer).
set -eu
cd "$(dirname "$0")/../.."
mode=own
if [ "${1:-}" = "--libfuzzer" ]; then mode=libfuzzer; shift; fi
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=${*:-trace-line suite markdown otlp}
if [ $mode = libfuzzer ]; then
  nice swift build -c release --product flywheel-fuzz --scratch-path .build/fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DFLYWHEEL_LIBFUZZER -Xswiftc -parse-as-library >&2
  bin=$(swift build -c release --scratch-path .build/fuzz --show-bin-path)/flywheel-fuzz
  for t in $targets; do
    mkdir -p .build/fuzz/work/$t
    cp -n Tests/fuzz/corpus/$t/* .build/fuzz/work/$t/ 2>/dev/null || true
    echo "== $t: libFuzzer, $seconds s" >&2
    FLYWHEEL_FUZZ_TARGET=$t nice "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=3072 -timeout=30 \
      -print_final_stats=1 .build/fuzz/work/$t
  done
else
  nice swift build -c release --product flywheel-fuzz >&2
  bin=$(swift build -c release --show-bin-path)/flywheel-fuzz
  for t in $targets; do
    echo "== $t: own mutation fuzzer, $seconds s" >&2
    nice "$bin" "$t" Tests/fuzz/corpus/$t --seconds "$seconds"
  done
fi
