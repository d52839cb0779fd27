"""Shared test configuration.

* Every test runs with JAX float64 enabled through a context manager that restores the previous
  setting afterwards (never a global flip at import).
* Hypothesis profiles: ``dev`` (default, few examples) and ``ci`` (more), both without deadline.
"""

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=12, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci", max_examples=25, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield
