"""Condition numbers in closed form and numerically, the report, and the CLI (theory.md c.3)."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ufm.closed_form import closed_form, minimiser
from ufm.conditioning import (
    KAPPAS,
    REPORT_KEYS,
    closed_form_kappas,
    compare_ce_ls,
    hessian_report,
    kappa_features_numerical,
    kappa_logit_numerical,
    main,
)
from ufm.hessian import dense_hessian
from ufm.objective import Params
from ufm.spec import Problem
from ufm.spectrum import dense_spectrum

EXTRA_KEYS = {"closed_form", "spectrum_rel_err", "lambda_min", "status", "notes",
              "zero_mode_check", "method", "point_dtype", "labels"}

EPS = np.finfo(np.float64).eps


@given(
    K=st.integers(3, 30),
    n=st.integers(1, 50),
    lam=st.floats(1e-6, 1e-2),
    ratio=st.floats(0.1, 10.0),
    alpha=st.floats(0.0, 0.5),
)
def test_kappa_logit_identity(K, n, lam, ratio, alpha):
    """κ_logit = K p*, so κ_logit(LS) = κ_logit(CE) − (K−1)α (theory.md c.3), when both collapse."""
    base = Problem(K, n, K, loss="ce", lambda_w=lam, lambda_h=lam * ratio)
    ls = base.replace(loss="ls", alpha=alpha)
    if closed_form(ls).regime != "collapse":
        return
    ce_k, ls_k = closed_form_kappas(base)["kappa_logit"], closed_form_kappas(ls)["kappa_logit"]
    assert math.isclose(ce_k, K * closed_form(base).p_true, rel_tol=1e3 * EPS)
    assert abs(ls_k - (ce_k - (K - 1) * alpha)) <= 1e3 * EPS * ce_k
    assert ls_k <= ce_k


def test_reference_table_of_theory_c3():
    """K = d = 10, n = 5, λ_W = λ_H = λ_b = λ: κ_full values quoted in theory.md c.3 (3 digits)."""
    quoted = {1e-2: (11.7, {0.05: 11.4, 0.1: 11.2, 0.2: 10.9}),
              1e-3: (14.2, {0.05: 36.7, 0.1: 54.1, 0.2: 79.1}),
              1e-5: (23.0, {0.05: 2724, 0.1: 4649, 0.2: 7401})}
    for lam, (ce, ls) in quoted.items():
        p = Problem(10, 5, 10, loss="ce", lambda_w=lam, lambda_h=lam, lambda_b=lam)
        assert abs(closed_form_kappas(p)["kappa_full"] - ce) <= 0.051  # rounding of the quote
        for alpha, value in ls.items():
            got = closed_form_kappas(p.replace(loss="ls", alpha=alpha))["kappa_full"]
            assert abs(got - value) <= 0.5 * 10 ** (math.floor(math.log10(value)) - 2) + 1e-12


def test_kappa_scale_closed_form_for_equal_decays():
    """λ_W = λ_H: scale-block eigenvalues 2pqρ and 2λ, so κ_scale = p q Δ/β (theory.md c.3)."""
    for loss, alpha in (("ce", 0.0), ("ls", 0.1)):
        p = Problem(6, 4, 7, loss=loss, alpha=alpha, lambda_w=2e-3, lambda_h=2e-3)
        cf = closed_form(p)
        q = (1 - cf.p_true) / 5
        expected = cf.p_true * q * cf.margin / p.beta
        assert math.isclose(closed_form_kappas(p)["kappa_scale"], expected, rel_tol=1e3 * EPS)


@pytest.mark.parametrize(
    "loss,kw",
    [("ce", {}), ("ls", {"alpha": 0.2}), ("maxsup", {"alpha": 0.1}), ("fl", {"gamma": 2.0})],
)
@pytest.mark.parametrize(
    "d_extra,bias,lambda_b", [(0, True, 0.0), (2, False, 0.0), (1, True, 3e-3)]
)
def test_report_numerical_equals_closed_form(loss, kw, d_extra, bias, lambda_b):
    problem = Problem(4, 3, 3 + d_extra, loss=loss, lambda_w=4e-3, lambda_h=6e-3,
                      lambda_b=lambda_b, bias=bias, **kw)
    rep = hessian_report(problem, minimiser(problem))
    assert set(rep) == {*REPORT_KEYS, *EXTRA_KEYS}
    assert set(rep["closed_form"]) == {*REPORT_KEYS, "reason", "numerical_blocks"}
    assert rep["status"] == "ok" and rep["zero_mode_check"]["null"] is True
    assert rep["spectrum_rel_err"] <= 1e-10
    cf = rep["closed_form"]
    assert "theory.md c.2" in cf["reason"]
    if loss == "fl":  # the standard-irrep block is numerical, and the report says so
        assert cf["numerical_blocks"] and "numerically" in cf["reason"]
    else:
        assert cf["numerical_blocks"] == []
    assert rep["zero_modes"] == rep["zero_modes_expected"]
    assert rep["zero_modes"] == cf["zero_modes"] == cf["zero_modes_expected"]
    for key in ("lambda_max", "lambda_min_nonzero", *KAPPAS):
        assert math.isclose(rep[key], cf[key], rel_tol=1e-10), key
    json.dumps(rep)  # JSON-ready


def test_kappa_features_numerical_matches_the_dense_H_block():
    """The K×K per-sample reduction equals eigvalsh of the dense H-block, at a random point."""
    for d in (2, 4, 7):  # d < K, d = K, d > K
        problem = Problem(4, 2, d, loss="ls", alpha=0.1, lambda_w=3e-3, lambda_h=5e-3)
        rng = np.random.default_rng(d)
        p = Params(rng.standard_normal((4, d)), rng.standard_normal((d, 8)), rng.standard_normal(4))
        Hd = dense_hessian(problem, p)
        sl = slice(4 * d, 4 * d + d * 8)
        ev = np.linalg.eigvalsh(Hd[sl, sl])
        assert math.isclose(kappa_features_numerical(problem, p), ev[-1] / ev[0], rel_tol=1e-10)


def test_report_without_a_closed_form():
    """Imbalanced classes at a random (non-critical) point: no closed form, with the reason; the
    orbit is measured not null, so no λ_min⁺, κ_full or zero modes, only the raw λ_min."""
    problem = Problem(3, (2, 3, 2), 3, loss="ce", lambda_w=5e-3, lambda_h=5e-3)
    rng = np.random.default_rng(0)
    p = Params(rng.standard_normal((3, 3)), rng.standard_normal((3, 7)), np.zeros(3))
    rep = hessian_report(problem, p)
    assert rep["spectrum_rel_err"] is None
    cf = rep["closed_form"]
    assert all(cf[k] is None for k in REPORT_KEYS)
    assert "imbalanced" in cf["reason"]
    assert rep["lambda_max"] > 0
    assert rep["status"] == "orbit-not-null"
    assert rep["lambda_min_nonzero"] is None and rep["kappa_full"] is None
    assert rep["zero_modes"] is None and "tangent directions are null" in rep["notes"]["zero_modes"]
    assert rep["lambda_min"] == dense_spectrum(problem, p)[0]


def test_report_uses_the_labels_it_is_given():
    """Label noise (issue: --label-noise with --hessian used the clean labels): the Hessian is
    taken with the noisy labels, the point is a genuine minimiser of that problem, and the
    closed form is withheld with a reason."""
    from ufm.noise import flip_labels
    from ufm.solvers import minimize

    problem = Problem(4, 3, 5, loss="ce", lambda_w=5e-3, lambda_h=5e-3)
    y = flip_labels(problem.labels(), 4, 0.3, 0)
    result = minimize(problem, seed=0, labels=y)
    rep = hessian_report(problem, result.params, labels=y)
    ev = dense_spectrum(problem, result.params, labels=y)
    assert rep["labels"] == "custom" and rep["status"] == "ok"
    assert rep["lambda_max"] == ev[-1] and rep["lambda_min"] == ev[0]
    assert rep["lambda_min_nonzero"] > 0 and rep["zero_modes"] == rep["zero_modes_expected"]
    assert all(rep["closed_form"][k] is None for k in REPORT_KEYS)
    assert "label noise" in rep["closed_form"]["reason"] and rep["spectrum_rel_err"] is None
    clean = hessian_report(problem, result.params)  # the clean-label Hessian is another matrix
    assert clean["status"] == "orbit-not-null"


def test_report_at_a_float32_point():
    """The Hessian is float64 at the float32 point cast up: zero modes found at the √eps32
    threshold, and the spectrum matches the closed form to first order in the point's error."""
    from ufm.solvers import minimize

    problem = Problem(4, 3, 5, loss="ce", lambda_w=5e-3, lambda_h=5e-3)
    result = minimize(problem, seed=0, dtype="float32")
    rep = hessian_report(problem, result.params)
    eps32 = np.finfo(np.float32).eps
    assert rep["point_dtype"] == "float32" and rep["status"] == "ok"
    assert rep["zero_mode_check"]["tol"] == pytest.approx(np.sqrt(eps32))
    assert rep["zero_modes"] == rep["zero_modes_expected"] == 9
    assert rep["spectrum_rel_err"] <= np.sqrt(eps32)


