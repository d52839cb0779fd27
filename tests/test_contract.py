"""The public API: every exported name is documented, and importing ufm changes no JAX config."""

import subprocess
import sys

import ufm


def test_every_public_symbol_has_a_docstring():
    for name in ufm.__all__:
        obj = getattr(ufm, name)
        if name.startswith("__") or name == "LOSSES":
            continue
        assert (obj.__doc__ or "").strip(), f"ufm.{name} has no docstring"


def test_import_does_not_enable_x64():
    code = "import jax, ufm, ufm.solve, ufm.figures; print(jax.config.jax_enable_x64)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
