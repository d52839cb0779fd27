"""The problem specification: a validated, immutable description of one UFM instance.

The objective it describes is (UFM) of theory.md a.1,

    f(W, H, b) = (1/N) Σ_i ℓ(W h_i + b, y_i) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²,

with W ∈ R^{K×d}, H ∈ R^{d×N} (columns class-major: column k·n + i is sample i of class k for
balanced classes; in general the classes follow each other in order with their own counts),
b ∈ R^K (absent when ``bias=False``) and N = Σ_k n_k.

Static fields (shapes, loss kind, bias on/off) decide what gets compiled; the continuous
hyper-parameters are collected by :meth:`Problem.hyper` into a :class:`Hyper` pytree so that a
change of λ or α never recompiles and sweeps can ``vmap`` over them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

LOSSES = ("ce", "ls", "fl", "mse", "maxsup")
FEATURES = ("free", "nonnegative")
LOSS_NAMES = {
    "ce": "cross-entropy",
    "ls": "label smoothing",
    "fl": "focal loss",
    "mse": "mean squared error",
    "maxsup": "max suppression",
}


class ProblemError(ValueError):
    """A bad problem setting.

    ``str(error)`` is one line that names the setting, the value given and what was expected.
    The CLI maps ``field`` to its flag (``lambda_w`` → ``--lambda-w``).
    """

    def __init__(self, field: str, value: Any, expected: str):
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"{field}={value!r}: expected {expected}")


class Hyper(NamedTuple):
    """The continuous hyper-parameters, as a pytree of scalars (dynamic under ``jit``).

    Attributes map to theory.md notation: ``lambda_w`` = λ_W, ``lambda_h`` = λ_H,
    ``lambda_b`` = λ_b, ``alpha`` = α (LS / MaxSup), ``gamma`` = γ (FL),
    ``target_scale`` = s (MSE target s·e_y).
    """

    lambda_w: Any
    lambda_h: Any
    lambda_b: Any
    alpha: Any
    gamma: Any
    target_scale: Any


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _finite_real(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and (
        math.isfinite(float(x))
    )


@dataclasses.dataclass(frozen=True)
class Problem:
    """One UFM instance (theory.md a.1, a.2).

    Args:
        classes: K ≥ 2.
        per_class: samples per class, an int n ≥ 1 (balanced) or a sequence of K counts ≥ 1.
        dim: feature dimension d ≥ 1.
        loss: one of ``ce, ls, fl, mse, maxsup``.
        lambda_w, lambda_h: weight decays λ_W, λ_H > 0.
        lambda_b: bias decay λ_b ≥ 0 (ignored when ``bias=False``).
        bias: whether the classifier has a bias b.
        alpha: smoothing α ∈ [0, 1) for ``ls`` and ``maxsup``.
        gamma: focusing γ ≥ 0 for ``fl``.
        target_scale: s > 0 for ``mse``, whose per-sample loss is ½‖z − s·e_y‖².
        features: ``free`` (H ∈ R^{d×N}) or ``nonnegative`` (H ≥ 0, theory.md b.7).

    Raises:
        ProblemError: on any invalid setting, naming it.
    """

    classes: int
    per_class: int | tuple[int, ...]
    dim: int
    loss: str = "ce"
    lambda_w: float = 5e-4
    lambda_h: float = 5e-4
    lambda_b: float = 5e-4
    bias: bool = True
    alpha: float = 0.0
    gamma: float = 0.0
    target_scale: float = 1.0
    features: str = "free"

    def __post_init__(self) -> None:
        K = self.classes
        if not _is_int(K) or K < 2:
            raise ProblemError("classes", K, "an integer K >= 2")
        counts = self.per_class
        if _is_int(counts):
            if counts < 1:
                raise ProblemError("per_class", counts, "an integer n >= 1")
            counts = (int(counts),) * K
        elif isinstance(counts, Sequence) and not isinstance(counts, str):
            if len(counts) != K or not all(_is_int(c) and c >= 1 for c in counts):
                raise ProblemError(
                    "per_class", counts, f"an integer n >= 1 or a list of {K} integers >= 1"
                )
            counts = tuple(int(c) for c in counts)
        else:
            raise ProblemError("per_class", counts, "an integer n >= 1 or a list of integers")
        object.__setattr__(self, "classes", int(K))
        object.__setattr__(self, "per_class", counts)
        if not _is_int(self.dim) or self.dim < 1:
            raise ProblemError("dim", self.dim, "an integer d >= 1")
        object.__setattr__(self, "dim", int(self.dim))
        if self.loss not in LOSSES:
            raise ProblemError("loss", self.loss, "one of " + ", ".join(LOSSES))
        if self.features not in FEATURES:
            raise ProblemError("features", self.features, "one of " + ", ".join(FEATURES))
        for name in ("lambda_w", "lambda_h"):
            value = getattr(self, name)
            if not _finite_real(value) or value <= 0:
                raise ProblemError(name, value, "a finite number > 0")
        if not _finite_real(self.lambda_b) or self.lambda_b < 0:
            raise ProblemError("lambda_b", self.lambda_b, "a finite number >= 0")
        if not _finite_real(self.alpha) or not 0 <= self.alpha < 1:
            raise ProblemError("alpha", self.alpha, "a number in [0, 1)")
        if not _finite_real(self.gamma) or self.gamma < 0:
            raise ProblemError("gamma", self.gamma, "a finite number >= 0")
        if not _finite_real(self.target_scale) or self.target_scale <= 0:
            raise ProblemError("target_scale", self.target_scale, "a finite number > 0")
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ProblemError("bias", self.bias, "True or False")
        for name in ("lambda_w", "lambda_h", "lambda_b", "alpha", "gamma", "target_scale"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "bias", bool(self.bias))

    # ----------------------------------------------------------------- derived quantities
    @property
    def K(self) -> int:
        """Number of classes K."""
        return self.classes

    @property
    def d(self) -> int:
        """Feature dimension d."""
        return self.dim

    @property
    def counts(self) -> tuple[int, ...]:
        """Per-class sample counts (n_1, …, n_K)."""
        assert isinstance(self.per_class, tuple)
        return self.per_class

    @property
    def N(self) -> int:
        """Total number of samples N = Σ_k n_k."""
        return sum(self.counts)

    @property
    def balanced(self) -> bool:
        """True when every class has the same count."""
        return len(set(self.counts)) == 1

    @property
    def n(self) -> int | None:
        """The common per-class count n of a balanced problem, else None."""
        return self.counts[0] if self.balanced else None

    @property
    def beta(self) -> float | None:
        """The key scalar β = sqrt(n λ_W λ_H) of theory.md 0 (balanced problems only)."""
        if self.n is None:
            return None
        return math.sqrt(self.n * self.lambda_w * self.lambda_h)

    @property
    def bias_dim(self) -> int:
        """Length of the bias vector: K with a bias, 0 without."""
        return self.classes if self.bias else 0

    @property
    def num_params(self) -> int:
        """P = Kd + dN (+ K with a bias)."""
        return self.K * self.d + self.d * self.N + self.bias_dim

    def labels(self) -> np.ndarray:
        """Class-major labels y ∈ {0, …, K−1}^N as an int32 array."""
        return np.repeat(np.arange(self.K, dtype=np.int32), self.counts)

    def hyper(self, dtype: Any = np.float64) -> Hyper:
        """The continuous hyper-parameters as a :class:`Hyper` of numpy scalars of ``dtype``."""
        cast = np.dtype(dtype).type
        return Hyper(
            cast(self.lambda_w),
            cast(self.lambda_h),
            cast(self.lambda_b if self.bias else 0.0),
            cast(self.alpha if self.loss in ("ls", "maxsup") else 0.0),
            cast(self.gamma if self.loss == "fl" else 0.0),
            cast(self.target_scale),
        )

    def replace(self, **changes: Any) -> Problem:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, JSON-ready; ``per_class`` is an int when balanced, else a list."""
        out = dataclasses.asdict(self)
        out["per_class"] = self.n if self.balanced else list(self.counts)
        out["samples"] = self.N
        out["num_params"] = self.num_params
        out["beta"] = self.beta
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        if isinstance(kwargs.get("per_class"), list):
            kwargs["per_class"] = tuple(kwargs["per_class"])
        return cls(**kwargs)
