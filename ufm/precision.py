"""Floating-point policy: which dtype, and tolerances derived from it.

ufm never changes JAX's global configuration at import. Float64 is enabled only inside the
calls that ask for it (``dtype="float64"``, the default for verification), through the
:func:`x64` context manager, which restores the previous setting on exit.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

DTYPES = {"float64": np.float64, "float32": np.float32}


def dtype_of(name: str | Any) -> np.dtype:
    """The numpy dtype for ``"float64"``/``"float32"`` (or a dtype), else a ValueError."""
    key = np.dtype(name).name if not isinstance(name, str) else name
    if key not in DTYPES:
        raise ValueError(f"dtype={name!r}: expected one of float64, float32")
    return np.dtype(DTYPES[key])


def x64(enabled: bool = True):
    """Context manager that enables (or disables) JAX float64 inside its block only."""
    return jax.enable_x64(enabled)


def eps(dtype: Any) -> float:
    """Machine epsilon of ``dtype``."""
    return float(np.finfo(dtype_of(dtype)).eps)
