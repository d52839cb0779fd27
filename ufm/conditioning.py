"""Condition numbers of the UFM at its minimiser; Guo et al.'s claim checked (theory.md c.3).

Guo et al. (arXiv 2402.03979) state that label smoothing has a lower condition number than
cross-entropy at the UFM minimiser. Their definition was not available (theory.md c.1), so ufm
computes four, each in closed form (theory.md c.2 spectrum) and numerically (HVPs / autodiff):

``kappa_full``
    λ_max / λ_min⁺ of the full Hessian in θ = (W, H, b), after removing exactly the
    (K−1)d − K(K−1)/2 (+1 with a bias and λ_b = 0) symmetry zeros. Numerically: dense eigvalsh
    or Lanczos on the deflated HVP operator (:func:`ufm.spectrum.extreme_eigenvalues`).
``kappa_logit``
    condition number of the per-sample logit Hessian ∇²_z ℓ on 1^⊥ at the minimiser:
    σ_t/σ_o = K p* for CE and LS, hence κ_logit(LS) = κ_logit(CE) − (K−1)α (K ≥ 3; for K = 2
    the restriction is 1×1 and κ = 1). Numerically: autodiff logit Hessians of every sample,
    the worst one.
``kappa_scale``
    the trivial-irrep 2×2 block: the directions that rescale (W, H) along the NC manifold,
    δθ ∈ span{(W, 0, 0), (0, H, 0)}. Numerically: the 2×2 compression by two HVPs. Undefined
    (None) in the zero regime (W = H = 0).
``kappa_features``
    κ_H|W: the Hessian in H with W frozen at W*, eigenvalues λ_H + σ_tρ_H/K, λ_H + σ_oρ_H/K
    (K ≥ 3) and λ_H (d ≥ K). Numerically exact at any point: the H-block is block diagonal
    over samples, λ_H I + (1/N) Wᵀ∇²ℓ(z_i)W, whose non-trivial eigenvalues are those of the
    K×K matrix (WWᵀ)^{1/2} ∇²ℓ(z_i) (WWᵀ)^{1/2} / N.

Finding (theory.md c.3, reproduced by ``python -m ufm.conditioning --grid``): κ_logit is always
lower for LS; κ_full, κ_scale and κ_features are lower for LS only at large weight decay.

Command line::

    python -m ufm.conditioning --classes 10 --per-class 5 --dim 10 --lambda 1e-3 --alpha 0.1
    python -m ufm.conditioning --grid --classes 10 --per-class 5 --dim 10 --json grid.json
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ufm.hessian import expected_zero_modes, hessian_vector_product, minimiser_rank
from ufm.losses import per_sample_loss
from ufm.objective import Params, logits
from ufm.spec import Problem, ProblemError

KAPPAS = ("kappa_full", "kappa_logit", "kappa_scale", "kappa_features")
REPORT_KEYS = (
    "lambda_max",
    "lambda_min_nonzero",
    "zero_modes",
    "zero_modes_expected",
    *KAPPAS,
)
DEFINITIONS = {
    "kappa_full": "λ_max/λ_min⁺ of the Hessian in (W, H, b), symmetry zeros removed "
    "(theory.md c.3)",
    "kappa_logit": "cond. number of the per-sample logit Hessian on 1^⊥ = K p* for CE/LS "
    "(theory.md c.3)",
    "kappa_scale": "cond. number of the 2×2 (W, H)-rescaling block, the trivial irrep "
    "(theory.md c.2–c.3)",
    "kappa_features": "cond. number of the Hessian in H with W frozen at W*, κ_H|W "
    "(theory.md c.3)",
}


def _ratio(hi: float, lo: float) -> float:
    return hi / lo if lo > 0 else float("inf")


# ------------------------------------------------------------------------ closed form
def closed_form_kappas(problem: Problem) -> dict[str, Any]:
    """The :data:`REPORT_KEYS` at the closed-form minimiser, from theory.md c.2–c.3.

    Raises:
        ufm.spectrum.ClosedFormUnavailable: when theory.md c.2 does not cover the problem.
    """
    from ufm.spectrum import _ingredients, closed_form_extremes, closed_form_spectrum

    g, regime = _ingredients(problem)
    ext = closed_form_extremes(problem)
    out: dict[str, Any] = dict(ext)
    out["zero_modes_expected"] = expected_zero_modes(problem)
    out["kappa_full"] = _ratio(ext["lambda_max"], ext["lambda_min_nonzero"])
    logit = [g.sigma_t] + ([g.sigma_o] if g.K >= 3 else [])
    out["kappa_logit"] = _ratio(max(logit), min(logit))
    if regime == "zero":
        out["kappa_scale"] = None
        out["kappa_features"] = 1.0
    else:
        fams = closed_form_spectrum(problem)
        scale = [f.eigenvalue for f in fams if f.family.startswith("trivial, scale")]
        out["kappa_scale"] = _ratio(max(scale), min(scale))
        rh = g.margin * math.sqrt(g.lh / (g.n * g.lw))
        feats = [g.lh + g.sigma_t * rh / g.K]
        if g.K >= 3:
            feats.append(g.lh + g.sigma_o * rh / g.K)
        if g.d >= g.K:
            feats.append(g.lh)
        out["kappa_features"] = _ratio(max(feats), min(feats))
    return {k: out[k] for k in REPORT_KEYS}


# -------------------------------------------------------------------------- numerical
@functools.partial(jax.jit, static_argnames=("loss",))
def _logit_hessians(Z: jax.Array, labels: jax.Array, hyper: Any, loss: str) -> jax.Array:
    def one(z: jax.Array, y: jax.Array) -> jax.Array:
        return per_sample_loss(loss, z[:, None], y[None], hyper)[0]

    return jax.vmap(jax.hessian(one))(Z.T, labels)


def logit_hessians(problem: Problem, params: Params) -> np.ndarray:
    """∇²_z ℓ(z_i, y_i) for every sample, by autodiff, shape [N, K, K] (float64)."""
    Z = logits(Params(*(jnp.asarray(a, jnp.float64) for a in params)))
    labels = jnp.asarray(problem.labels())
    return np.asarray(_logit_hessians(Z, labels, problem.hyper(np.float64), problem.loss))


def _centred_basis(K: int) -> np.ndarray:
    """An orthonormal basis of 1^⊥ ⊂ R^K, [K, K−1]."""
    q, _ = np.linalg.qr(np.eye(K)[:, :-1] - 1.0 / K)
    return q


def kappa_logit_numerical(problem: Problem, params: Params) -> float:
    """max over samples of cond(Eᵀ ∇²ℓ(z_i) E), E an orthonormal basis of 1^⊥."""
    S = logit_hessians(problem, params)
    E = _centred_basis(problem.K)
    ev = np.linalg.eigvalsh(np.einsum("ka,nkl,lb->nab", E, S, E))
    return float(np.max([_ratio(e[-1], e[0]) for e in ev]))


def kappa_features_numerical(problem: Problem, params: Params) -> float:
    """cond of ∇²_H f (W frozen) at ``params``, exactly, via K×K per-sample reductions."""
    W = np.asarray(params.W, dtype=np.float64)
    K, d, N = problem.K, problem.d, problem.N
    S = logit_hessians(problem, params)
    w, V = np.linalg.eigh(W @ W.T)
    R = (V * np.sqrt(np.maximum(w, 0.0))) @ V.T
    ev = np.linalg.eigvalsh(np.einsum("ab,nbc,cd->nad", R, S, R)) / N  # [N, K] ascending
    if d < K:  # Wᵀ S W (d×d) has the K×K eigenvalues minus K−d (structural) zeros
        order = np.argsort(np.abs(ev), axis=1)[:, K - d :]
        ev = np.take_along_axis(ev, order, axis=1)
    vals = problem.lambda_h + ev
    lo, hi = float(vals.min()), float(vals.max())
    if d > K:  # the d−K directions orthogonal to the rows of W: exactly λ_H
        lo, hi = min(lo, problem.lambda_h), max(hi, problem.lambda_h)
    return _ratio(hi, lo)


def kappa_scale_numerical(problem: Problem, params: Params) -> float | None:
    """cond of the Hessian compressed onto span{(W, 0, 0), (0, H, 0)} (two HVPs).

    None when W or H is 0 (the zero regime: no rescaling direction).
    """
    W, H, b = (jnp.asarray(a, jnp.float64) for a in params)
    nw, nh = float(jnp.linalg.norm(W)), float(jnp.linalg.norm(H))
    if nw == 0 or nh == 0:
        return None
    t1 = Params(W / nw, jnp.zeros_like(H), jnp.zeros_like(b))
    t2 = Params(jnp.zeros_like(W), H / nh, jnp.zeros_like(b))
    hyper = problem.hyper(np.float64)
    labels = jnp.asarray(problem.labels())
    point = Params(W, H, b)
    h1 = hessian_vector_product(point, t1, hyper, labels, problem.loss)
    h2 = hessian_vector_product(point, t2, hyper, labels, problem.loss)
    a, c = float(jnp.vdot(h1.W, t1.W)), float(jnp.vdot(h2.H, t2.H))
    bb = 0.5 * (float(jnp.vdot(h1.H, t2.H)) + float(jnp.vdot(h2.W, t1.W)))
    ev = np.linalg.eigvalsh(np.array([[a, bb], [bb, c]]))
    return _ratio(float(ev[1]), float(ev[0]))


def hessian_report(
    problem: Problem,
    params: Params,
    *,
    method: str = "auto",
    rank: int | None = None,
    tol: float = 1e-10,
) -> dict[str, Any]:
    """The ``hessian`` object of ``python -m ufm.solve --hessian`` (issue 3, item 5).

    Keys: ``lambda_max``, ``lambda_min_nonzero``, ``zero_modes``, ``zero_modes_expected``,
    ``kappa_full``, ``kappa_logit``, ``kappa_scale``, ``kappa_features`` (numerical, at
    ``params``); ``closed_form`` (the same eight keys at the closed-form minimiser, all None when
    theory.md c.2 does not apply); ``spectrum_rel_err``.

    * Numerical λ's: :func:`ufm.spectrum.extreme_eigenvalues` (dense eigvalsh for P ≤ 3000, else
      Lanczos on HVPs), λ_min⁺ after deflating the orbit tangent space. ``zero_modes`` is the
      count of |λ| ≤ √eps·λ_max (dense) or the dimension of the deflated space (Lanczos).
    * ``rank`` (dim span of W rows and H columns) for the deflation defaults to the minimiser's
      (K−1 in the collapse regime) when theory.md b applies, else the numerical rank.
    * ``spectrum_rel_err``: dense: max_i |λ_i − λ_i^cf| / λ_max^cf over the whole sorted spectrum;
      Lanczos: the larger relative error of λ_max and λ_min⁺. None without a closed form.
    * The κ definitions are in this module's docstring (:data:`DEFINITIONS`).

    Args:
        problem: the UFM instance.
        params: the point, normally a (numerical) minimiser.
        method: ``auto``, ``dense``, ``lanczos`` or ``eigsh``.
        rank: see above.
        tol: Lanczos relative residual tolerance.
    """
    from ufm.spectrum import (
        ClosedFormUnavailable,
        closed_form_spectrum,
        dense_spectrum,
        expand,
        extreme_eigenvalues,
    )

    if rank is None:
        rank = minimiser_rank(problem)
    ext = extreme_eigenvalues(problem, params, method=method, rank=rank, tol=tol)
    num: dict[str, Any] = {
        "lambda_max": ext.lambda_max,
        "lambda_min_nonzero": ext.lambda_min_nonzero,
        "zero_modes": ext.zero_modes,
        "zero_modes_expected": expected_zero_modes(problem, rank),
        "kappa_full": _ratio(ext.lambda_max, ext.lambda_min_nonzero),
        "kappa_logit": kappa_logit_numerical(problem, params),
        "kappa_scale": kappa_scale_numerical(problem, params),
        "kappa_features": kappa_features_numerical(problem, params),
    }
    try:
        cf: dict[str, Any] | None = closed_form_kappas(problem)
    except ClosedFormUnavailable:
        cf = None
    rel: float | None = None
    if cf is not None:
        if ext.method == "dense":
            ev, ref = dense_spectrum(problem, params), expand(closed_form_spectrum(problem))
            rel = float(np.max(np.abs(ev - ref)) / abs(cf["lambda_max"]))
        else:
            rel = max(
                abs(ext.lambda_max / cf["lambda_max"] - 1),
                abs(ext.lambda_min_nonzero / cf["lambda_min_nonzero"] - 1),
            )
    out = {k: _jsonable(num[k]) for k in REPORT_KEYS}
    out["closed_form"] = {k: _jsonable(cf[k]) if cf else None for k in REPORT_KEYS}
    out["spectrum_rel_err"] = rel
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x)
    return x


# ------------------------------------------------------------------------- the claim
def compare_ce_ls(problem: Problem, alpha: float) -> dict[str, Any]:
    """κ(CE) and κ(LS with α) in closed form for ``problem``'s sizes and λ's, per definition.

    Returns:
        ``{"ce": {...}, "ls": {...}, "ls_lower": {kappa: bool | None}}``; ``ls`` is None when
        LS is in the zero regime (Kβ + α ≥ 1), and a definition's verdict is None when either
        value is undefined.
    """
    from ufm.spectrum import ClosedFormUnavailable

    ce = closed_form_kappas(problem.replace(loss="ce", alpha=0.0))
    try:
        ls_problem = problem.replace(loss="ls", alpha=alpha)
        ls = closed_form_kappas(ls_problem)
        from ufm.closed_form import closed_form

        if closed_form(ls_problem).regime == "zero":
            ls = None
    except ClosedFormUnavailable:
        ls = None
    verdict: dict[str, bool | None] = {}
    for k in KAPPAS:
        a, b = ce[k], None if ls is None else ls[k]
        verdict[k] = None if a is None or b is None else bool(b < a)
    return {"ce": ce, "ls": ls, "ls_lower": verdict}


# ------------------------------------------------------------------------------ CLI
FLAGS = {
    "classes": "--classes", "per_class": "--per-class", "dim": "--dim",
    "lambda_w": "--lambda-w", "lambda_h": "--lambda-h", "lambda_b": "--lambda-b",
    "alpha": "--alpha", "bias": "--no-bias",
}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise _UsageError(message)


def _number_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers") from None


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m ufm.conditioning``."""
    p = _Parser(
        prog="python -m ufm.conditioning",
        description="κ(CE) vs κ(LS) at the UFM minimiser for four definitions (theory.md c.3).",
    )
    p.add_argument("--classes", type=int, default=10, help="K >= 2")
    p.add_argument("--per-class", type=int, default=5, help="samples per class n >= 1")
    p.add_argument("--dim", type=int, default=10, help="feature dimension d >= K-1")
    p.add_argument("--lambda", dest="lam", type=float, default=None,
                   help="set λ_W = λ_H = λ_b at once (overridden by the specific flags)")
    p.add_argument("--lambda-w", type=float, default=None, help="λ_W > 0 (default 5e-4)")
    p.add_argument("--lambda-h", type=float, default=None, help="λ_H > 0 (default 5e-4)")
    p.add_argument("--lambda-b", type=float, default=None, help="λ_b >= 0 (default 5e-4)")
    p.add_argument("--no-bias", action="store_true", help="classifier without bias")
    p.add_argument("--alpha", type=float, default=0.1, help="LS smoothing α in (0, 1)")
    p.add_argument("--numeric", action="store_true",
                   help="also compute every κ numerically at the closed-form minimiser")
    p.add_argument("--grid", action="store_true",
                   help="sweep λ (= λ_W = λ_b; λ_H = --ratio·λ) and α; print a table")
    p.add_argument("--lambdas", type=_number_list, help="grid λ values",
                   default=[1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1])
    p.add_argument("--alphas", type=_number_list, default=[0.01, 0.05, 0.1, 0.2, 0.5],
                   help="grid α values")
    p.add_argument("--ratio", type=float, default=1.0, help="grid: λ_H = ratio·λ (λ_W = λ_b = λ)")
    p.add_argument("--json", metavar="PATH", default=None, help="write the results as JSON")
    return p


