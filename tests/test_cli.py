"""``python -m ufm.solve``: the report contract, exit codes, and one-line errors for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ufm.solve import main

SMALL = ["--classes", "4", "--per-class", "3", "--dim", "5", "--lambda-w", "5e-3", "--lambda-h", "5e-3"]

REPORT_KEYS = {
    "problem": None,
    "solution": {"objective", "grad_norm", "converged", "iterations", "seconds"},
    "closed_form": {"available", "objective", "margin", "p_true", "w_norm_sq", "h_norm_sq", "regime"},
    "comparison": {"objective_gap", "gram_w_rel_err", "gram_h_rel_err", "logits_rel_err"},
    "nc": {"nc1", "nc2_w", "nc2_h", "nc3", "nc4"},
    "certificate": {"lower_bound", "gap", "status"},
    "verdict": None,
    "versions": {"ufm", "jax", "jaxlib", "optax", "numpy", "scipy", "python"},
}


def test_report_contract_and_save(tmp_path, capsys):
    out, npz = tmp_path / "r.json", tmp_path / "sol.npz"
    status = main([*SMALL, "--loss", "ls", "--alpha", "0.1", "--json", str(out), "--save", str(npz)])
    assert status == 0
    report = json.loads(out.read_text())
    for key, sub in REPORT_KEYS.items():
        assert key in report
        if sub:
            assert sub <= set(report[key]), (key, sub - set(report[key]))
    assert report["verdict"] == "verified"
    assert report["closed_form"]["regime"] == "collapse"
    # b.8: K=4, n=3, λ=5e-3, LS α=0.1 (quoted to 12 decimals)
    assert abs(report["closed_form"]["objective"] - 0.438171305784) <= 5e-13
    assert abs(report["comparison"]["objective_gap"]) <= report["tolerances"]["objective_rtol"]
    for name in ("classes", "per_class", "dim", "loss", "lambda_w", "lambda_h", "lambda_b", "bias",
                 "alpha", "gamma", "target_scale", "dtype", "seed", "max_iters"):
        assert name in report["problem"]
    saved = np.load(npz)
    assert saved["W"].shape == (4, 5) and saved["H"].shape == (5, 12) and saved["b"].shape == (4,)
    np.testing.assert_array_equal(saved["labels"], np.repeat(np.arange(4), 3))
    assert "VERIFIED" in capsys.readouterr().out


def test_json_to_stdout_is_pure_json(capsys):
    assert main([*SMALL, "--no-bias", "--json", "-"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["problem"]["bias"] is False and "verdict" in captured.err


def test_not_converged_exits_1_without_verdict(capsys):
    assert main([*SMALL, "--max-iters", "2", "--json", "-"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "not-converged" and report["solution"]["converged"] is False


def test_imbalanced_is_certified_with_minority_report(capsys):
    status = main(["--classes", "3", "--per-class", "4,2,2", "--dim", "4", "--json", "-"])
    report = json.loads(capsys.readouterr().out)
    assert report["closed_form"]["available"] is False and report["comparison"] is None
    assert report["certificate"]["status"] == "certified"
    # the gap is f − lower bound ≥ 0 up to round-off in evaluating both
    assert -64 * 2.2e-16 <= report["certificate"]["gap"] <= 1e-8
    assert report["verdict"] == "certified" and status == 0
    assert report["imbalance"]["minority_classes"] == [1, 2]


def test_d_below_k_minus_1_is_never_a_mismatch(capsys):
    status = main(["--classes", "5", "--per-class", "2", "--dim", "2", "--json", "-"])
    report = json.loads(capsys.readouterr().out)
    assert report["closed_form"]["available"] is False
    assert report["verdict"] in ("no-closed-form", "certified") and status == 0


def test_label_noise_reports_metrics_and_no_closed_form(capsys):
    status = main([*SMALL, "--per-class", "5", "--label-noise", "0.25", "--noise-seed", "3",
                   "--json", "-"])
    report = json.loads(capsys.readouterr().out)
    assert report["closed_form"]["available"] is False and "label noise" in report["closed_form"]["reason"]
    assert report["label_noise"]["flipped"] == 5 and report["problem"]["noise_seed"] == 3
    assert report["verdict"] in ("certified", "no-closed-form") and status == 0


def test_nonnegative_features_verified_against_b7(capsys):
    status = main([*SMALL, "--features", "nonnegative", "--json", "-"])
    report = json.loads(capsys.readouterr().out)
    assert report["problem"]["features"] == "nonnegative"
    assert report["certificate"]["status"] == "unavailable"
    assert report["verdict"] == "verified" and status == 0


BAD = [
    (["--classes", "1"], "--classes 1"),
    (["--per-class", "0"], "--per-class 0"),
    (["--dim", "0"], "--dim 0"),
    (["--lambda-w", "-1e-3"], "--lambda-w -1e-3"),  # echoed as typed
    (["--lambda-w", "-inf"], "--lambda-w -inf"),
    (["--lambda-w", "1e-400"], "--lambda-w 1e-400"),  # underflows to 0: named as typed
    (["--classes", "3", "--per-class", "5,0,5"], "--per-class 5,0,5"),
    (["--classes", "3", "--per-class", "-1,3,3"], "--per-class -1,3,3"),
    (["--seed", "99999999999999999999"], "--seed 99999999999999999999"),
    (["--max-iters", "99999999999999999999"], "--max-iters 99999999999999999999"),
    (["--dim", "99999999999999999999"], "--dim 99999999999999999999"),
    (["--classes", "100000000", "--per-class", "1", "--dim", "1"], "--classes 100000000"),
    (["--classes", "3", "--per-class", "2", "--dim", "2", "--label-noise", "0.9"],
     "--label-noise 0.9"),  # empties a class
    (["--lambda-h", "nan"], "--lambda-h nan"),
    (["--lambda-b", "-1"], "--lambda-b -1"),
    (["--loss", "ls", "--alpha", "1.0"], "--alpha 1.0"),
    (["--loss", "ls", "--alpha", "-0.2"], "--alpha -0.2"),
    (["--loss", "fl", "--gamma", "-1"], "--gamma -1"),
    (["--loss", "mse", "--target-scale", "0"], "--target-scale 0"),
    (["--loss", "hinge"], "--loss hinge"),
    (["--dtype", "float16"], "--dtype float16"),
    (["--classes", "3", "--per-class", "3,x,3"], "--per-class 3,x,3"),
    (["--classes", "3", "--per-class", "3,3"], "--per-class 3,3"),
    (["--classes", "two"], "--classes"),
    (["--alpha", "0.1"], "--alpha 0.1"),  # α with CE: not silently ignored
    (["--json", "/nonexistent-dir/r.json"], "--json /nonexistent-dir/r.json"),
    (["--save", "/proc/forbidden.npz"], "--save /proc/forbidden.npz"),
    (["--max-iters", "0"], "--max-iters 0"),
    (["--bogus"], "--bogus"),
    (["--label-noise", "1.0"], "--label-noise 1.0"),
    (["--label-noise", "-0.1"], "--label-noise -0.1"),
    (["--noise-seed", "-3"], "--noise-seed -3"),
    (["--features", "relu"], "--features relu"),
]


@pytest.mark.parametrize(("argv", "named"), BAD)
def test_bad_input_one_line_exit_2(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and named in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "status"), [(["--classes", "1"], 2), ([*SMALL, "--max-iters", "1"], 1)])
def test_real_process_exit_status_and_no_traceback(argv, status):
    proc = subprocess.run([sys.executable, "-m", "ufm.solve", *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr


def test_hessian_report_matches_theory_worked_example(capsys):
    """theory.md c.2 worked example: K=4, d=5, n=3, λ=5e-3, λ_b=0, CE: λ_min⁺ = 0.0026381895,
    λ_max = 0.0506929590 (quoted to 10 decimals), 10 zero modes."""
    argv = ["--classes", "4", "--per-class", "3", "--dim", "5", "--lambda-w", "5e-3",
            "--lambda-h", "5e-3", "--lambda-b", "0", "--hessian", "--json", "-"]
    assert main(argv) == 0
    h = json.loads(capsys.readouterr().out)["hessian"]
    assert h["zero_modes"] == h["zero_modes_expected"] == 10
    assert abs(h["lambda_min_nonzero"] - 0.0026381895) <= 5e-11
    assert abs(h["lambda_max"] - 0.0506929590) <= 5e-11
    assert h["spectrum_rel_err"] <= 1e-10
    for key in ("kappa_full", "kappa_logit", "kappa_scale", "kappa_features"):
        assert abs(h[key] - h["closed_form"][key]) <= 1e-10 * h["closed_form"][key]


def test_maxsup_zero_regime_is_verified_through_the_certificate(capsys):
    """At MaxSup's zero-regime minimiser (a kink of max z) ‖∇f‖ cannot vanish; the duality gap
    closes instead, which proves optimality: the verdict is earned by the certificate."""
    argv = ["--loss", "maxsup", "--classes", "4", "--per-class", "3", "--dim", "4",
            "--lambda-w", "0.3", "--lambda-h", "0.3", "--json", "-"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["solution"]["converged"] is False
    assert report["optimality_basis"] == "duality gap"
    assert report["certificate"]["status"] == "certified"
    assert report["closed_form"]["regime"] == "zero" and report["verdict"] == "verified"
    assert report["nc"]["nc1"] is None and "zero regime" in report["nc"]["undefined"]
