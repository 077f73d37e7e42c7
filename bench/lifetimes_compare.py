#!/usr/bin/env python3
"""Fits Python `lifetimes` 0.11.3 on exactly the data the Rust criterion bench used (the summaries
it wrote to CHURN_BENCH_DIR), times it, reads the Rust times from criterion's estimates, and prints
a Markdown table with the ratios. Run by `make bench` after `cargo bench -p retention-core --bench churn`.

lifetimes is given the identical (x, t_x, T) rows, grouped into distinct rows with weights (its own
recommended way for large data), and its default optimizer settings: BFGS with autograd gradients
for BG/NBD, Nelder-Mead (tol 1e-4) for Pareto/NBD.
"""
import argparse
import json
import os
import platform
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter  # noqa: E402


def grouped(df):
    g = df.groupby(["frequency", "recency", "T"]).size().reset_index(name="weights")
    return g


def timed(fn, repeat):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def criterion_seconds(criterion_dir, *path):
    f = os.path.join(criterion_dir, *path, "new", "estimates.json")
    try:
        with open(f) as fh:
            return json.load(fh)["mean"]["point_estimate"] / 1e9
    except OSError:
        return None


def fmt_time(s):
    if s is None:
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def params_str(d):
    return ", ".join(f"{k} = {v:.5g}" for k, v in d.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--criterion-dir", required=True)
    ap.add_argument("--skip-1m-pareto", action="store_true", help="lifetimes' Pareto/NBD on 1M rows is slow")
    args = ap.parse_args()
    rust = json.load(open(os.path.join(args.bench_dir, "rust_fits.json")))
    rows = []

    def add(name, data, lt_time, rust_time, lt_params, rust_params):
        ratio = f"{lt_time / rust_time:.0f}×" if lt_time and rust_time else "n/a"
        rows.append((name, data, fmt_time(lt_time), fmt_time(rust_time), ratio, lt_params, rust_params))

    cdnow_path = os.path.join(args.bench_dir, "cdnow_weeks.csv")
    if os.path.exists(cdnow_path):
        cd = pd.read_csv(cdnow_path)
        g = grouped(cd)
        t, bg = timed(lambda: BetaGeoFitter().fit(g["frequency"], g["recency"], g["T"], weights=g["weights"]), 3)
        add("BG/NBD fit", "CDNOW (2,357)", t, criterion_seconds(args.criterion_dir, "cdnow_fit", "bgnbd"),
            params_str(bg.params_.to_dict()), params_str(rust["cdnow_bgnbd"]["params"]))
        t, pn = timed(lambda: ParetoNBDFitter().fit(g["frequency"], g["recency"], g["T"], weights=g["weights"]), 3)
        add("Pareto/NBD fit", "CDNOW (2,357)", t, criterion_seconds(args.criterion_dir, "cdnow_fit", "pareto"),
            params_str(pn.params_.to_dict()), params_str(rust["cdnow_pareto"]["params"]))
        rep = cd[cd["frequency"] > 0]
        t, gg = timed(lambda: GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"]), 3)
        add("Gamma-Gamma fit", "CDNOW (946)", t, criterion_seconds(args.criterion_dir, "cdnow_fit", "gamma_gamma"),
            params_str(gg.params_.to_dict()), "see CDNOW test")
    else:
        print(f"!!! {cdnow_path} missing: CDNOW rows skipped", file=sys.stderr)

    sim = pd.read_csv(os.path.join(args.bench_dir, "sim_bgnbd_1m.csv"))
    t0 = time.perf_counter()
    g = grouped(sim)
    bg = BetaGeoFitter().fit(g["frequency"], g["recency"], g["T"], weights=g["weights"])
    t = time.perf_counter() - t0
    add("BG/NBD fit", f"1M simulated ({len(g):,} distinct)", t, criterion_seconds(args.criterion_dir, "sim1m_fit", "bgnbd"),
        params_str(bg.params_.to_dict()), params_str(rust["sim_bgnbd"]["params"]))

    simp = pd.read_csv(os.path.join(args.bench_dir, "sim_pareto_1m.csv"))
    gp = grouped(simp)
    if not args.skip_1m_pareto:
        t0 = time.perf_counter()
        pn1 = ParetoNBDFitter().fit(gp["frequency"], gp["recency"], gp["T"], weights=gp["weights"])
        t = time.perf_counter() - t0
        add("Pareto/NBD fit", f"1M simulated ({len(gp):,} distinct)", t,
            criterion_seconds(args.criterion_dir, "sim1m_fit", "pareto"),
            params_str(pn1.params_.to_dict()), params_str(rust["sim_pareto"]["params"]))

    # Scoring: expected purchases in 90 days (lifetimes' fastest per-customer quantity) for 1M
    # customers, in days, against the Rust churn risk of the same customers.
    pn_days = ParetoNBDFitter()
    pn_days.params_ = pd.Series({"r": 0.553, "alpha": 10.578 * 7, "s": 0.606, "beta": 11.669 * 7})
    x, tx, T = simp["frequency"].values, simp["recency"].values * 7, simp["T"].values * 7
    t, _ = timed(lambda: pn_days.conditional_expected_number_of_purchases_up_to_time(90, x, tx, T), 1)
    rust_t = criterion_seconds(args.criterion_dir, "score_1m", "pareto_churn_risk", "1000000")
    add("Pareto/NBD scoring, 1M customers", "customers/s", len(x) / t,
        len(x) / rust_t if rust_t else None, "", "")
    # The scoring row holds rates, not times: rewrite it.
    name, data, _, _, _, _, _ = rows[-1]
    lt_rate, rs_rate = len(x) / t, (len(x) / rust_t if rust_t else None)
    rows[-1] = (name, data, f"{lt_rate / 1e6:.2f} M/s", f"{rs_rate / 1e6:.2f} M/s" if rs_rate else "n/a",
                f"{rs_rate / lt_rate:.0f}×" if rs_rate else "n/a", "", "")

    print(f"lifetimes {__import__('lifetimes').__version__}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"Python {platform.python_version()}")
    print()
    print("| what | data | lifetimes | Rust | ratio | lifetimes parameters | Rust parameters |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
