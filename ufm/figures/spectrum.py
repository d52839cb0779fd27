"""The Hessian spectrum at the minimiser: dense eigenvalues against the closed form (theory.md c.2).

For the worked example of theory.md c.2 (K = 4, d = 5, n = 3, λ_W = λ_H = 5e-3, λ_b = 0, with a
bias; P = 84 parameters; the same in quick and full mode), CE beside LS (α = 0.1): the problem is
solved
numerically, the full P×P Hessian at the solution is formed by autodiff
(:func:`ufm.hessian.dense_hessian`) and all P eigenvalues are computed. The closed-form families of
:func:`ufm.spectrum.closed_form_spectrum` (eigenvalue × multiplicity: within-class, ⊥ ETF
subspace, Λ², [K−2, 2], trivial and standard irreps of S_K) are laid out in ascending order, each
family a horizontal segment as long as its multiplicity, and families of multiplicity ≤ 2 (the
trivial irrep's three, [K−2, 2]'s, two ⊥ ETF ones) get a diamond too so they stay visible; the
dense eigenvalues are the dots. The (K−1)d − K(K−1)/2 (+1 for the free bias shift) symmetry
zeros (|λ| ≤ ``zero_tol`` = sqrt(eps)·λ_max) are drawn on the "0" row.

``rel_err`` = max_i |λ_i − λ_i^cf|/λ_max at the solver's point, which lies within
``distance_bound`` = ‖∇f‖/λ_min⁺ of the minimiser manifold (so its eigenvalues differ from the
minimiser's by O(that distance)); ``rel_err_closed_form_point`` is the same at the closed-form
minimiser of :func:`ufm.closed_form.minimiser`, where only round-off (~P·eps) separates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NAME = "spectrum"
TITLE = "Hessian spectrum at the minimiser, CE and LS"
PANEL_KEYS = ("loss", "alpha", "dense", "families", "rel_err", "zero_tol", "zero_modes_dense",
              "zero_modes_expected")
FAMILY_KEYS = ("family", "group", "eigenvalue", "multiplicity")
SCHEMA = {"settings": None,
          "panels": [{**dict.fromkeys(PANEL_KEYS), "families": [dict.fromkeys(FAMILY_KEYS)]}],
          "versions": None}
KEYS = tuple(SCHEMA)
SMALL_MULTIPLICITY = 2  # families this small also get a marker
GROUPS = (("within-class", "within-class"), ("⊥ ETF", "⊥ ETF subspace"), ("Λ²", "Λ² (antisym.)"),
          ("[K−2,2]", "[K−2, 2]"), ("trivial", "trivial"), ("V", "standard V"))


def settings(quick: bool) -> dict[str, Any]:
    """theory.md c.2 worked example, in both modes (``quick`` changes nothing)."""
    return {"classes": 4, "per_class": 3, "dim": 5, "lambda_w": 5e-3, "lambda_h": 5e-3,
            "lambda_b": 0.0, "bias": True,
            "losses": [["ce", 0.0], ["ls", 0.1]]}


def group_of(family: str) -> str:
    """The symmetry group label of a closed-form family name."""
    for key, _ in GROUPS:
        if family.startswith(key):
            return key
    raise ValueError(f"family {family!r}: expected a name starting with one of "
                     + ", ".join(k for k, _ in GROUPS))


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """Solve, form the dense Hessian, compare with the closed-form families."""
    from ufm.closed_form import minimiser
    from ufm.figures import LANES
    from ufm.figures._batch import solve_many
    from ufm.figures._progress import track
    from ufm.objective import Params
    from ufm.precision import x64
    from ufm.report import versions
    from ufm.spec import Problem
    from ufm.spectrum import closed_form_spectrum, dense_spectrum, expand

    s = settings(quick)
    problems = [Problem(s["classes"], s["per_class"], s["dim"], loss=loss, alpha=a,
                        lambda_w=s["lambda_w"], lambda_h=s["lambda_h"], lambda_b=s["lambda_b"],
                        bias=s["bias"]) for loss, a in s["losses"]]
    sols = solve_many(problems, [seed] * len(problems), label=NAME + " solve", chunk=LANES)
    panels = []
    with x64():
        for p, sol in track(list(zip(problems, sols, strict=True)), NAME + " Hessians"):
            dense = dense_spectrum(p, Params(sol.W, sol.H, sol.b))
            exact = dense_spectrum(p, minimiser(p))  # at the closed-form point: round-off only
            fams = closed_form_spectrum(p)
            ref = expand(fams)
            lam_max = float(ref[-1])
            lam_min = min(f.eigenvalue for f in fams if f.eigenvalue > 0)
            zeros = [f.multiplicity for f in fams if f.eigenvalue == 0.0]
            tol = float(np.sqrt(np.finfo(np.float64).eps)) * lam_max
            panels.append({
                "loss": p.loss, "alpha": p.alpha, "problem": p.to_dict(),
                "solver": {"objective": sol.objective, "grad_norm": sol.grad_norm,
                           "converged": sol.converged},
                "dense": dense,
                "families": [{"family": f.family, "group": group_of(f.family),
                              "eigenvalue": f.eigenvalue, "multiplicity": f.multiplicity}
                             for f in fams],
                "rel_err": float(np.max(np.abs(dense - ref)) / lam_max),
                "rel_err_closed_form_point": float(np.max(np.abs(exact - ref)) / lam_max),
                # distance of the solver's point from the minimiser manifold: ≤ ‖∇f‖/λ_min⁺
                "distance_bound": sol.grad_norm / lam_min,
                "lambda_max": lam_max,
                "zero_tol": tol,
                "zero_modes_dense": int(np.sum(np.abs(dense) <= tol)),
                "zero_modes_expected": int(sum(zeros)),
            })
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "panels": panels, "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """CE | LS: closed-form families as coloured segments, dense eigenvalues as dots (log y)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator

    from ufm.figures import _style

    palette = dict(zip([k for k, _ in GROUPS],
                       [_style.SKY, _style.GREY, _style.PURPLE, _style.ORANGE, _style.GREEN,
                        _style.VERMILION], strict=True))
    s = data["settings"]
    panels = data["panels"]
    positive = [f["eigenvalue"] for pnl in panels for f in pnl["families"] if f["eigenvalue"] > 0]
    lo = 10.0 ** (np.floor(np.log10(min(positive))) - 1)  # the "0" row
    hi = 10.0 ** np.ceil(np.log10(max(positive)))
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 3.1, ncols=len(panels), sharey=True)
        for ax, pnl in zip(axes[0], panels, strict=True):
            fams = sorted(pnl["families"], key=lambda f: f["eigenvalue"])
            start = 0
            for f in fams:
                y = max(f["eigenvalue"], lo)
                m = f["multiplicity"]
                ax.plot([start + 0.5, start + m + 0.5], [y, y],
                        color=palette[f["group"]], lw=5.0, solid_capstyle="butt", zorder=2)
                if m <= SMALL_MULTIPLICITY:
                    ax.plot(start + 0.5 + m / 2, y, ls="none", marker="D", ms=4.2,
                            color=palette[f["group"]], mec=_style.BLACK, mew=0.4, zorder=4)
                start += m
            dense = np.asarray(pnl["dense"], dtype=float)
            idx = np.arange(1, dense.size + 1)
            ax.plot(idx, np.where(np.abs(dense) <= pnl["zero_tol"], lo, dense), ls="none",
                    marker="o", ms=1.0, color=_style.BLACK, zorder=5)
            ax.set_yscale("log")
            ax.set_ylim(lo / 2, hi)
            ticks = [lo] + [10.0**e for e in range(int(np.log10(lo)) + 1, int(np.log10(hi)) + 1)]
            ax.yaxis.set_major_locator(FixedLocator(ticks))
            ax.set_yticklabels(["0"] + [f"$10^{{{int(np.log10(t))}}}$" for t in ticks[1:]])
            ax.yaxis.set_minor_locator(FixedLocator([]))
            ax.set_xlim(0, dense.size + 1)
            ax.set_xlabel("index $i$ (ascending)")
            name = _style.loss_style(pnl["loss"], alpha=pnl["alpha"])["label"]
            ax.set_title(name, fontsize=8)
            ax.text(0.03, 0.97, r"max $|\Delta\lambda|/\lambda_{\max}$" f" = {pnl['rel_err']:.0e}\n"
                    f"zeros: {pnl['zero_modes_dense']} (theory {pnl['zero_modes_expected']})",
                    transform=ax.transAxes, ha="left", va="top", fontsize=7)
            ax.grid(True, which="major", axis="y")
        axes[0, 0].set_ylabel(r"Hessian eigenvalue $\lambda_i$")
        handles = [Line2D([], [], color=palette[k], lw=5.0) for k, _ in GROUPS]
        labels = [lab for _, lab in GROUPS]
        handles.append(Line2D([], [], ls="none", marker="o", ms=2.5, color=_style.BLACK))
        labels.append("dense (autodiff)")
        handles.append(Line2D([], [], ls="none", marker="D", ms=4.2, color=_style.GREY,
                              mec=_style.BLACK, mew=0.4))
        labels.append(f"multiplicity ≤ {SMALL_MULTIPLICITY}")
        fig.suptitle(f"K={s['classes']}, n={s['per_class']}, d={s['dim']}, "
                     rf"$\lambda_W = \lambda_H$ = {s['lambda_w']:g}, "
                     rf"$\lambda_b$ = {s['lambda_b']:g} (theory.md c.2)" "\n"
                     "segments: closed-form families, length = multiplicity", fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=3)
        return _style.save(fig, out_dir, NAME)
