"""Gradient-descent dynamics with NC metrics (theory.md b.9, c.4)."""

import numpy as np
import pytest

from ufm.dynamics import DEFAULT_THRESHOLDS, compare_losses, gradient_descent, iterations_to
from ufm.objective import objective
from ufm.precision import x64
from ufm.spec import Problem


@pytest.fixture(scope="module")
def runs():
    with x64():
        problem = Problem(4, 3, 5, lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3)
        return compare_losses(problem, steps=3000, log_every=50, lr=2.0, seed=3)


def test_runs_reach_the_closed_form_and_collapse(runs):
    for loss, tr in runs.items():
        assert tr.iteration[0] == 0 and tr.iteration[-1] == 3000
        assert np.all(np.diff(tr.iteration) == 50)
        assert tr.rel_gap[-1] < 1e-9, loss  # converged to f* of theory.md b.2/b.3
        assert tr.rel_gap[-1] >= -1e-13, loss  # never below the global minimum (round-off aside)
        assert tr.nc1[-1] < 1e-8 and tr.nc2_w[-1] < 1e-5 and tr.nc2_h[-1] < 1e-5
        assert tr.objective[-1] < tr.objective[0]
        assert set(tr.iterations_to) == set(DEFAULT_THRESHOLDS)
        assert all(v is not None for v in tr.iterations_to.values())


def test_same_start_for_every_loss(runs):
    """Iteration 0 is the same random point for every loss (and for a rerun with that seed)."""
    ce, ls, ms = runs["ce"], runs["ls"], runs["maxsup"]
    assert not np.isclose(ce.objective[0], ls.objective[0])
    with x64():
        problem = Problem(4, 3, 5, lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3)
        again = gradient_descent(problem, steps=0, seed=3)
    assert again.objective[0] == ce.objective[0]
    # MaxSup and LS coincide on the minimiser, and so at the end (theory.md b.4)
    assert abs(ms.objective[-1] - ls.objective[-1]) <= 1e-12


def test_iterations_to_threshold_helper():
    it = np.array([0, 10, 20, 30])
    assert iterations_to(it, np.array([1.0, 0.5, 1e-4, 1e-6]), 1e-3) == 20
    assert iterations_to(it, np.array([1.0, 0.5, 0.4, 0.3]), 1e-3) is None


def test_iterations_are_consistent_with_the_logs(runs):
    tr = runs["ls"]
    for key, value in tr.iterations_to.items():
        t = int(np.flatnonzero(tr.iteration == value)[0])
        series = getattr(tr, key)
        assert series[t] < tr.thresholds[key] and np.all(series[:t] >= tr.thresholds[key])


def test_bad_arguments():
    problem = Problem(3, 2, 3)
    with pytest.raises(ValueError, match="lr=-1"):
        gradient_descent(problem, lr=-1.0)
    with pytest.raises(ValueError, match="log_every=0"):
        gradient_descent(problem, log_every=0)


def test_objective_logged_is_the_objective():
    with x64():
        problem = Problem(3, 2, 3, loss="ls", alpha=0.1, lambda_w=1e-2, lambda_h=1e-2)
        tr = gradient_descent(problem, steps=20, log_every=10, lr=0.5)
        f = float(objective(tr.params, problem.hyper(), problem.labels(), "ls"))
    assert f == pytest.approx(tr.objective[-1], rel=1e-14)


def test_theory_c4_ls_collapses_faster_than_ce():
    """theory.md c.4 setup (K = 10, d = 20, n = 10, λ = 5e-4, η = 1): LS and MaxSup reach the
    NC1, NC2_W and relative-gap thresholds in fewer iterations than CE."""
    with x64():
        problem = Problem(10, 10, 20, lambda_w=5e-4, lambda_h=5e-4, lambda_b=5e-4)
        runs = compare_losses(problem, steps=14_000, log_every=100, lr=1.0, seed=0)
    ce = runs["ce"].iterations_to
    for loss in ("ls", "maxsup"):
        other = runs[loss].iterations_to
        assert other["nc1"] < ce["nc1"]
        assert other["nc2_w"] < ce["nc2_w"]
        assert other["rel_gap"] < ce["rel_gap"]