def test_zero_regime_report():
    """Kβ ≥ 1 (W* = H* = 0): κ_scale is None numerically as in closed form (relative threshold,
    not == 0), the rest matches the origin spectrum; MaxSup there sits on a tie of max z, where
    the Hessian does not exist, so everything is None with the reason."""
    from ufm.solvers import minimize

    problem = Problem(4, 3, 5, loss="ce", lambda_w=0.16, lambda_h=0.16)
    result = minimize(problem, seed=0)
    assert np.abs(result.params.W).max() > 0  # numerically tiny, not exactly zero
    rep = hessian_report(problem, result.params)
    assert rep["kappa_scale"] is None and rep["closed_form"]["kappa_scale"] is None
    assert "zero regime" in rep["notes"]["kappa_scale"]
    assert "zero regime" in rep["closed_form"]["reason"]
    assert rep["spectrum_rel_err"] <= 1e-10
    maxsup = Problem(4, 3, 4, loss="maxsup", alpha=0.1, lambda_w=0.3, lambda_h=0.3)
    rep = hessian_report(maxsup, minimize(maxsup, seed=0).params)
    assert rep["status"] == "undefined"
    assert all(rep[k] is None for k in REPORT_KEYS)
    assert "tie" in rep["notes"]["lambda_max"]
    assert "smooth at z = 0" in rep["closed_form"]["reason"]


