"""Label noise: dilation of the clean clusters against the noise level η, CE vs LS (theory.md e).

Memorization-Dilation (Nguyen et al., ICLR 2023) argue that, with label noise and limited
expressivity, memorising the noisy samples dilates the clean clusters, less so under LS. Their
exact model is not available (theory.md e, [NOT FOUND]); this figure uses the limited-expressivity
model of :mod:`ufm.noise` (:func:`ufm.noise.dilation_curve`, ``model="limited"``): every feature
of true class j is c_j + r_j·u (clean: fixed random u; noisy: free ‖v‖ ≤ 1), the UFM objective with
the noisy labels is minimised over (W, b, c, r, v), and

* relative dilation = mean over classes of std_clean ‖h − clean centroid‖ / mean centroid distance,
* relative memorization = mean projection of the corrupted-sample mean onto the direction
  from its noisy-label mean towards its true-class mean, divided by the mean label-mean distance
  (0: fully memorised at the noisy label's centre).

Labels: a fraction η flipped uniformly to another class (:func:`ufm.noise.flip_labels`, nested
in η). At η = 0 both are 0 up to the solver's accuracy (no noisy sample to pull the cluster), so
η = 0 is solved once.

Replicates: each η > 0 is solved for ``replicates`` independent draws r = 0, 1, …: noise seed r
(which samples are flipped, and to what) and seed ``seed + r`` (the fixed inputs u_i and the random
starts). The figure shows the mean over replicates with a band from the smallest to the largest
value and error bars of ± one standard deviation; ``per_replicate`` keeps every value.
``comparison`` counts, per η, the replicates in which CE's relative dilation exceeds LS's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NAME = "label_noise_dilation"
TITLE = "Dilation against label noise, CE vs LS"
METRICS = ("relative_dilation", "relative_memorization", "dilation", "radius")
SCHEMA = {"settings": None, "eta": None, "mean": None, "std": None, "min": None, "max": None,
          "versions": None}
KEYS = tuple(SCHEMA)


def settings(quick: bool) -> dict[str, Any]:
    etas = [0.0, 0.15, 0.3] if quick else [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
    return {"K": 4, "n": 10 if quick else 25, "dim": 4, "etas": etas, "losses": ["ce", "ls"],
            "lambdas": [5e-3, 5e-3, 5e-3], "alpha": 0.1, "model": "limited",
            "replicates": 3 if quick else 5, "restarts": 2 if quick else 4}


def _stats(rows: list[list[float | None]]) -> dict[str, list[float | None]]:
    """Per η (columns of ``rows``, one row per replicate): mean, std (ddof = 1), min, max."""
    out: dict[str, list[float | None]] = {"mean": [], "std": [], "min": [], "max": []}
    for col in zip(*rows, strict=True):
        v = np.array([np.nan if x is None else x for x in col], dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            for k in out:
                out[k].append(None)
            continue
        out["mean"].append(float(v.mean()))
        out["std"].append(float(v.std(ddof=1)) if v.size > 1 else 0.0)
        out["min"].append(float(v.min()))
        out["max"].append(float(v.max()))
    return out


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """:func:`ufm.noise.dilation_curve` for CE and LS, per η and replicate."""
    from ufm.figures._progress import track
    from ufm.noise import dilation_curve
    from ufm.precision import x64
    from ufm.report import versions

    s = settings(quick)
    losses = tuple(s["losses"])
    jobs = [(0, 0.0)] + [(r, eta) for r in range(s["replicates"]) for eta in s["etas"] if eta > 0]
    got: dict[tuple[int, float], dict[str, Any]] = {}
    with x64():
        for r, eta in track(jobs, NAME):
            got[(r, eta)] = dilation_curve(
                K=s["K"], n=s["n"], dim=s["dim"], etas=(eta,), losses=losses,
                lambdas=tuple(s["lambdas"]), alpha=s["alpha"], seed=seed + r, noise_seed=r,
                model=s["model"], restarts=s["restarts"])
    reps = range(s["replicates"])

    def run(r: int, eta: float) -> dict[str, Any]:
        return got[(0, 0.0)] if eta == 0 else got[(r, eta)]

    per: dict[str, Any] = {"eta": [[run(r, e)["eta"][0] for e in s["etas"]] for r in reps]}
    for key in (*METRICS, "memorization", "converged"):
        per[key] = {loss: [[run(r, e)[key][loss][0] for e in s["etas"]] for r in reps]
                    for loss in losses}
    stats = {k: {m: {} for m in METRICS} for k in ("mean", "std", "min", "max")}
    for m in METRICS:
        for loss in losses:
            st = _stats(per[m][loss])
            for k in stats:
                stats[k][m][loss] = st[k]
    ce, ls = per["relative_dilation"]["ce"], per["relative_dilation"]["ls"]
    comparison = {"ce_above_ls": [sum(c[i] > l[i] for c, l in zip(ce, ls, strict=True))
                                  for i in range(len(s["etas"]))],
                  "replicates": s["replicates"],
                  "mean_difference_ce_minus_ls": [
                      a - b for a, b in zip(stats["mean"]["relative_dilation"]["ce"],
                                            stats["mean"]["relative_dilation"]["ls"],
                                            strict=True)]}
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "eta": [float(np.mean(col)) for col in zip(*per["eta"], strict=True)],
            **stats, "per_replicate": per, "comparison": comparison,
            "all_converged": all(all(all(row) for row in per["converged"][loss])
                                 for loss in losses),
            "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Top: relative dilation against η. Bottom: relative memorization against η. Mean over
    replicates, band min–max, error bars ± 1 std; LS slightly offset in η for legibility."""
    from ufm.figures import _style

    s = data["settings"]
    eta = np.asarray(data["eta"], dtype=float)
    step = float(np.min(np.diff(eta))) if eta.size > 1 else 0.05
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 3.6, nrows=2, sharex=True)
        rows = ((axes[0, 0], "relative_dilation", "relative dilation"),
                (axes[1, 0], "relative_memorization", "memorization offset\n(0 = memorised)"))
        for ax, key, label in rows:
            for j, loss in enumerate(s["losses"]):
                st = _style.loss_style(loss, alpha=s["alpha"])
                def f(k, key=key, loss=loss):
                    return np.asarray(data[k][key][loss], dtype=float)  # None → nan

                x = eta + (j - 0.5) * 0.08 * step  # small offset: bars do not overlap
                ax.fill_between(eta, f("min"), f("max"), color=st["color"], alpha=0.18, lw=0)
                ax.errorbar(x, f("mean"), yerr=f("std"), color=st["color"], marker=st["marker"],
                            ms=3.2, capsize=2, elinewidth=0.8, label=st["label"])
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)
            ax.grid(True, which="major")
        axes[1, 0].set_xlabel(r"label noise $\eta$ (fraction flipped)")
        axes[0, 0].legend(loc="upper left")
        lam = s["lambdas"][0]
        fig.suptitle(f"limited-expressivity model (ufm.noise), K={s['K']}, n={s['n']}, "
                     f"d={s['dim']}, " r"$\lambda$" f"={lam:g}\n"
                     f"mean of {s['replicates']} noise draws, bars ±1 std, bands min–max",
                     fontsize=7)
        return _style.save(fig, out_dir, NAME)
