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
in η). At η = 0 both are 0 up to the solver's accuracy (no noisy sample to pull the cluster).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NAME = "label_noise_dilation"
TITLE = "Dilation against label noise, CE vs LS"
KEYS = ("settings", "eta", "relative_dilation", "relative_memorization", "radius", "converged",
        "versions")


def settings(quick: bool) -> dict[str, Any]:
    etas = [0.0, 0.1, 0.2, 0.3] if quick else [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
    return {"K": 4, "n": 10 if quick else 25, "dim": 4, "etas": etas, "losses": ["ce", "ls"],
            "lambdas": [5e-3, 5e-3, 5e-3], "alpha": 0.1, "model": "limited", "noise_seed": 0}


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """:func:`ufm.noise.dilation_curve` for CE and LS."""
    from ufm.noise import dilation_curve
    from ufm.precision import x64
    from ufm.report import versions

    s = settings(quick)
    with x64():
        out = dilation_curve(K=s["K"], n=s["n"], dim=s["dim"], etas=tuple(s["etas"]),
                             losses=tuple(s["losses"]), lambdas=tuple(s["lambdas"]),
                             alpha=s["alpha"], seed=seed, noise_seed=s["noise_seed"],
                             model=s["model"])
    curve_settings = out.pop("settings")
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed,
            "settings": {**s, "dilation_curve": curve_settings}, **out, "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Top: relative dilation against η. Bottom: relative memorization against η."""
    from ufm.figures import _style

    s = data["settings"]
    eta = np.asarray(data["eta"], dtype=float)
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 3.3, nrows=2, sharex=True)
        rows = ((axes[0, 0], "relative_dilation", "relative dilation"),
                (axes[1, 0], "relative_memorization", "memorization offset\n(0 = memorised)"))
        for ax, key, label in rows:
            for loss in s["losses"]:
                st = _style.loss_style(loss, alpha=s["alpha"])
                y = np.asarray(data[key][loss], dtype=float)  # None (undefined at η = 0) → nan
                ok = np.asarray(data["converged"][loss], dtype=bool)
                ax.plot(eta, y, color=st["color"], marker=st["marker"], ms=3.2, label=st["label"])
                ax.plot(eta[~ok], y[~ok], ls="none", marker="x", color=_style.BLACK, ms=5)
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)
            ax.grid(True, which="major")
        axes[1, 0].set_xlabel(r"label noise $\eta$ (fraction flipped)")
        axes[0, 0].legend(loc="upper left")
        lam = s["lambdas"][0]
        fig.suptitle(f"limited-expressivity model (ufm.noise), K={s['K']}, n={s['n']}, "
                     f"d={s['dim']}, " r"$\lambda$" f"={lam:g}", fontsize=7)
        return _style.save(fig, out_dir, NAME)