def test_nonnegative_features_report_no_unconstrained_spectrum():
    """H ≥ 0 (b.7): the full-Hessian quantities are None with the reason (the unconstrained
    Hessian, with a negative eigenvalue here, is not the constrained problem's object); κ_logit,
    κ_scale (feasible rescaling) and κ_features are still reported."""
    problem = Problem(6, 4, 8, loss="ce", lambda_b=0.0, features="nonnegative")
    rep = hessian_report(problem, minimiser(problem))
    assert rep["status"] == "unsupported"
    for key in ("lambda_max", "lambda_min_nonzero", "zero_modes", "kappa_full"):
        assert rep[key] is None and "nonnegative" in rep["notes"][key]
    assert rep["kappa_logit"] > 1 and rep["kappa_scale"] > 1 and rep["kappa_features"] > 1
    assert "nonnegative" in rep["closed_form"]["reason"]


def test_mse_report_gives_the_b6_zero_count():
    problem = Problem(4, 3, 6, loss="mse", lambda_w=5e-3, lambda_h=5e-3, lambda_b=0.5)
    rep = hessian_report(problem, minimiser(problem))
    assert rep["zero_modes"] == rep["zero_modes_expected"] == rep["closed_form"][
        "zero_modes_expected"] == 4 * 6 - 10  # rank K = 4 (ETF + mean part)
    assert rep["closed_form"]["lambda_max"] is None and "mse" in rep["closed_form"]["reason"]


