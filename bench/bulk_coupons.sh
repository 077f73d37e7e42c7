#!/usr/bin/env bash
# Bulk coupon issue through the real `retention` CLI against local AWS (tests/moto_server.py), timed,
# then checked from the outside: N customers get N distinct codes, and the table holds exactly those
# N coupons. Figures go to BENCHMARKS.md, "Bulk issue against local AWS (moto)".
#
#   N=100000 PROFILE=debug CONCURRENCY=16 bash bench/bulk_coupons.sh     (these are the defaults)
#
# A debug CLI by default: moto answers one request at a time in one Python thread and is the
# bottleneck (the debug CLI spends about a fifth of the run on the CPU); PROFILE=release builds the
# release profile (fat LTO: many minutes on 2 cores). Files land in target/bulk-coupons/.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PROFILE=${PROFILE:-debug}
CONCURRENCY=${CONCURRENCY:-16}
OUT=${BULK_BENCH_DIR:-$PWD/target/bulk-coupons}
TARGET=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"
[[ -x .venv/bin/python ]] || make venv

case $PROFILE in
  release) cargo build --quiet --release --bin retention ;;
  debug) cargo build --quiet --bin retention ;;
  *) echo "PROFILE is release or debug" >&2; exit 2 ;;
esac
cli="$TARGET/$PROFILE/retention"

# Without tests/moto_server.py's rollback patch moto copies the whole table for every transaction
# and the run is quadratic: make sure it applies (and still behaves as stock moto) first.
.venv/bin/python tests/moto_rollback_check.py 1 200 >/dev/null
export RETENTION_TABLE=bulk-bench
source scripts/lib.sh
start_moto

echo "Bulk issue against moto: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git describe --always --dirty 2>/dev/null || echo '?')"
echo "Machine: $(nproc) cores; $(lscpu | grep -m1 'Model name' | sed 's/ \{2,\}/ /g')"
echo "Build: $PROFILE; concurrency $CONCURRENCY; $N customers; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

"$cli" init >/dev/null
"$cli" store add --store bench --platform generic --webhook-secret bench-secret-123 >/dev/null
seq 1 "$N" | sed 's/^/c/' >"$OUT/customers.txt"

start=$(date +%s.%N)
"$cli" coupons issue --store bench --campaign b --customers "$OUT/customers.txt" \
  --kind percentage --value 10 --expires-in-days 30 --concurrency "$CONCURRENCY" --out "$OUT/codes.csv"
end=$(date +%s.%N)
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# From the outside: every customer once, every code once, and the table's coupons are these. Slow on
# moto (12 minutes for 100,000): its Query sorts the whole table again for every 1 MB page.
listed=$(date +%s)
"$cli" coupons list --store bench >"$OUT/listed.jsonl"
echo "coupons list: $(( $(date +%s) - listed )) s"
.venv/bin/python - "$N" "$start" "$end" "$OUT" <<'PY'
import csv, json, sys
n, start, end, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
with open(f"{out}/codes.csv") as f:
    rows = [(r["customer_id"], r["code"]) for r in csv.DictReader(f)]
with open(f"{out}/listed.jsonl") as f:
    listed = [json.loads(line) for line in f]
stored = {(c["customer_id"], c["code"]) for c in listed}
checks = {
    f"{n} lines in codes.csv": len(rows) == n,
    f"{n} distinct customers": len({c for c, _ in rows}) == n,
    f"{n} distinct codes": len({code for _, code in rows}) == n,
    f"{n} coupons in the table": len(listed) == n,
    "the table's coupons are the ones handed out": stored == set(rows),
}
for what, ok in checks.items():
    print(f"  {'ok' if ok else 'FAILED'}: {what}")
secs = end - start
print(f"{n} coupons in {secs:.1f} s: {n / secs:.0f} per second")
sys.exit(0 if all(checks.values()) else 1)
PY
