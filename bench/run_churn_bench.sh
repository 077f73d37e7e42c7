#!/usr/bin/env bash
# The churn part of `make bench`: criterion benches of retention-core's churn models, then Python
# `lifetimes` on the very same data in the same run, then one Markdown table with the ratios
# (written to target/churn-bench/BENCHMARKS-churn.md and printed).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BENCH_VENV:-.venv-bench}"
PYTHON="${BENCH_PYTHON:-python3.11}"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="${CHURN_BENCH_DIR:-$PWD/target/churn-bench}"
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet -r bench/requirements.txt
fi
CHURN_BENCH_DIR="$OUT" cargo bench -p retention-core --bench churn -- "${CRITERION_FILTER:-}"
{
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'); \`make bench\` (bench/run_churn_bench.sh)."
    echo
    echo "Machine: $(nproc) cores; $(lscpu | grep -m1 'Model name' | sed 's/ \{2,\}/ /g')"
    echo
    "$VENV/bin/python" bench/lifetimes_compare.py --bench-dir "$OUT" --criterion-dir "$TARGET/criterion" ${LIFETIMES_ARGS:-}
} | tee "$OUT/BENCHMARKS-churn.md"

# `retention model fit` as a whole process against lifetimes, from the same transaction CSV (issue 11).
# The CLI as `make demo` builds it (dev profile, retention-core at opt-level 2): a release build
# links every AWS SDK with LTO for many minutes, and would only be faster.
cargo build --bin retention
"$VENV/bin/python" bench/model_fit_compare.py --binary "$TARGET/debug/retention" --dir "$OUT" \
    ${MODEL_FIT_ARGS:-} | tee -a "$OUT/BENCHMARKS-churn.md"
