#!/usr/bin/env python3
"""`retention model fit` as a whole process against Python `lifetimes` doing the same from the same
file, in the same run (issue 11's figure; goal >= 20x).

1. Simulates a store's transaction export, seeded: N customers whose first orders fall in the first
   12 weeks, each buying as a Poisson process at rate lambda ~ Gamma(r, alpha) until a dropout time
   ~ Exp(mu), mu ~ Gamma(s, beta) (Pareto/NBD at CDNOW-like parameters, in days), on whole days,
   spending a log-normal amount per order; written as `customer_id,date,amount`.
2. Times `retention model fit --transactions FILE --calibration-end D --model all --json` as a
   subprocess (the whole process: start, read, parse, reduce, fit BG/NBD, Pareto/NBD and Gamma-Gamma,
   print), best of `--repeat`.
3. Times lifetimes from the same file: `pandas.read_csv`, `summary_data_from_transaction_data`, then
   BetaGeoFitter and ParetoNBDFitter on the grouped summary with weights (its recommended way for
   large data) and GammaGammaFitter on the repeat buyers, with their default optimizers.
4. Prints a Markdown table with the times, the ratio and both sides' parameters.
"""
import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402

START = dt.date(2025, 1, 1)
CALIBRATION_DAYS = 273  # 39 weeks, as CDNOW's calibration period


def simulate(path, customers, seed):
    rng = np.random.default_rng(seed)
    # Pareto/NBD at CDNOW's fitted parameters (weeks), in days.
    r, alpha, s, beta = 0.553, 10.578 * 7, 0.606, 11.669 * 7
    lam = rng.gamma(r, 1 / alpha, customers)
    mu = rng.gamma(s, 1 / beta, customers)
    first = rng.integers(0, 84, customers)
    alive_until = first + rng.exponential(1 / mu)
    end = np.minimum(alive_until, CALIBRATION_DAYS)
    span = np.maximum(end - first, 0)
    repeats = rng.poisson(lam * span)
    ids = np.repeat(np.arange(customers), repeats + 1)
    days = np.empty(len(ids), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(repeats + 1)[:-1]])
    days[starts] = first
    mask = np.ones(len(ids), dtype=bool)
    mask[starts] = False
    owner = ids[mask]
    days[mask] = first[owner] + np.floor(rng.random(len(owner)) * span[owner]).astype(np.int64)
    amounts = np.round(np.exp(rng.normal(3.3, 0.6, len(ids))), 2)
    amounts = np.maximum(amounts, 0.01)
    base = np.datetime64(START.isoformat())
    dates = (base + days.astype("timedelta64[D]")).astype(str)
    with open(path, "w") as f:
        f.write("customer_id,date,amount\n")
        for c, d, a in zip(ids, dates, amounts):
            f.write(f"c{c},{d},{a:.2f}\n")
    return len(ids)


def best_of(repeat, fn):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def rust(binary, path, end):
    cmd = [binary, "model", "fit", "--transactions", path, "--calibration-end", end,
           "--model", "all", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def lifetimes(path, end):
    df = pd.read_csv(path)
    summary = summary_data_from_transaction_data(
        df, "customer_id", "date", monetary_value_col="amount",
        observation_period_end=end, freq="D")
    g = summary.groupby(["frequency", "recency", "T"]).size().reset_index(name="weights")
    bg = BetaGeoFitter().fit(g["frequency"], g["recency"], g["T"], weights=g["weights"])
    pn = ParetoNBDFitter().fit(g["frequency"], g["recency"], g["T"], weights=g["weights"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    return {"bgnbd": dict(bg.params_), "pareto": dict(pn.params_), "gamma_gamma": dict(gg.params_)}


def fmt(d):
    return ", ".join(f"{k} = {v:.5g}" for k, v in d.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="target/debug/retention")
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--dir", default="target/churn-bench")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lifetimes-repeat", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    path = os.path.join(a.dir, f"transactions-{a.customers}.csv")
    rows = simulate(path, a.customers, a.seed)
    end = (START + dt.timedelta(days=CALIBRATION_DAYS - 1)).isoformat()
    rust_s, report = best_of(a.repeat, lambda: rust(a.binary, path, end))
    py_s, params = best_of(a.lifetimes_repeat, lambda: lifetimes(path, end))
    print(f"{a.customers:,} customers, {rows:,} transactions ({os.path.getsize(path) / 1e6:.1f} MB), "
          f"calibration to {end}; {platform.python_version()}, lifetimes 0.11.3\n")
    print("| what | lifetimes | `retention model fit` | ratio |")
    print("|---|---|---|---|")
    print(f"| CSV to fitted BG/NBD, Pareto/NBD and Gamma-Gamma, whole process | {py_s:.2f} s | "
          f"{rust_s:.3f} s | **{py_s / rust_s:.1f}×** |")
    print()
    print("lifetimes: " + "; ".join(f"{k}: {fmt(v)}" for k, v in params.items()))
    print()
    ours = {m["model"]: {p["name"]: p["value"] for p in m.get("parameters", [])}
            for m in report.get("models", [])}
    print("retention: " + "; ".join(f"{k}: {fmt(v)}" for k, v in ours.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