def _problem(args: argparse.Namespace, lam: float | None = None, alpha: float = 0.0) -> Problem:
    base = 5e-4 if args.lam is None else args.lam
    lw = args.lambda_w if args.lambda_w is not None else base
    lh = args.lambda_h if args.lambda_h is not None else base
    lb = args.lambda_b if args.lambda_b is not None else base
    if lam is not None:
        lw, lh, lb = lam, lam * args.ratio, lam
    K, d = args.classes, args.dim
    if isinstance(d, int) and isinstance(K, int) and 1 <= d < K - 1:
        raise ProblemError("dim", d, f"an integer d >= K-1 = {K - 1} (theory.md c.2)")
    return Problem(
        classes=args.classes, per_class=args.per_class, dim=args.dim, loss="ce",
        lambda_w=lw, lambda_h=lh, lambda_b=lb, bias=not args.no_bias, alpha=alpha,
    )


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.6g}"


def _verdict(v: bool | None) -> str:
    return {True: "yes", False: "no", None: "n/a"}[v]


def _single(args: argparse.Namespace, out) -> dict[str, Any]:
    from ufm.closed_form import closed_form

    problem = _problem(args)
    if not 0 < args.alpha < 1:
        raise ProblemError("alpha", args.alpha, "a number in (0, 1)")
    res = compare_ce_ls(problem, args.alpha)
    ls_problem = problem.replace(loss="ls", alpha=args.alpha)
    print(
        f"UFM K={problem.K} n={problem.n} d={problem.d} λ_W={problem.lambda_w:g} "
        f"λ_H={problem.lambda_h:g} λ_b={problem.lambda_b:g} bias={'on' if problem.bias else 'off'} "
        f"β={problem.beta:.4g}; LS α={args.alpha:g} (MaxSup = LS at the minimiser, theory.md b.4)",
        file=out,
    )
    cf_ce, cf_ls = closed_form(problem), closed_form(ls_problem)
    print(f"CE: {cf_ce.regime}, Δ*={cf_ce.margin:.6g}, p*={cf_ce.p_true:.6g}   "
          f"LS: {cf_ls.regime}, Δ*={cf_ls.margin:.6g}, p*={cf_ls.p_true:.6g}", file=out)
    numeric = {}
    if args.numeric:
        from ufm.closed_form import minimiser
        from ufm.precision import x64

        with x64():
            for name, pr in (("ce", problem), ("ls", ls_problem)):
                if closed_form(pr).regime == "collapse":
                    numeric[name] = hessian_report(pr, minimiser(pr))
    print(f"\n{'definition':<16}{'κ(CE)':>14}{'κ(LS)':>14}  LS lower?", file=out)
    for k in KAPPAS:
        ce = res["ce"][k]
        ls = None if res["ls"] is None else res["ls"][k]
        print(f"{k:<16}{_fmt(ce):>14}{_fmt(ls):>14}  {_verdict(res['ls_lower'][k])}", file=out)
        if numeric:
            nce = numeric.get("ce", {}).get(k)
            nls = numeric.get("ls", {}).get(k)
            print(f"{'  numerical':<16}{_fmt(nce):>14}{_fmt(nls):>14}", file=out)
    note = "; 'numerical' rows: Hessian at the closed-form point (dense or Lanczos)"
    print("\nsource: closed form at the ETF minimiser (theory.md c.2)" + (note if numeric else ""),
          file=out)
    for k in KAPPAS:
        print(f"  {k}: {DEFINITIONS[k]}", file=out)
    record = {"problem": problem.to_dict(), "alpha": args.alpha, **res, "definitions": DEFINITIONS}
    if numeric:
        record["numerical"] = numeric
    return record


