#!/usr/bin/env bash
# Runs the fuzz targets: `./run.sh smoke` (25 s each, CI, AddressSanitizer on) or
# `./run.sh soak [RUNS] [TARGET...]` (SOAK_SECONDS caps the time; no sanitizer: the crate forbids unsafe code, and the
# checks that matter are its own panics and assertions; ~4x the executions per second).
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-smoke}
targets=(decode streaming roundtrip client stream_receive)
sanitizer=address
if [ "$mode" = soak ]; then
  sanitizer=none
  if [ $# -gt 2 ]; then targets=("${@:3}"); fi
fi
cargo +nightly fuzz build -O -s "$sanitizer"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  case "$mode" in
    smoke) limit=(-max_total_time="${FUZZ_SECONDS:-25}") ;;
    soak) limit=(-runs="${2:-100000000}")
          # SOAK_SECONDS caps the wall time (the run then reports how far it got).
          if [ -n "${SOAK_SECONDS:-}" ]; then limit+=(-max_total_time="$SOAK_SECONDS"); fi ;;
    *) echo "usage: $0 smoke|soak [runs]"; exit 2 ;;
  esac
  echo "== fuzz $t ($mode)"
  cargo +nightly fuzz run -O -s "$sanitizer" "$t" "corpus/$t" seeds -- \
    -dict=dict/mqtt.dict -max_len=4096 -timeout=10 -print_final_stats=1 "${limit[@]}" 2>&1 \
    | grep -E "DONE|stat::|INFO: seed|==[0-9]+==|SUMMARY|thread|panicked|Done" || true
  # A crash, hang, out-of-memory or leak leaves an artifact: fail loudly.
  if compgen -G "artifacts/$t/*-*" >/dev/null; then
    echo "fuzz target $t failed: see fuzz/artifacts/$t"; ls "artifacts/$t"; exit 1
  fi
done
