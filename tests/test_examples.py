"""Every script in examples/ runs as written (at its --tiny size) and says what it should.

The scripts are loaded from their files and their ``main`` is called with JAX's float64 switched
*off* (the state of a fresh process; the autouse fixture of conftest.py turns it on), so an example
that relied on a global float64 setting would fail here. Example 01 also runs in a subprocess,
exactly as a user would start it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def load_example(stem: str):
    path = os.path.join(EXAMPLES, f"{stem}.py")
    spec = importlib.util.spec_from_file_location(f"example_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(stem: str, argv: list[str]) -> int:
    module = load_example(stem)
    with jax.enable_x64(False):
        return module.main(argv)


DOCUMENTED = ("01_solve_and_verify", "02_read_json_report", "03_hessian_and_kappas",
              "04_lambda_sweep_plot")


def test_examples_directory_has_the_documented_scripts():
    stems = {f[:-3] for f in os.listdir(EXAMPLES) if f.endswith(".py")}
    assert set(DOCUMENTED) <= stems
    for stem in DOCUMENTED:
        module = load_example(stem)
        assert callable(module.main) and module.__doc__


def test_01_solve_and_verify(capsys):
    assert run_example("01_solve_and_verify", ["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "verdict: verified" in out and "theory.md b.3 (LS)" in out


def test_01_runs_as_a_script():
    env = {**os.environ, "UFM_EXAMPLES_TINY": "1"}
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "01_solve_and_verify.py")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "verdict: verified" in proc.stdout


def test_02_reads_a_report_it_writes_and_one_given(tmp_path, capsys):
    assert run_example("02_read_json_report", ["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "verdict   verified" in out and "theory    f* = 0.14902323154" in out  # theory.md b.8
    assert out.count("verdict") == 1  # its own summary only: ufm.solve's is not printed too
    # and a report given on the command line
    report = tmp_path / "r.json"
    module = load_example("02_read_json_report")
    with jax.enable_x64(False):
        assert module.write_report(str(report), tiny=True) == 0
    capsys.readouterr()
    with jax.enable_x64(False):
        assert module.main([str(report)]) == 0
    assert json.loads(report.read_text())["verdict"] == "verified"
    assert "verdict   verified" in capsys.readouterr().out


def test_03_hessian_and_kappas(capsys):
    assert run_example("03_hessian_and_kappas", ["--tiny"]) == 0
    out = capsys.readouterr().out
    # theory.md c.2 worked example (K = 4, d = 5, n = 3, λ = 5e-3, λ_b = 0), LS α = 0.1
    assert "0.1395176889 ×   3 |   3" in out and "0.0026381895 ×   3 |   3" in out
    assert out.count("zero modes: 10 (theory: 10)") == 2


def test_04_lambda_sweep_plot(tmp_path, capsys):
    png = tmp_path / "sweep.png"
    assert run_example("04_lambda_sweep_plot", ["--tiny", "--out", str(png)]) == 0
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.count("converged") == 8


@pytest.mark.parametrize("stem", ["01_solve_and_verify", "04_lambda_sweep_plot"])
def test_examples_reject_unknown_options(stem):
    with pytest.raises(SystemExit) as exc:
        run_example(stem, ["--no-such-option"])
    assert exc.value.code == 2