def _grid(args: argparse.Namespace, out) -> dict[str, Any]:
    for a in args.alphas:
        if not 0 < a < 1:
            raise ProblemError("alpha", a, "grid values in (0, 1)")
    cases = []
    cols = (f"{k[6:] + '(CE)':>13} {k[6:] + '(LS)':>13} {'LS<':>4}" for k in KAPPAS)
    header = f"{'λ':>9} {'α':>6} " + " ".join(cols)
    print(header, file=out)
    for lam in args.lambdas:
        problem = _problem(args, lam)
        for alpha in args.alphas:
            from ufm.closed_form import closed_form

            if closed_form(problem).regime != "collapse":
                res = {"ce": None, "ls": None, "ls_lower": {k: None for k in KAPPAS}}
            else:
                res = compare_ce_ls(problem, alpha)
            cases.append({"lambda": lam, "lambda_h": problem.lambda_h, "alpha": alpha,
                          "beta": problem.beta, **res})
            cells = []
            for k in KAPPAS:
                ce = None if res["ce"] is None else res["ce"][k]
                ls = None if res["ls"] is None else res["ls"][k]
                cells.append(f"{_fmt(ce):>13} {_fmt(ls):>13} {_verdict(res['ls_lower'][k]):>4}")
            print(f"{lam:>9.3g} {alpha:>6.3g} " + " ".join(cells), file=out)
    summary = {}
    print("\nwhere LS has the lower κ (cases with both losses in the collapse regime):", file=out)
    for k in KAPPAS:
        valid = [c for c in cases if c["ls_lower"][k] is not None]
        holds = [c for c in valid if c["ls_lower"][k]]
        lams = sorted({c["lambda"] for c in holds})
        summary[k] = {"holds": len(holds), "cases": len(valid),
                      "lambdas_where_it_holds": lams}
        where = f"λ ∈ {{{', '.join(f'{x:g}' for x in lams)}}}" if lams else "nowhere"
        print(f"  {k:<15} {len(holds):>4} of {len(valid):<4} ({where})", file=out)
    print("  n/a: CE or LS in the zero regime (W = H = 0); source: closed form (theory.md c.2–c.3)",
          file=out)
    base = _problem(args, args.lambdas[0]).to_dict()
    return {"problem": base, "grid": {"lambdas": args.lambdas, "alphas": args.alphas,
                                      "ratio": args.ratio},
            "definitions": DEFINITIONS, "cases": cases, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ufm.conditioning``; the exit status (0 ok, 2 bad input)."""
    from ufm.precision import x64
    from ufm.spectrum import ClosedFormUnavailable

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with x64():
            record = _grid(args, sys.stdout) if args.grid else _single(args, sys.stdout)
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ProblemError as e:
        flag = FLAGS.get(e.field, "--" + e.field.replace("_", "-"))
        print(f"error: {flag} {e.value!r}: expected {e.expected}", file=sys.stderr)
        return 2
    except ClosedFormUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1, default=_jsonable)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
