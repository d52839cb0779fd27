"""Per-call cost of the closed form, the minimiser construction and the NC metrics.

Sweeps call ``ufm.closed_form.closed_form`` and ``ufm.metrics.nc_metrics`` once per configuration,
so both must stay cheap next to a solve. Budgets (they were timed tests until 2026-12-01; timing
belongs here, where the load average is recorded, not in the test suite):

* ``closed_form``: ≤ 5 ms for K = 10 (CE; MSE with a regularised bias), ≤ 50 ms for FL at
  K = 200 (the global 1-D minimisation of theory.md b.4);
* ``minimiser`` (W*, H*, b* at paper scale K = 10, d = 512, n = 500): ≤ 1 s;
* ``nc_metrics`` at K = 10, d = 512, N = 5000 (float64, the default variants): ≤ 50 ms.

Usage::

    python benchmarks/closed_form_and_metrics.py           # writes results/closed_form_and_metrics.json
    python benchmarks/closed_form_and_metrics.py --quick   # fewer repeats, prints only
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import median_seconds, write_result  # noqa: E402


def cases():
    """(name, callable, budget in seconds) for each timed call."""
    from ufm.closed_form import closed_form, minimiser
    from ufm.metrics import nc_metrics
    from ufm.spec import Problem

    rng = np.random.default_rng(0)
    K, d, N = 10, 512, 5000
    W, H = rng.normal(size=(K, d)), rng.normal(size=(d, N))
    labels = rng.integers(0, K, size=N)
    return [
        ("closed_form CE K=10", lambda: closed_form(Problem(10, 5, 20, "ce")), 5e-3),
        ("closed_form MSE K=10 lambda_b=0.1",
         lambda: closed_form(Problem(10, 5, 20, "mse", lambda_b=0.1)), 5e-3),
        ("closed_form FL K=200 gamma=3", lambda: closed_form(Problem(200, 5, 200, "fl", gamma=3.0)),
         5e-2),
        ("minimiser CE K=10 d=512 n=500", lambda: minimiser(Problem(10, 500, 512, "ce")), 1.0),
        ("nc_metrics K=10 d=512 N=5000", lambda: nc_metrics(W, H, None, labels, K), 5e-2),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, print only")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 9
    load_before = os.getloadavg()[0]
    rows = []
    for name, fn, budget in cases():
        seconds = median_seconds(fn, repeats=repeats)
        rows.append({"case": name, "median_ms": 1e3 * seconds, "budget_ms": 1e3 * budget,
                     "within_budget": seconds <= budget})
        print(f"{name:40s} {1e3 * seconds:9.2f} ms  (budget {1e3 * budget:g} ms)"
              f"{'' if seconds <= budget else '  OVER BUDGET'}")
    if not args.quick:
        path = write_result("closed_form_and_metrics",
                            {"cases": rows, "repeats": repeats, "load_average_before": load_before})
        print(f"wrote {path}")
    return 0 if all(row["within_budget"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
