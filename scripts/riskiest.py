"""Reads `retention scores` CSV on stdin, prints the N riskiest customers to stderr (so the demo
shows them) and the riskiest one's id on stdout."""
import csv
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
rows = sorted(csv.DictReader(sys.stdin), key=lambda r: -float(r["churn_risk"]))
print(f"  {'customer':<34} {'risk':>5}  {'bucket':<7} {'segment':<12} {'value':>8}", file=sys.stderr)
for r in rows[:n]:
    risk = float(r["churn_risk"])
    print(f"  {r['customer_id']:<34} {risk:>5.0%}  {r['bucket']:<7} {r['segment']:<12} {r['predicted_clv']:>8}",
          file=sys.stderr)
print(rows[0]["customer_id"] if rows else "")
