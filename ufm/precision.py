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


def enable_compilation_cache() -> str | None:
    """Let command-line entry points reuse compiled solvers across runs (JAX persistent cache).

    Called by the ``python -m ufm.*`` mains only, never at import. The cache lives in
    ``$UFM_JAX_CACHE`` or ``$XDG_CACHE_HOME/ufm/jax`` (default ``~/.cache/ufm/jax``);
    ``UFM_JAX_CACHE=0`` disables it. A first run compiles in a few seconds; later runs of the same
    shapes load in well under a second. Returns the directory used, or None.
    """
    import os

    path = os.environ.get("UFM_JAX_CACHE")
    if path == "0":
        return None
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "ufm", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None  # an unwritable cache only costs compile time
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