@pytest.mark.parametrize(
    "K,n,lam,alpha", [(3, 2, 1e-3, 0.1), (5, 4, 3e-4, 0.3), (10, 2, 1e-4, 0.05)]
)
def test_kappa_logit_identity_numerically(K, n, lam, alpha):
    """κ_logit(LS) = κ_logit(CE) − (K−1)α from autodiff logit Hessians at the two minimisers.

    Tolerance: forming p(1 − p) with p ≈ p* costs relative eps/(1 − p*) (cancellation).
    """
    ce = Problem(K, n, K, loss="ce", lambda_w=lam, lambda_h=lam)
    ls = ce.replace(loss="ls", alpha=alpha)
    k_ce = kappa_logit_numerical(ce, minimiser(ce))
    k_ls = kappa_logit_numerical(ls, minimiser(ls))
    tol = 64 * EPS / (1 - closed_form(ce).p_true)
    assert abs(k_ls - (k_ce - (K - 1) * alpha)) <= tol * k_ce
    assert abs(k_ce - K * closed_form(ce).p_true) <= tol * k_ce


def test_claim_verdicts_follow_theory_c3():
    small = compare_ce_ls(Problem(10, 5, 10, lambda_w=1e-5, lambda_h=1e-5, lambda_b=1e-5), 0.1)
    assert small["ls_lower"] == {"kappa_full": False, "kappa_logit": True, "kappa_scale": False,
                                 "kappa_features": False}
    large = compare_ce_ls(Problem(10, 5, 10, lambda_w=1e-2, lambda_h=1e-2, lambda_b=1e-2), 0.1)
    assert large["ls_lower"]["kappa_full"] is True and large["ls_lower"]["kappa_logit"] is True
    zero = compare_ce_ls(Problem(10, 5, 10, lambda_w=1e-2, lambda_h=1e-2, lambda_b=1e-2), 0.9)
    assert zero["ls"] is None and set(zero["ls_lower"].values()) == {None}


