"""``python -m ufm.figures``: the CLI, the progress bar, and every quick figure against the theory.

Fast tests (default suite): command-line errors, the progress bar, the registry and schemas, JSON
writing, no matplotlib at import, pure helpers, and one cheap figure (phase_diagram) end to end
through the CLI.

Slow tests (``-m slow``, run by CI): every quick figure once, in one process (``make``), then per
figure: the PNG, PDF and JSON are written and non-empty (JSON compact, mode 0644, with git
provenance), the plot redraws from only the keys of its ``SCHEMA``, and the data agree with the
closed form (theory.md b, c) within tolerances derived from float64's eps: objective eps^(2/3)
plus the float64 round-off of f (the verdict's bar, ufm.verify), Grams/norms/margins eps^(1/3),
Hessian spectra a small multiple of P·eps. A run is judged by its verdict (ufm.verify), never by
its loss: every run whose optimality is established must agree; runs that are not converged are
counted and drawn as such. Each check is shown to fail on data pushed beyond its tolerance.
No test asserts anything about time.
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
from ufm.figures import FIGURES, _progress, available, load, make, provenance, strip
from ufm.figures.__main__ import main
from ufm.spec import Problem

EPS = float(np.finfo(np.float64).eps)
OBJ_TOL = EPS ** (2 / 3)  # ufm.verify.Tolerances: objective (relative part)
OBJ_ATOL_MAX = 1e-12  # ufm.verify: 8 eps (1 + max|Z*|) is far below this for these problems
GRAM_TOL = EPS ** (1 / 3)  # ufm.verify.Tolerances: Grams, logits (and so norms, margins)
OPTIMAL = ("verified", "certified")
CORE = ("closed_form_vs_solver", "agreement", "phase_diagram", "dynamics", "nc2_vs_nc1",
        "conditioning", "spectrum")


def rel(x: float, ref: float) -> float:
    return abs(x - ref) / abs(ref) if ref != 0 else abs(x)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        assert name == module.NAME and callable(module.experiment) and callable(module.plot)
        assert tuple(module.SCHEMA) == module.KEYS
        assert "versions" in module.KEYS and "settings" in module.KEYS
    with pytest.raises(ValueError, match="figure 'nope': expected one of"):
        load("nope")


def test_progress_bar_text_and_silence_by_default(capsys):
    assert _progress.bar(3, 12, "fig", 1.25, width=12) == "fig [###---------] 3/12    1.2 s"
    assert _progress.bar(0, 0, "fig", 0.0, width=4) == "fig [----] 0/0    0.0 s"
    assert not _progress.enabled()
    assert list(_progress.track(range(3), "x")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


class _FakeClock:
    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def _log_lines(items, step: float) -> list[str]:
    stream = io.StringIO()  # not a tty
    _progress.set_enabled(True)
    try:
        assert list(_progress.track(items, "loop", stream=stream, clock=_FakeClock(step))) == items
    finally:
        _progress.set_enabled(False)
    return stream.getvalue().splitlines()


def test_progress_in_a_log_prints_a_line_per_tenth_and_at_the_end():
    lines = _log_lines(list(range(100)), step=0.0)  # a clock that never advances
    assert len(lines) == 10 and all(line.startswith("loop [") for line in lines)
    assert [line.split()[2] for line in lines] == [f"{10 * k}/100" for k in range(1, 11)]


def test_progress_in_a_log_prints_every_few_seconds_of_a_slow_loop():
    lines = _log_lines(list(range(3)), step=_progress.LOG_INTERVAL + 1)  # each item is slow
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"]
    assert len(_log_lines(["a", "b"], step=0.0)) == 2  # 50% is a tenth boundary, then the end


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


def test_nc2_describe_states_the_ranges_and_extremes():
    from ufm.figures.nc2_vs_nc1 import describe

    levels = [1.0, 0.1, 0.01, 0.001]
    d = describe(levels, [1.2, 0.5, 0.4, 3.0], "NC2_W")
    assert d["ls_stronger_ranges"] == [[0.1, 0.01]] and d["ls_stronger_fraction"] == 0.5
    assert (d["max_ratio"], d["max_ratio_level"]) == (3.0, 0.001)
    assert (d["min_ratio"], d["min_ratio_level"]) == (0.4, 0.01)
    assert "for NC1 in [1e-01, 1e-02]" in d["text"]
    assert "at every level" in describe(levels, [0.5] * 4, "x")["text"]
    assert "at no level" in describe(levels, [2.0] * 4, "x")["text"]


def test_strip_keeps_schema_keys_and_names_missing_ones():
    data = {"a": 1, "b": [{"x": 1, "y": 2}, {"x": 3, "y": 4}], "c": {"z": 5, "w": 6}, "d": 0}
    schema = {"a": None, "b": [{"x": None}], "c": {"z": None}}
    assert strip(data, schema) == {"a": 1, "b": [{"x": 1}, {"x": 3}], "c": {"z": 5}}
    with pytest.raises(KeyError, match=r"b\[1\]\.y"):
        strip({"b": [{"y": 1}, {}]}, {"b": [{"y": None}]})


def test_provenance_is_a_commit_and_a_dirty_flag_or_null():
    git = provenance()
    assert set(git) == {"commit", "dirty"}
    if git["commit"] is not None:
        assert len(git["commit"]) == 40 and int(git["commit"], 16) >= 0
        assert isinstance(git["dirty"], bool)


def test_write_json_compact_with_the_mode_of_an_ordinary_file(tmp_path):
    from ufm.report import write_json

    path = tmp_path / "r.json"
    write_json({"a": [1.0, float("nan")], "λ": "x"}, str(path), compact=True)
    assert path.read_text(encoding="utf-8") == '{"a":[1.0,null],"λ":"x"}\n'
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    write_json({"a": 1}, str(path))  # the indented form (ufm.solve reports)
    assert path.read_text() == '{\n  "a": 1\n}\n'


def _check_files(out_dir, name):
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("json", b"{")):
        path = os.path.join(out_dir, f"{name}.{ext}")
        assert os.path.getsize(path) > 1000 if ext != "json" else os.path.getsize(path) > 100
        with open(path, "rb") as fh:
            assert fh.read(4).startswith(magic)
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask(), (path, "mode")
    with open(os.path.join(out_dir, f"{name}.png"), "rb") as fh:  # IHDR: width, height
        width = int.from_bytes(fh.read(24)[16:20], "big") / 300  # inches at the 300 dpi
    assert width <= 3.4 * 1.01 or 6.9 <= width <= 7.0 * 1.01, (name, width)  # column or page
    with open(os.path.join(out_dir, f"{name}.json"), encoding="utf-8") as fh:
        text = fh.read()
    data = json.loads(text)
    compact = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert text == compact + "\n"
    module = load(name)
    strip(data, module.SCHEMA)  # every key the plot reads is there
    assert data["quick"] is True and data["versions"]["jax"] and data["versions"]["numpy"]
    assert data["experiment_seconds"] > 0 and set(data["git"]) == {"commit", "dirty"}
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
    from ufm.figures.closed_form_vs_solver import CURVES, _problem

    s = data["settings"]
    K, n = s["classes"], s["per_class"]
    curves = data["curves"]
    assert [(c["loss"], c["alpha"], c["gamma"]) for c in curves] == list(CURVES)
    verdicts = []
    for cur in curves:
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
        assert len(cur["lam_marker"]) >= s["marker_points"] - 2
        for i, lam in enumerate(cur["lam_marker"]):
            cf = closed_form(_problem(s, loss, alpha, gamma, lam))
            assert cur["objective_rel_err"][i] == pytest.approx(
                rel(cur["objective"][i], cf.objective), rel=1e-12, abs=1e-300)
            verdicts.append(cur["verdict"][i])
            assert cur["verdict"][i] != "mismatch", (loss, lam)
            if cur["verdict"][i] not in OPTIMAL:
                continue  # drawn as not converged; no accuracy claimed (by verdict, not loss)
            bar = cur["objective_tol"][i]
            assert bar <= OBJ_TOL * abs(cf.objective) + OBJ_ATOL_MAX
            assert abs(cur["objective"][i] - cf.objective) <= bar, (loss, lam)
            for key in ("margin", "w_norm_sq", "h_norm_sq"):
                assert rel(cur[key][i], getattr(cf, key)) <= GRAM_TOL, (loss, lam, key)
        # the lines are the closed form
        for j in (0, len(cur["lam_line"]) // 2, -1):
            cf = closed_form(_problem(s, loss, alpha, gamma, cur["lam_line"][j]))
            assert cur["objective_line"][j] == pytest.approx(cf.objective, rel=1e-14)
            assert cur["margin_line"][j] == pytest.approx(cf.margin, rel=1e-14, abs=0)
    # MaxSup's markers are interleaved with LS α = 0.1's (not hidden under them)
    ls = next(c for c in curves if c["loss"] == "ls" and c["alpha"] == 0.1)
    ms = next(c for c in curves if c["loss"] == "maxsup")
    assert not set(ls["lam_marker"]) & set(ms["lam_marker"])
    summ = data["summary"]
    assert summ["markers"] == len(verdicts)
    assert summ["verified"] == sum(v in OPTIMAL for v in verdicts) >= 0.9 * len(verdicts)


def check_agreement(data):
    from ufm.figures.agreement import CONFIG_KEYS, LOSSES

    cfgs = data["configs"]
    assert len(cfgs) >= 200
    assert {c["loss"] for c in cfgs} == set(LOSSES)
    assert any(c["shape"][2] == c["shape"][0] - 1 for c in cfgs)  # d = K − 1 is sampled
    assert data["tolerance"] == pytest.approx(OBJ_TOL, rel=1e-12)
    assert {c["regime"] for c in cfgs} == {"collapse", "zero"}  # both regimes are sampled
    for c in cfgs:
        assert set(CONFIG_KEYS) <= set(c)
        f_star = closed_form(Problem.from_dict(c["problem"])).objective
        assert c["f_closed"] == f_star
        err = rel(c["f_solver"], f_star)
        assert c["rel_err"] == pytest.approx(err, rel=1e-12, abs=1e-300)
        assert c["verdict"] in ("verified", "not-converged"), c  # never a mismatch
        if c["verdict"] in OPTIMAL:  # optimality established: must agree, whatever the loss
            assert c["objective_tol"] <= OBJ_TOL * abs(f_star) + OBJ_ATOL_MAX
            assert abs(c["f_solver"] - f_star) <= c["objective_tol"], c
            assert c["gram_w_rel_err"] <= GRAM_TOL and c["logits_rel_err"] <= GRAM_TOL, c
    # the counts and worst errors quoted in the figure (and the README)
    ok = [c for c in cfgs if c["verdict"] in OPTIMAL]
    bad = [c for c in cfgs if c["verdict"] == "not-converged"]
    summ = data["summary"]
    assert (summ["configs"], summ["verified"], summ["not_converged"]) == (len(cfgs), len(ok),
                                                                         len(bad))
    assert summ["worst_rel_err_verified"] == max(c["rel_err"] for c in ok)
    assert summ["worst_rel_err_not_converged"] == max((c["rel_err"] for c in bad), default=None)
    assert sum(g["configs"] for g in summ["groups"]) == len(cfgs)
    assert len(ok) >= 0.9 * len(cfgs)  # the solver establishes optimality almost always


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


def check_nc2_vs_nc1(data, dynamics=None):
    from ufm.figures._floors import quadratic_floor
    from ufm.figures.nc2_vs_nc1 import RUN_KEYS

    assert data["nc1_floor"] == quadratic_floor(np.float64)
    assert data["reused_seconds"] >= 0 and data["experiment_seconds"] >= data["reused_seconds"]
    for j, run in enumerate(data["runs"]):
        assert set(RUN_KEYS) <= set(run) and len(run["levels"]) >= 5
        assert all(data["nc1_floor"] < L <= 10 for L in run["levels"])
        curves = {c["loss"]: c for c in run["curves"]}
        if dynamics is not None:  # the very trajectories of the dynamics figure
            for tr in dynamics["runs"][j]["trajectories"]:
                for key in ("iteration", "nc1", "nc2_w", "nc2_h"):
                    assert curves[tr["loss"]][key] == tr[key]
        for loss, c in curves.items():
            nc1 = np.asarray(c["nc1"], dtype=float)
            for m in ("nc2_w", "nc2_h"):
                vals = np.asarray(c[m], dtype=float)
                for i, L in enumerate(run["levels"]):
                    # independent of the interpolation: NC1 first crosses L between logs t−1, t,
                    # and the value lies between the two logged NC2 values there
                    t = int(np.flatnonzero(nc1 <= L)[0])
                    v = run["at_level"][loss][m][i]
                    assert t >= 1 and nc1[t - 1] > L >= nc1[t]
                    lo, hi = sorted((vals[t - 1], vals[t]))
                    assert lo * (1 - 1e-12) <= v <= hi * (1 + 1e-12), (loss, m, L)
        for m, key in (("nc2_w", "ratio_w"), ("nc2_h", "ratio_h")):
            ratio = np.array([ls / ce for ls, ce in zip(run["at_level"]["ls"][m],
                                                         run["at_level"]["ce"][m], strict=True)])
            assert run[key] == pytest.approx(list(ratio), rel=1e-14)
            ans = run["answer"][m]
            assert ans["ls_stronger_fraction"] == pytest.approx(float(np.mean(ratio < 1)))
            assert ans["max_ratio"] == pytest.approx(float(ratio.max()), rel=1e-14)
            assert ans["min_ratio"] == pytest.approx(float(ratio.min()), rel=1e-14)
            flat = [L for a, b in ans["ls_stronger_ranges"] for L in run["levels"] if a >= L >= b]
            assert flat == [L for L, r in zip(run["levels"], ratio, strict=True) if r < 1]


# theory.md c.3, κ_full for K = 10, d = 10, n = 5, λ_W = λ_H = λ_b = λ (3 significant digits)
C3_TABLE = {
    1e-2: {0.0: 11.7, 0.05: 11.4, 0.1: 11.2, 0.2: 10.9},
    1e-3: {0.0: 14.2, 0.05: 36.7, 0.1: 54.1, 0.2: 79.1},
    1e-5: {0.0: 23.0, 0.05: 2724, 0.1: 4649, 0.2: 7401},
}


def check_conditioning(data):
    from ufm.conditioning import closed_form_kappas
    from ufm.figures.conditioning import KAPPAS

    s = data["settings"]
    for row in data["c3_table"]:  # closed form at the c.3 problem, both modes
        ref = C3_TABLE[row["lambda"]][row["alpha"]]
        half_unit = 0.05 if ref < 100 else 0.5  # half a unit of the last quoted digit
        assert abs(row["kappa_full"] - ref) <= half_unit, row
    assert len(data["c3_table"]) == 12
    K = s["classes"]

    def problem(loss, lam, alpha):
        return Problem(K, s["per_class"], s["dim"], loss=loss, alpha=alpha, lambda_w=lam,
                       lambda_h=lam, lambda_b=lam, bias=s["bias"])

    lam = np.asarray(data["lam_line"], dtype=float)
    by_alpha = {ln["alpha"]: ln for ln in data["lines"]}
    for alpha, ln in by_alpha.items():  # the lines are the closed form
        for i in (0, len(lam) // 2, len(lam) - 1):
            p = problem("ce" if alpha == 0 else "ls", float(lam[i]), alpha)
            if closed_form(p).regime != "collapse":
                assert ln["kappa_full"][i] is None
                continue
            ref = closed_form_kappas(p)
            for k in KAPPAS:
                assert ln[k][i] == pytest.approx(ref[k], rel=1e-12)
    # κ_logit(LS) = κ_logit(CE) − (K−1)α wherever LS collapses (theory.md c.3)
    for alpha in (0.05, 0.1, 0.2):
        pairs = zip(by_alpha[0.0]["kappa_logit"], by_alpha[alpha]["kappa_logit"], strict=True)
        for ce, ls in pairs:
            if ce is not None and ls is not None:
                assert ls == pytest.approx(ce - (K - 1) * alpha, rel=1e-12)
    assert data["markers"]
    for m in data["markers"]:  # autodiff Hessian at W*, H* against the closed form
        p = problem(m["loss"], m["lambda"], m["alpha"])
        # dense eigenvalues carry absolute round-off ~P·eps·λ_max, i.e. relative P·eps·κ_full on
        # λ_min⁺; the autodiff logit Hessian forms p(1 − p) with p ≈ 1, relative eps/(1 − p*)
        kappa = m["closed_form"]["kappa_full"]
        tol = p.num_params * EPS * (kappa + 1 / (1 - closed_form(p).p_true))
        assert m["zero_modes"] == m["zero_modes_expected"]
        assert m["spectrum_rel_err"] <= tol
        for k in KAPPAS:
            assert rel(m[k], m["closed_form"][k]) <= tol, (m, k)
    mp = data["map"]
    for k, grid in mp["ratio"].items():
        assert len(grid) == len(mp["alpha"]) and len(grid[0]) == len(mp["lam"]), k
    ce = {lam: closed_form_kappas(problem("ce", lam, 0.0)) for lam in (mp["lam"][0], mp["lam"][-1])}
    for ia in (0, len(mp["alpha"]) - 1):  # corners of the maps: κ_LS/κ_CE from the closed form
        for il in (0, len(mp["lam"]) - 1):
            lam_, a = mp["lam"][il], mp["alpha"][ia]
            p = problem("ls", lam_, a)
            for k in KAPPAS:
                v = mp["ratio"][k][ia][il]
                if closed_form(p).regime != "collapse":
                    assert v is None
                else:
                    assert v == pytest.approx(closed_form_kappas(p)[k] / ce[lam_][k], rel=1e-12)


def check_spectrum(data):
    s = data["settings"]
    assert (s["classes"], s["per_class"], s["dim"], s["lambda_b"]) == (4, 3, 5, 0.0)
    for pnl in data["panels"]:
        P = pnl["problem"]["num_params"]
        dense = np.asarray(pnl["dense"], dtype=float)
        assert dense.size == P == sum(f["multiplicity"] for f in pnl["families"])
        # at the closed-form minimiser only round-off separates them
        assert pnl["rel_err_closed_form_point"] <= 64 * P * EPS
        # at the solver's point, within δ ≤ ‖∇f‖/λ_min⁺ of the minimiser manifold, the
        # eigenvalues move by O(δ) (Hessian Lipschitz constant ≲ λ_max per unit distance)
        assert pnl["rel_err"] <= 64 * P * EPS + pnl["distance_bound"]
        assert pnl["solver"]["converged"]
        assert pnl["zero_modes_dense"] == pnl["zero_modes_expected"] == 10
        table = C2_EXAMPLE[pnl["loss"]]
        expected = np.repeat([v for v, _ in table], [m for _, m in table])
        # the c.2 values are quoted to 10 decimals
        assert np.max(np.abs(dense - expected)) <= 5e-11 + (64 * P * EPS + pnl["distance_bound"]) \
            * dense[-1]


def check_minority_collapse(data):
    from ufm.imbalance import _counts, classifier_angles, solve_reduced

    s = data["settings"]
    K = s["K"]
    lw, lh, lb = s["lambdas"]
    for cur in data["curves"]:
        assert all(cur["converged"]) and cur["threshold_converged"]
        assert cur["ratios"][0] == 1.0 and max(cur["ratios"]) <= s["ratio_max"]
        # R = 1 is balanced: simplex ETF with the closed-form norm (theory.md b.1–b.3)
        etf = math.degrees(math.acos(-1 / (K - 1)))
        assert data["etf_angle_deg"] == pytest.approx(etf, rel=1e-15)
        assert cur["minority_angle_deg"][0] == pytest.approx(etf, abs=1e-6)
        cf = closed_form(Problem(K, int(s["n_major"]), s["dim"], loss=cur["loss"],
                                 alpha=cur["alpha"], lambda_w=lw, lambda_h=lh, lambda_b=lb,
                                 bias=s["bias"]))
        assert rel(cur["minority_norm"][0] ** 2, cf.w_norm_sq) <= GRAM_TOL
        assert rel(cur["objective"][0], cf.objective) <= OBJ_TOL
        # the located threshold, checked independently: fresh solves (another seed) at the two
        # ends of the final bracket straddle the criterion, and the bracket is narrow
        lo, hi = cur["threshold_bracket"]
        assert hi == cur["threshold"] and 1 < lo < hi < s["ratio_max"]
        assert hi / lo - 1 <= s["threshold_rtol"]

        def collapsed(R, loss=cur["loss"], alpha=cur["alpha"]):
            counts = _counts(K, s["n_major"], R, s["n_minority"])
            sol = solve_reduced(counts, s["dim"], loss=loss, lambda_w=lw, lambda_h=lh,
                                lambda_b=lb, bias=s["bias"], alpha=alpha, seed=12345)
            assert sol["converged"]
            g = classifier_angles(sol["W"], counts)
            return g["minority_zero"] or g["minority_angle_deg"] <= s["angle_tol_deg"]

        assert collapsed(hi) and not collapsed(lo)
        # and the curve (continuation solves) agrees: not collapsed below, collapsed above
        for R, a, z in zip(cur["ratios"], cur["minority_angle_deg"], cur["minority_zero"],
                           strict=True):
            if lo > R:
                assert not z and a > s["angle_tol_deg"], (R, a)
            elif hi < R:
                assert z or a <= s["angle_tol_deg"], (R, a)


def check_label_noise_dilation(data):
    s = data["settings"]
    N = s["K"] * s["n"]
    per = data["per_replicate"]
    assert s["replicates"] >= 3 and len(per["eta"]) == s["replicates"]
    for row in per["eta"]:
        for eta, target in zip(row, s["etas"], strict=True):
            assert abs(eta - target) <= 1 / N
    assert data["all_converged"]
    for loss in s["losses"]:
        assert all(all(row) for row in per["converged"][loss])
        rd = np.array(per["relative_dilation"][loss], dtype=float)  # replicate × η
        assert s["etas"][0] == 0.0 and np.all(rd[:, 0] <= GRAM_TOL)
        assert np.all(rd[:, 1:] > GRAM_TOL)
        for m in ("relative_dilation", "dilation", "radius"):
            v = np.array(per[m][loss], dtype=float)
            assert data["mean"][m][loss] == pytest.approx(list(v.mean(axis=0)), rel=1e-12,
                                                          abs=1e-300)
            assert data["std"][m][loss] == pytest.approx(list(v.std(axis=0, ddof=1)),
                                                         rel=1e-10, abs=1e-300)
            assert data["min"][m][loss] == list(v.min(axis=0))
            assert data["max"][m][loss] == list(v.max(axis=0))
        mean = np.asarray(data["mean"]["relative_dilation"][loss])
        assert np.all(np.diff(mean) > 0)  # dilation grows with the noise (the model's claim)
    ce = np.array(per["relative_dilation"]["ce"])
    ls = np.array(per["relative_dilation"]["ls"])
    assert data["comparison"]["ce_above_ls"] == list((ce > ls).sum(axis=0))


CHECKS = {name: globals()[f"check_{name}"] for name in FIGURES}


# ------------------------------------------------------------------- slow: every quick figure
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("figures"))
    results = {name: make(name, quick=True, seed=0, out_dir=out) for name in available()}
    return out, results


def _loaded(out, name):
    with open(os.path.join(out, f"{name}.json"), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIGURES)
def test_quick_figure_files_keys_and_theory(quick_run, name):
    if name not in available():
        pytest.skip(f"{name}: its library module is missing")
    out, results = quick_run
    assert sorted(os.path.basename(p) for p in results[name]["paths"]) == [
        f"{name}.json", f"{name}.pdf", f"{name}.png"]
    data = _check_files(out, name)
    if name == "nc2_vs_nc1":
        check_nc2_vs_nc1(data, _loaded(out, "dynamics"))
    else:
        CHECKS[name](data)


@pytest.mark.slow
def test_quick_figures_redraw_from_only_their_schema_keys(quick_run, tmp_path):
    """Every key a plot reads is declared: the plot is redrawn from the JSON reduced to its
    SCHEMA (a KeyError would name an undeclared key)."""
    out, _ = quick_run
    for name in available():
        module = load(name)
        paths = module.plot(strip(_loaded(out, name), module.SCHEMA), str(tmp_path))
        assert all(os.path.getsize(p) > 1000 for p in paths)


@pytest.mark.slow
def test_checks_reject_data_that_disagree_with_the_theory(quick_run):
    """The per-figure checks can fail: perturb one number just beyond its tolerance."""
    out, _ = quick_run

    def rejects(check, data, *args):
        with pytest.raises(AssertionError):
            check(data, *args)

    data = _loaded(out, "agreement")
    c = next(c for c in data["configs"] if c["verdict"] == "verified")
    c["f_solver"] = c["f_closed"] * (1 + 10 * OBJ_TOL)
    c["rel_err"] = rel(c["f_solver"], c["f_closed"])
    rejects(check_agreement, data)
    # a run far from f*: accepted (counted, no claim) as not converged, rejected as verified
    data = _loaded(out, "agreement")
    c = data["configs"][0]
    c["f_solver"] = c["f_closed"] * 1.01
    c["rel_err"] = rel(c["f_solver"], c["f_closed"])
    c["verdict"] = "not-converged"
    ok = [x["rel_err"] for x in data["configs"] if x["verdict"] in OPTIMAL]
    data["summary"].update(verified=len(ok), worst_rel_err_verified=max(ok),
                           not_converged=1, worst_rel_err_not_converged=c["rel_err"])
    check_agreement(data)
    c["verdict"] = "verified"
    rejects(check_agreement, data)

    data = _loaded(out, "closed_form_vs_solver")
    cur = data["curves"][0]
    cur["margin"][0] *= 1 + 10 * GRAM_TOL
    rejects(check_closed_form_vs_solver, data)

    data = _loaded(out, "phase_diagram")
    p = data["points"][0]
    p["regime_solver"] = "zero" if p["regime_solver"] == "collapse" else "collapse"
    rejects(check_phase_diagram, data)

    data = _loaded(out, "spectrum")
    data["panels"][1]["dense"][-1] *= 1 + 1e-8
    rejects(check_spectrum, data)

    data = _loaded(out, "dynamics")
    data["runs"][0]["trajectories"][0]["gap"][-1] = -1e-10
    rejects(check_dynamics, data)

    dyn = _loaded(out, "dynamics")
    data = _loaded(out, "nc2_vs_nc1")
    data["runs"][0]["at_level"]["ls"]["nc2_w"][2] *= 1.5  # off the trajectory
    rejects(check_nc2_vs_nc1, data, dyn)
    data = _loaded(out, "nc2_vs_nc1")
    data["runs"][0]["answer"]["nc2_h"]["ls_stronger_fraction"] += 0.2
    rejects(check_nc2_vs_nc1, data, dyn)

    data = _loaded(out, "conditioning")
    m = data["markers"][0]
    m["kappa_full"] = m["closed_form"]["kappa_full"] * (1 + 1e-9)
    rejects(check_conditioning, data)
    data = _loaded(out, "conditioning")
    data["c3_table"][5]["kappa_full"] += 0.1
    rejects(check_conditioning, data)

    data = _loaded(out, "minority_collapse")
    cur = data["curves"][0]
    lo, hi = cur["threshold_bracket"]
    cur["threshold_bracket"] = [0.8 * lo, 0.8 * hi]  # a bracket below the real threshold
    cur["threshold"] = 0.8 * hi
    rejects(check_minority_collapse, data)

    data = _loaded(out, "label_noise_dilation")
    data["mean"]["relative_dilation"]["ls"][-1] *= 1.01
    rejects(check_label_noise_dilation, data)
    data = _loaded(out, "label_noise_dilation")
    data["per_replicate"]["relative_dilation"]["ce"][0][0] = 1e-3  # η = 0 must not dilate
    rejects(check_label_noise_dilation, data)
