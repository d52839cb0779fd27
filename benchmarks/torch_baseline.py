"""The PyTorch baseline: a plain full-batch loop, the way the papers' code does it.

Features H (N×d) and a linear classifier W (K×d, no bias) are ``nn.Parameter``s; the loss is
``F.cross_entropy(..., label_smoothing=α)``; weight decay goes through ``torch.optim.SGD``
(``weight_decay=λ`` adds λθ to the gradient, i.e. (λ/2)‖θ‖², the (UFM) normalisation) with
momentum 0.9. For each lr in {0.1, 1, 10} and dtype in {float32, float64} it runs until the
relative objective error (f − f*)/f* reaches 1e-6 or the time budget ends, and records the
time to 1e-6 (training steps only; the objective is evaluated every 10 steps off the clock) or
the best error reached. f* is ufm's closed form.

Needs the optional extra: ``pip install -e ".[torch]"`` (torch==2.13.0, a local CPU build).

    python benchmarks/torch_baseline.py [--budget 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import write_result
from ufm.closed_form import closed_form
from ufm.spec import Problem

TARGET = 1e-6


def run(loss: str, alpha: float, lr: float, dtype, budget: float, problem: Problem, f_star: float):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    K, d, N = problem.K, problem.d, problem.N
    H = torch.nn.Parameter(torch.randn(N, d, dtype=dtype) / d**0.5)
    W = torch.nn.Parameter(torch.randn(K, d, dtype=dtype) / d**0.5)
    y = torch.as_tensor(problem.labels(), dtype=torch.long)
    opt = torch.optim.SGD([{"params": [W], "weight_decay": problem.lambda_w},
                           {"params": [H], "weight_decay": problem.lambda_h}], lr=lr, momentum=0.9)

    def objective() -> float:
        with torch.no_grad():
            data = F.cross_entropy(H @ W.T, y, label_smoothing=alpha).double()
            reg = 0.5 * (problem.lambda_w * W.double().pow(2).sum()
                         + problem.lambda_h * H.double().pow(2).sum())
            return float(data + reg)

    train_seconds, steps, best, reached = 0.0, 0, np.inf, None
    while train_seconds < budget:
        start = time.perf_counter()
        for _ in range(10):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(H @ W.T, y, label_smoothing=alpha).backward()
            opt.step()
        train_seconds += time.perf_counter() - start
        steps += 10
        err = (objective() - f_star) / f_star
        if not np.isfinite(err):
            break
        best = min(best, err)
        if err <= TARGET:
            reached = train_seconds
            break
    return {"loss": loss, "lr": lr, "dtype": str(dtype).replace("torch.", ""), "steps": steps,
            "train_seconds": train_seconds, "seconds_to_1e-6": reached, "best_rel_err": best,
            "ms_per_step": 1e3 * train_seconds / max(steps, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per (lr, dtype) run")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    rows = []
    for loss, alpha in (("ce", 0.0), ("ls", 0.1)):
        problem = Problem(10, 500, 512, loss=loss, alpha=alpha, bias=False)
        f_star = closed_form(problem).objective
        for dtype in (torch.float32, torch.float64):
            for lr in (0.1, 1.0, 10.0):
                rows.append(run(loss, alpha, lr, dtype, args.budget, problem, f_star))
                print(rows[-1], flush=True)
    write_result("torch_baseline", {"problem": "K=10 d=512 n=500 λ=5e-4 no bias", "target": TARGET,
                                    "budget_seconds": args.budget, "rows": rows,
                                    "torch": torch.__version__})


if __name__ == "__main__":
    main()