# ------------------------------------------------------------------------------------ CLI
def test_cli_single(capsys, tmp_path):
    path = tmp_path / "one.json"
    code = main(["--classes", "10", "--per-class", "5", "--dim", "10", "--lambda", "1e-3",
                 "--alpha", "0.1", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "kappa_full" in out and "LS lower?" in out and "theory.md c.2" in out
    rec = json.loads(path.read_text())
    assert rec["ls_lower"]["kappa_logit"] is True
    assert math.isclose(rec["ce"]["kappa_full"], 14.2, abs_tol=0.051)


def test_cli_grid_writes_a_table_and_json(capsys, tmp_path):
    path = tmp_path / "grid.json"
    code = main(["--grid", "--classes", "4", "--per-class", "3", "--dim", "4",
                 "--lambdas", "1e-5,1e-3,3e-2", "--alphas", "0.05,0.5", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    rec = json.loads(path.read_text())
    assert len(rec["cases"]) == 6
    assert rec["summary"]["kappa_logit"]["holds"] == rec["summary"]["kappa_logit"]["cases"] > 0
    assert "where LS has the lower κ" in out


@pytest.mark.parametrize("argv,fragment", [
    (["--lambda-w", "-1"], "error: --lambda-w -1.0: expected a finite number > 0"),
    (["--classes", "1"], "error: --classes 1: expected an integer K >= 2"),
    (["--alpha", "1.5"], "error: --alpha 1.5: expected a number in (0, 1)"),
    (["--classes", "5", "--dim", "2"], "error: --dim 2: expected an integer d >= K-1 = 4"),
    (["--per-class", "x"], "error: --per-class 'x': expected comma-separated integers"),
    (["--classes", "3,4"], "error: --classes 3,4: a list needs --grid"),
    (["--grid", "--lambdas", ""], "error: --lambdas '': expected a non-empty comma-separated"),
    (["--grid", "--alphas", "0.1,,0.2"], "error: --alphas '0.1,,0.2': expected a non-empty"),
    (["--grid", "--ratio", "-1"], "error: --ratio -1: expected finite numbers > 0"),
    (["--grid", "--lambda-w", "1e-3"], "error: --lambda-w 0.001: not used with --grid"),
    (["--grid", "--lambda", "1e-3"], "error: --lambda 0.001: not used with --grid"),
    (["--grid", "--classes", "10", "--dim", "5"], "error: --dim 5: gives d = 5 for K = 10"),
    (["--grid", "--dim", "K-2"], "error: --dim K-2: gives d = 8 for K = 10"),
    (["--json", "/nonexistent/x.json"], "error: --json /nonexistent/x.json: expected a writable"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.strip() == err.strip().splitlines()[0]
    assert err.startswith(fragment)
    assert captured.out == ""  # rejected before any computation or output


def test_cli_grid_honours_lambda_b_and_varies_shapes(tmp_path):
    """--lambda-b is kept fixed across the grid (it used to be overwritten by λ); K, d (also as
    K-relative tokens) and n are lists."""
    path = tmp_path / "grid.json"
    code = main(["--grid", "--classes", "3,4", "--dim", "K-1,2K", "--per-class", "1,5",
                 "--lambdas", "1e-3,1e-2", "--alphas", "0.1", "--lambda-b", "0", "--no-table",
                 "--json", str(path)])
    assert code == 0
    rec = json.loads(path.read_text())
    assert len(rec["cases"]) == 2 * 2 * 2 * 2
    assert {c["lambda_b"] for c in rec["cases"]} == {0.0}
    assert {(c["classes"], c["dim"]) for c in rec["cases"]} == {(3, 2), (3, 6), (4, 3), (4, 8)}
    shapes = rec["summary"]["kappa_logit"]["by_shape"]
    assert sum(s["cases"] for s in shapes) == rec["summary"]["kappa_logit"]["cases"]


def test_cli_subprocess_bad_input_is_exactly_one_stderr_line():
    """No runpy RuntimeWarning (ufm/__init__ no longer imports the CLI module), no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.run([sys.executable, "-m", "ufm.conditioning", "--grid", "--lambdas", ""],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: --lambdas '': expected a non-empty "
                                        "comma-separated list"], proc.stderr
    assert proc.stdout == ""


def _grid_record(tmp_path, K, n, d):
    path = tmp_path / f"g{K}_{n}_{d}.json"
    assert main(["--grid", "--classes", str(K), "--per-class", str(n), "--dim", str(d),
                 "--no-table", "--json", str(path)]) == 0
    return json.loads(path.read_text())


def _holds(rec, kappa):
    return sorted((c["lambda"], c["alpha"]) for c in rec["cases"] if c["ls_lower"][kappa])


def test_grid_statements_of_the_module_docstring(tmp_path):
    """The ufm.conditioning findings at K = 10 (d = 10 and d = K−1), the paper size and K = 2."""
    a5 = (0.01, 0.05, 0.1, 0.2, 0.5)
    rec = _grid_record(tmp_path, 10, 5, 10)
    assert _holds(rec, "kappa_full") == [(1e-2, a) for a in a5]
    assert _holds(rec, "kappa_scale") == [(1e-2, 0.5)]
    assert _holds(rec, "kappa_features") == [(1e-2, 0.5)] + [(3e-2, a) for a in a5[:4]]
    assert rec["summary"]["kappa_logit"]["holds"] == rec["summary"]["kappa_logit"]["cases"] == 39
    rec = _grid_record(tmp_path, 10, 5, 9)  # d = K−1: κ_features → K p* as λ → 0
    assert {(1e-6, 0.5), (1e-5, 0.5)} <= set(_holds(rec, "kappa_features"))
    rec = _grid_record(tmp_path, 10, 500, 512)  # paper size
    assert _holds(rec, "kappa_full") == []
    assert _holds(rec, "kappa_scale") == [(1e-3, 0.5)]
    assert _holds(rec, "kappa_features") == [(1e-3, 0.5)] + [(3e-3, a) for a in a5[:4]]
    rec = _grid_record(tmp_path, 2, 5, 2)  # K = 2: κ_logit = 1 for both, so never lower
    both = [c for c in rec["cases"] if c["ls"] is not None]
    assert both and all(c["ce"]["kappa_logit"] == c["ls"]["kappa_logit"] == 1.0 for c in both)
    assert _holds(rec, "kappa_logit") == []
