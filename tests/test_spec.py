"""Problem validation: every bad setting is rejected with a message naming it."""

import math

import numpy as np
import pytest

from ufm.spec import Problem, ProblemError


def test_balanced_defaults_and_derived():
    p = Problem(4, 3, 6)
    assert p.counts == (3, 3, 3, 3) and p.N == 12 and p.n == 3 and p.balanced
    assert p.beta == pytest.approx(math.sqrt(3 * 5e-4 * 5e-4), rel=1e-15)
    assert p.num_params == 4 * 6 + 6 * 12 + 4
    np.testing.assert_array_equal(p.labels(), np.repeat(np.arange(4), 3))


def test_imbalanced_counts():
    p = Problem(3, (5, 2, 1), 4, bias=False)
    assert p.N == 8 and p.n is None and p.beta is None and not p.balanced
    assert p.bias_dim == 0 and p.num_params == 3 * 4 + 4 * 8
    np.testing.assert_array_equal(p.labels(), [0, 0, 0, 0, 0, 1, 1, 2])


def test_hyper_zeroes_unused_settings():
    h = Problem(3, 2, 2, loss="ce", alpha=0.3, gamma=2.0, bias=False, lambda_b=0.7).hyper()
    assert h.alpha == 0 and h.gamma == 0 and h.lambda_b == 0
    h = Problem(3, 2, 2, loss="ls", alpha=0.3).hyper(np.float32)
    assert h.alpha == np.float32(0.3) and h.alpha.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(classes=1), "classes"),
        (dict(classes=2.5), "classes"),
        (dict(per_class=0), "per_class"),
        (dict(per_class=(3, 0, 3, 3)), "per_class"),
        (dict(per_class=(3, 3)), "per_class"),
        (dict(dim=0), "dim"),
        (dict(loss="hinge"), "loss"),
        (dict(lambda_w=-1e-3), "lambda_w"),
        (dict(lambda_h=0.0), "lambda_h"),
        (dict(lambda_h=float("nan")), "lambda_h"),
        (dict(lambda_w=float("inf")), "lambda_w"),
        (dict(lambda_b=-1.0), "lambda_b"),
        (dict(alpha=1.0), "alpha"),
        (dict(alpha=-0.1), "alpha"),
        (dict(gamma=-1.0), "gamma"),
        (dict(target_scale=0.0), "target_scale"),
        (dict(features="relu"), "features"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    base = dict(classes=4, per_class=3, dim=6)
    with pytest.raises(ProblemError) as info:
        Problem(**{**base, **kwargs})
    assert info.value.field == field
    message = str(info.value)
    assert "\n" not in message and message.startswith(field) and "expected" in message


def test_roundtrip_dict():
    p = Problem(3, (4, 2, 2), 5, loss="fl", gamma=2.0)
    assert Problem.from_dict(p.to_dict()) == p
