"""``python -m ufm.figures``: the CLI, the progress bar, and every quick figure against the theory.

Fast tests (default suite): command-line errors, the progress bar, the registry, no matplotlib at
import, and one cheap figure (phase_diagram) end to end through the CLI.

Slow tests (``-m slow``, run by CI): every quick figure once, in one process (``make``), then per
figure: the PNG, PDF and JSON are written and non-empty, the JSON has the keys its plot reads,
and the data agree with the closed form (theory.md b, c) within tolerances derived from float64's
eps: objective eps^(2/3) (the solver's stopping rule, ufm.verify), Grams/norms/margins eps^(1/3),
Hessian spectra a small multiple of P·eps.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from reference import C2_WORKED_EXAMPLE as C2_EXAMPLE  # theory.md c.2

from ufm.closed_form import closed_form
from ufm.figures import FIGURES, _progress, available, load, make
from ufm.figures.__main__ import main
from ufm.spec import Problem

EPS = float(np.finfo(np.float64).eps)
OBJ_TOL = EPS ** (2 / 3)  # ufm.verify.Tolerances: objective
GRAM_TOL = EPS ** (1 / 3)  # ufm.verify.Tolerances: Grams, logits (and so norms, margins)
CORE = ("closed_form_vs_solver", "agreement", "phase_diagram", "dynamics", "nc2_vs_nc1",
        "conditioning", "spectrum")


def rel(x: float, ref: float) -> float:
    return abs(x - ref) / abs(ref) if ref != 0 else abs(x)


# ------------------------------------------------------------------------------ fast: CLI
def test_unknown_figure_is_a_one_line_error_with_exit_2(capsys):
    assert main(["--only", "no_such_figure", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: --only no_such_figure: expected one of closed_form_vs_solver")


def test_bad_flag_and_bad_out_are_usage_errors(tmp_path, capsys):
    assert main(["--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert main(["--only", "phase_diagram", "--out", str(afile)]) == 2
    assert "expected a directory" in capsys.readouterr().err
    assert main(["--seed", "-1", "--only", "phase_diagram"]) == 2


def test_registry_lists_every_core_figure_with_its_interface():
    names = available()
    assert set(CORE) <= set(names) and set(names) <= set(FIGURES)
    for name in names:
        module = load(name)
        assert module.NAME == name and callable(module.experiment) and callable(module.plot)
        assert "versions" in module.KEYS and "settings" in module.KEYS
    with pytest.raises(ValueError, match="figure 'nope': expected one of"):
        load("nope")


def test_progress_bar_text_and_silence_by_default(capsys):
    assert _progress.bar(3, 12, "fig", 1.25, width=12) == "fig [###---------] 3/12    1.2 s"
    assert _progress.bar(0, 0, "fig", 0.0, width=4) == "fig [----] 0/0    0.0 s"
    assert not _progress.enabled()
    assert list(_progress.track(range(3), "x")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_progress_in_a_log_prints_one_line_per_loop():
    stream = io.StringIO()  # not a tty
    _progress.set_enabled(True)
    try:
        assert list(_progress.track(["a", "b"], "loop", stream=stream)) == ["a", "b"]
    finally:
        _progress.set_enabled(False)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loop [") and " 2/2 " in lines[0]


def test_importing_ufm_figures_loads_no_matplotlib_and_keeps_jax_config():
    code = ("import sys, jax, ufm.figures, ufm.figures.__main__, "
            "ufm.figures.closed_form_vs_solver; "
            "print('matplotlib' in sys.modules, jax.config.jax_enable_x64)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_nc2_at_level_interpolates_in_log_space():
    from ufm.figures.nc2_vs_nc1 import at_level

    nc1 = [10.0, 1.0, 0.01]
    nc2 = [1.0, 0.1, 0.001]
    assert at_level(nc1, nc2, 20.0) == 1.0  # already below at the start
    assert at_level(nc1, nc2, 1.0) == pytest.approx(0.1, rel=1e-15)
    assert at_level(nc1, nc2, 0.1) == pytest.approx(0.01, rel=1e-14)  # halfway in log
    assert math.isnan(at_level(nc1, nc2, 1e-3))


def _check_files(out_dir, name):
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("json", b"{")):
        path = os.path.join(out_dir, f"{name}.{ext}")
        assert os.path.getsize(path) > 1000 if ext != "json" else os.path.getsize(path) > 100
        with open(path, "rb") as fh:
            assert fh.read(4).startswith(magic)
    with open(os.path.join(out_dir, f"{name}.json")) as fh:
        data = json.load(fh)
    module = load(name)
    assert set(module.KEYS) <= set(data), f"{name}: missing {set(module.KEYS) - set(data)}"
    assert data["quick"] is True and data["versions"]["jax"] and data["versions"]["numpy"]
    return data


def test_cli_quick_phase_diagram_end_to_end(tmp_path, capsys):
    """The cheapest figure through the CLI: files written, listed on stdout, data = theory."""
    out = tmp_path / "figs"
    assert main(["--quick", "--only", "phase_diagram", "--out", str(out), "--no-progress"]) == 0
    listed = capsys.readouterr().out.split()
    assert sorted(os.path.basename(p) for p in listed) == [
        "phase_diagram.json", "phase_diagram.pdf", "phase_diagram.png"]
    check_phase_diagram(_check_files(str(out), "phase_diagram"))


# ------------------------------------------------------------------- per-figure data checks
def check_phase_diagram(data):
    s = data["settings"]
    K = s["classes"]
    grid = [(kb, a) for a in s["alpha_points"] for kb in s["k_beta_points"]]
    kept = [(kb, a) for kb, a in grid if abs(kb + a - 1) >= s["boundary_gap"]]
    assert [(p["k_beta"], p["alpha"]) for p in data["points"]] == kept
    assert len(kept) >= 0.9 * len(grid)
    for p in data["points"]:
        kb, a = p["k_beta"], p["alpha"]
        expected = "collapse" if kb + a < 1 else "zero"  # theory.md b.3: Kβ + α < 1
        assert p["regime_closed"] == expected and p["regime_solver"] == expected, p
        assert p["converged"]
        beta_eff = kb / K + a / K
        m_star = math.log(1 / beta_eff - (K - 1)) if expected == "collapse" else 0.0
        assert p["margin_closed"] == pytest.approx(m_star, rel=1e-12, abs=1e-15)
        assert abs(p["margin_solver"] - m_star) <= GRAM_TOL * max(1.0, m_star)


def check_closed_form_vs_solver(data):
    from ufm.figures.closed_form_vs_solver import CURVE_KEYS, CURVES, _problem

    s = data["settings"]
    K, n = s["classes"], s["per_class"]
    curves = data["curves"]
    assert [(c["loss"], c["alpha"], c["gamma"]) for c in curves] == list(CURVES)
    for cur in curves:
        assert set(CURVE_KEYS) <= set(cur)
        loss, alpha, gamma = cur["loss"], cur["alpha"], cur["gamma"]
        # thresholds from the formulas of theory.md b.2, b.3, b.5, b.6 (λ_W = λ_H: β = √n λ)
        if loss == "ce":
            lam_c = 1 / (K * math.sqrt(n))
        elif loss in ("ls", "maxsup"):
            lam_c = (1 - alpha) / (K * math.sqrt(n))
        elif loss == "mse":
            lam_c = s["target_scale"] / (K * math.sqrt(n))
        else:
            g = ((K - 1) / K) ** gamma * ((K - 1) / K + gamma * math.log(K) / K)
            lam_c = g / ((K - 1) * math.sqrt(n))
        assert cur["threshold"] == pytest.approx(lam_c, rel=1e-10)
        assert len(cur["lam_marker"]) >= s["marker_points"] - 1
        for i, lam in enumerate(cur["lam_marker"]):
            cf = closed_form(_problem(s, loss, alpha, gamma, lam))
            if not cur["converged"][i]:
                # only MaxSup's zero-regime minimiser (on the kink of max z) may stop short;
                # no accuracy is claimed there
                assert loss == "maxsup" and cf.regime == "zero"
                continue
            assert rel(cur["objective"][i], cf.objective) <= OBJ_TOL, (loss, lam)
            for key in ("margin", "w_norm_sq", "h_norm_sq"):
                assert rel(cur[key][i], getattr(cf, key)) <= GRAM_TOL, (loss, lam, key)
        # the lines are the closed form
        for j in (0, len(cur["lam_line"]) // 2, -1):
            cf = closed_form(_problem(s, loss, alpha, gamma, cur["lam_line"][j]))
            assert cur["objective_line"][j] == pytest.approx(cf.objective, rel=1e-14)
            assert cur["margin_line"][j] == pytest.approx(cf.margin, rel=1e-14, abs=0)


def check_agreement(data):
    from ufm.figures.agreement import CONFIG_KEYS, LOSSES

    cfgs = data["configs"]
    assert len(cfgs) >= 200
    assert {c["loss"] for c in cfgs} == set(LOSSES)
    assert data["tolerance"] == pytest.approx(OBJ_TOL, rel=1e-12)
    regimes = {c["regime"] for c in cfgs}
    assert regimes == {"collapse", "zero"}  # both regimes are sampled
    for c in cfgs:
        assert set(CONFIG_KEYS) <= set(c)
        f_star = closed_form(Problem.from_dict(c["problem"])).objective
        assert c["f_closed"] == f_star
        err = rel(c["f_solver"], f_star)
        assert c["rel_err"] == pytest.approx(err, rel=1e-12, abs=1e-300)
        if c["converged"]:
            assert err <= OBJ_TOL, c
        else:
            # only the non-smooth MaxSup may stop short (kinks of max z; module docstring of the
            # figure); no accuracy is claimed for those runs
            assert c["loss"] == "maxsup", c
    assert sum(c["converged"] for c in cfgs) >= 0.9 * len(cfgs)


def check_dynamics(data):
    from ufm.dynamics import iterations_to
    from ufm.figures.dynamics import TRAJ_KEYS

    for run in data["runs"]:
        assert [t["loss"] for t in run["trajectories"]] == ["ce", "ls", "maxsup"]
        for tr in run["trajectories"]:
            assert set(TRAJ_KEYS) <= set(tr)
            f_star = closed_form(Problem.from_dict(tr["problem"])).objective
            assert tr["f_star"] == f_star
            gap = np.asarray(tr["gap"], dtype=float)
            # GD cannot go below the global minimum (round-off allowance 64 eps f*)
            assert gap.min() >= -64 * EPS * f_star
            assert tr["rel_gap"][-1] < tr["thresholds"]["rel_gap"]  # reached the c.4 target
            it = np.asarray(tr["iteration"])
            for key, thr in tr["thresholds"].items():
                values = np.asarray(tr[key], dtype=float)
                assert tr["iterations_to"][key] == iterations_to(it, values, thr)
                assert tr["iterations_to"][key] is not None


def check_nc2_vs_nc1(data):
    from ufm.figures.nc2_vs_nc1 import RUN_KEYS, at_level

    for run in data["runs"]:
        assert set(RUN_KEYS) <= set(run) and len(run["levels"]) >= 5
        curves = {c["loss"]: c for c in run["curves"]}
        for loss, c in curves.items():
            for i, L in enumerate(run["levels"]):
                assert run["at_level"][loss]["nc2_w"][i] == at_level(c["nc1"], c["nc2_w"], L)
        for i in range(len(run["levels"])):
            assert run["ratio_w"][i] == pytest.approx(
                run["at_level"]["ls"]["nc2_w"][i] / run["at_level"]["ce"]["nc2_w"][i], rel=1e-14)


# theory.md c.3, κ_full for K = 10, d = 10, n = 5, λ_W = λ_H = λ_b = λ (3 significant digits)
C3_TABLE = {
    1e-2: {0.0: 11.7, 0.05: 11.4, 0.1: 11.2, 0.2: 10.9},
    1e-3: {0.0: 14.2, 0.05: 36.7, 0.1: 54.1, 0.2: 79.1},
    1e-5: {0.0: 23.0, 0.05: 2724, 0.1: 4649, 0.2: 7401},
}


def check_conditioning(data):
    s = data["settings"]
    assert (s["classes"], s["per_class"], s["dim"]) == (10, 5, 10)
    lam = np.asarray(data["lam_line"], dtype=float)
    by_alpha = {ln["alpha"]: ln for ln in data["lines"]}
    for lam_ref, row in C3_TABLE.items():
        i = int(np.flatnonzero(np.isclose(lam, lam_ref, rtol=1e-12))[0])
        for alpha, ref in row.items():
            half_unit = 0.05 if ref < 100 else 0.5  # half a unit of the last quoted digit
            assert abs(by_alpha[alpha]["kappa_full"][i] - ref) <= half_unit, (lam_ref, alpha)
    # κ_logit(LS) = κ_logit(CE) − (K−1)α wherever LS collapses (theory.md c.3)
    K = s["classes"]
    for alpha in (0.05, 0.1, 0.2):
        pairs = zip(by_alpha[0.0]["kappa_logit"], by_alpha[alpha]["kappa_logit"], strict=True)
        for ce, ls in pairs:
            if ce is not None and ls is not None:
                assert ls == pytest.approx(ce - (K - 1) * alpha, rel=1e-12)
    for m in data["markers"]:  # autodiff Hessian at W*, H* against the closed form
        p = Problem(s["classes"], s["per_class"], s["dim"], loss=m["loss"], alpha=m["alpha"],
                    lambda_w=m["lambda"], lambda_h=m["lambda"], lambda_b=m["lambda"])
        # dense eigenvalues carry absolute round-off ~P·eps·λ_max, i.e. relative P·eps·κ_full on
        # λ_min⁺; the autodiff logit Hessian forms p(1 − p) with p ≈ 1, relative eps/(1 − p*)
        kappa = m["closed_form"]["kappa_full"]
        tol = p.num_params * EPS * (kappa + 1 / (1 - closed_form(p).p_true))
        assert m["zero_modes"] == m["zero_modes_expected"]
        assert m["spectrum_rel_err"] <= tol
        for k in ("kappa_full", "kappa_logit", "kappa_scale", "kappa_features"):
            assert rel(m[k], m["closed_form"][k]) <= tol, (m, k)
    for k, grid in data["map"]["ratio"].items():
        assert len(grid) == len(data["map"]["alpha"]) and len(grid[0]) == len(data["map"]["lam"]), k




def check_spectrum(data):
    s = data["settings"]
    assert (s["classes"], s["per_class"], s["dim"], s["lambda_b"]) == (4, 3, 5, 0.0)
    for pnl in data["panels"]:
        P = pnl["problem"]["num_params"]
        dense = np.asarray(pnl["dense"], dtype=float)
        assert dense.size == P == sum(f["multiplicity"] for f in pnl["families"])
        assert pnl["rel_err"] <= 64 * P * EPS
        assert pnl["zero_modes_dense"] == pnl["zero_modes_expected"] == 10
        table = C2_EXAMPLE[pnl["loss"]]
        expected = np.repeat([v for v, _ in table], [m for _, m in table])
        # the c.2 values are quoted to 10 decimals
        assert np.max(np.abs(dense - expected)) <= 5e-11 + 64 * P * EPS * dense[-1]


def check_minority_collapse(data):
    s = data["settings"]
    K = s["K"]
    for cur in data["curves"]:
        assert all(cur["converged"]) and cur["threshold_converged"]
        assert cur["ratios"][0] == 1.0
        # R = 1 is balanced: simplex ETF with the closed-form norm (theory.md b.1–b.3)
        etf = math.degrees(math.acos(-1 / (K - 1)))
        assert cur["minority_angle_deg"][0] == pytest.approx(etf, abs=1e-6)
        lw, lh, lb = s["lambdas"]
        cf = closed_form(Problem(K, int(s["n_major"]), s["dim"], loss=cur["loss"],
                                 alpha=cur["alpha"], lambda_w=lw, lambda_h=lh, lambda_b=lb,
                                 bias=s["bias"]))
        assert rel(cur["minority_norm"][0] ** 2, cf.w_norm_sq) <= GRAM_TOL
        assert rel(cur["objective"][0], cf.objective) <= OBJ_TOL
        assert 1 < cur["threshold"] < s["ratio_max"]
        beyond = [a for R, a in zip(cur["ratios"], cur["minority_angle_deg"], strict=True)
                  if R > 1.01 * cur["threshold"]]
        assert beyond and all(a is None or a <= s["angle_tol_deg"] for a in beyond)


def check_label_noise_dilation(data):
    s = data["settings"]
    N = s["K"] * s["n"]
    for eta, target in zip(data["eta"], s["etas"], strict=True):
        assert abs(eta - target) <= 1 / N
    for loss in s["losses"]:
        assert all(data["converged"][loss])
        assert data["eta"][0] == 0.0 and data["relative_dilation"][loss][0] <= GRAM_TOL
        assert all(d > GRAM_TOL for d in data["relative_dilation"][loss][1:])


CHECKS = {name: globals()[f"check_{name}"] for name in FIGURES}


# ------------------------------------------------------------------- slow: every quick figure
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("figures"))
    results = {name: make(name, quick=True, seed=0, out_dir=out) for name in available()}
    return out, results


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_quick_figure_files_keys_and_theory(quick_run, name):
    if name not in available():
        pytest.skip(f"{name}: its library module is missing")
    out, results = quick_run
    assert sorted(os.path.basename(p) for p in results[name]["paths"]) == [
        f"{name}.json", f"{name}.pdf", f"{name}.png"]
    CHECKS[name](_check_files(out, name))


@pytest.mark.slow
def test_quick_figures_can_be_redrawn_from_their_json(quick_run, tmp_path):
    out, _ = quick_run
    for name in available():
        with open(os.path.join(out, f"{name}.json")) as fh:
            paths = load(name).plot(json.load(fh), str(tmp_path))
        assert all(os.path.getsize(p) > 1000 for p in paths)


@pytest.mark.slow
def test_checks_reject_data_that_disagree_with_the_theory(quick_run):
    """The per-figure checks can fail: perturb one number just beyond its tolerance."""
    out, _ = quick_run

    def loaded(name):
        with open(os.path.join(out, f"{name}.json")) as fh:
            return json.load(fh)

    data = loaded("agreement")
    c = next(c for c in data["configs"] if c["converged"])
    c["f_solver"] = c["f_closed"] * (1 + 10 * OBJ_TOL)
    c["rel_err"] = rel(c["f_solver"], c["f_closed"])
    with pytest.raises(AssertionError):
        check_agreement(data)

    data = loaded("closed_form_vs_solver")
    cur = data["curves"][0]
    cur["margin"][0] *= 1 + 10 * GRAM_TOL
    with pytest.raises(AssertionError):
        check_closed_form_vs_solver(data)

    data = loaded("phase_diagram")
    p = data["points"][0]
    p["regime_solver"] = "zero" if p["regime_solver"] == "collapse" else "collapse"
    with pytest.raises(AssertionError):
        check_phase_diagram(data)

    data = loaded("spectrum")
    data["panels"][1]["dense"][-1] *= 1 + 1e-8
    with pytest.raises(AssertionError):
        check_spectrum(data)

    data = loaded("dynamics")
    data["runs"][0]["trajectories"][0]["gap"][-1] = -1e-10
    with pytest.raises(AssertionError):
        check_dynamics(data)
