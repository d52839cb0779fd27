"""Reproducible JSON reports: the problem, the versions and the numbers, together.

Non-finite floats (NaN for an undefined metric) are written as JSON ``null``; numpy scalars and
arrays become plain numbers and lists.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
from importlib import metadata
from typing import Any

PACKAGES = ("ufm", "jax", "jaxlib", "optax", "numpy", "scipy", "sympy", "matplotlib")


def versions() -> dict[str, Any]:
    """Python, platform, package versions and the JAX backend/devices."""
    out: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import jax

        out["backend"] = jax.default_backend()
        out["devices"] = [str(d) for d in jax.devices()]
    except Exception as exc:  # the report must still be written
        out["backend"] = f"unavailable: {exc}"
    return out


def to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy/JAX values to JSON types; NaN/inf → None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    try:
        value = float(obj)
    except (TypeError, ValueError):
        return str(obj)
    return value if math.isfinite(value) else None


def dumps(report: dict[str, Any], *, compact: bool = False) -> str:
    """The report as JSON (strict: no NaN tokens): indented, or ``compact`` (no whitespace)."""
    if compact:
        return json.dumps(to_jsonable(report), separators=(",", ":"), allow_nan=False,
                          ensure_ascii=False)
    return json.dumps(to_jsonable(report), indent=2, allow_nan=False)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import (single-threaded): os.umask can only be read by setting it, which is not
# thread-safe, and the sweep writes rows while a worker thread solves.
_UMASK = _read_umask()


def write_json(report: dict[str, Any], path: str, *, compact: bool = False) -> None:
    """Write ``report`` to ``path`` atomically (``-`` means stdout).

    The file gets the mode an ordinary ``open(path, "w")`` would give it (0o666 minus the umask,
    i.e. 0644 under the usual umask 022), not the 0600 of the temporary file it is written to.
    ``compact`` drops all whitespace (separators ``,`` and ``:``; used for the figure data).
    """
    text = dumps(report, compact=compact) + "\n"
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ufm-", suffix=".json")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_writable(path: str) -> str | None:
    """None if ``path`` can be written (``-`` always can), else the reason it cannot."""
    if path == "-":
        return None
    if os.path.isdir(path):
        return "is a directory"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"directory {directory} does not exist"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "is not writable"
    try:  # os.access says yes to root everywhere; only creating a file tells the truth
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".ufm-probe-"):
            pass
    except OSError as exc:
        return f"cannot create files there: {exc.strerror or exc}"
    return None
