"""Condition numbers in closed form and numerically, the report, and the CLI (theory.md c.3)."""

import json
import math

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
    main,
)
from ufm.hessian import dense_hessian
from ufm.objective import Params
from ufm.spec import Problem

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
    assert set(rep) == {*REPORT_KEYS, "closed_form", "spectrum_rel_err"}
    assert set(rep["closed_form"]) == set(REPORT_KEYS)
    assert rep["spectrum_rel_err"] <= 1e-10
    cf = rep["closed_form"]
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
    problem = Problem(3, (2, 3, 2), 3, loss="ce", lambda_w=5e-3, lambda_h=5e-3)
    rng = np.random.default_rng(0)
    p = Params(rng.standard_normal((3, 3)), rng.standard_normal((3, 7)), np.zeros(3))
    rep = hessian_report(problem, p)
    assert rep["spectrum_rel_err"] is None
    assert all(v is None for v in rep["closed_form"].values())
    assert rep["lambda_max"] > 0


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
    (["--per-class", "x"], "error: argument --per-class: invalid int value: 'x'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == err.strip().splitlines()[0]
    assert err.startswith(fragment)
