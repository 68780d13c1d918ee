"""Shared test machinery: the backend fixture and the hypothesis profiles.

Backends come from ``LABELKIT_TEST_BACKENDS`` (a comma list of ``numpy``, ``torch``, ``tensorflow``,
``jax``). When it is set, every backend it names is tested, and one that cannot be imported FAILS the
tests that use it: CI must never skip silently. When it is unset, every installed backend is tested and
the others are skipped.

Each test that takes the ``backend`` fixture runs once per backend, with ids such as
``[torch-sparse-axis1]``; a test never loops over backends itself. The fixture's value converts
arrays both ways (``backend.to_backend(np_array)``, ``backend.to_numpy(x)``) and names dtypes in the
framework's own terms (``backend.dtype("int64")``).

Hypothesis profiles: ``dev`` (default, quick), ``ci`` (derandomised, more examples; chosen
automatically when ``CI=true``) and ``thorough`` (opt-in); pick one with ``HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ALL_BACKENDS = ("numpy", "torch", "tensorflow", "jax")

# --- hypothesis profiles -------------------------------------------------------------------------

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=_SUPPRESS)
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, print_blob=True, suppress_health_check=_SUPPRESS
)
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=_SUPPRESS)
_default_profile = "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default_profile))


# --- which backends ------------------------------------------------------------------------------


def _requested() -> tuple[tuple[str, ...], bool]:
    """The backends to test, and whether they were requested explicitly."""
    raw = os.environ.get("LABELKIT_TEST_BACKENDS", "").strip()
    if not raw:
        return ALL_BACKENDS, False
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in ALL_BACKENDS]
    if unknown:
        raise pytest.UsageError(
            f"LABELKIT_TEST_BACKENDS names unknown backends {unknown}; expected a comma list of {ALL_BACKENDS}"
        )
    return names, True


BACKENDS, EXPLICIT = _requested()


def pytest_configure(config: pytest.Config) -> None:
    """labelkit/torch.py and labelkit/keras.py import their framework: collect their doctests only when
    it is tested (Keras with the framework ``KERAS_BACKEND`` names)."""
    pkg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labelkit")
    keras = os.environ.get("KERAS_BACKEND", "tensorflow") if installed("keras") else "no keras"
    for module, framework in (("torch.py", "torch"), ("keras.py", keras), ("_keras_metrics.py", keras)):
        if framework not in BACKENDS or not (EXPLICIT or installed(framework)):
            config.option.ignore = [*(config.option.ignore or []), os.path.join(pkg, module)]


def installed(name: str) -> bool:
    return name == "numpy" or importlib.util.find_spec(name) is not None


def require(name: str) -> Any:
    """Imports a backend's framework: skip when it is neither installed nor requested, fail when requested."""
    if name == "numpy":
        return np
    if EXPLICIT and name in BACKENDS:
        try:
            return importlib.import_module(name)
        except Exception as exc:  # a requested backend that cannot load fails the run
            pytest.fail(f"LABELKIT_TEST_BACKENDS requests {name!r}, but it cannot be imported: {exc!r}", pytrace=False)
    if not installed(name):
        pytest.skip(f"{name} is not installed (set LABELKIT_TEST_BACKENDS to require it)")
    return importlib.import_module(name)


# --- per-backend helpers -------------------------------------------------------------------------


@dataclass
class Backend:
    """One framework, as the tests see it: conversions from and to NumPy, and dtype names."""

    name: str
    module: Any = field(repr=False)

    def __str__(self) -> str:
        return self.name

    def to_backend(self, a: Any, dtype: str | None = None) -> Any:
        """A framework array holding the values of the NumPy array (or list) ``a``."""
        a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
        if self.name == "numpy":
            return a.copy()
        if self.name == "torch":
            return self.module.tensor(a)
        if self.name == "tensorflow":
            return self.module.convert_to_tensor(a)
        if self.name == "jax":
            import jax.numpy as jnp

            if a.dtype == np.int64 and not self.x64:
                a = a.astype(np.int32)  # what JAX does without x64; done here to avoid its warning
            return jnp.asarray(a)
        raise AssertionError(self.name)

    def to_numpy(self, x: Any) -> np.ndarray:
        if self.name == "torch":
            return x.detach().cpu().numpy()
        if self.name == "tensorflow":
            return np.asarray(x.numpy())
        return np.asarray(x)

    def dtype(self, name: str) -> Any:
        """The framework's dtype object for a NumPy dtype name."""
        if self.name == "numpy":
            return np.dtype(name)
        if self.name == "torch":
            return getattr(self.module, name)
        if self.name == "tensorflow":
            return self.module.dtypes.as_dtype(name)
        import jax.numpy as jnp

        return jnp.dtype(name)

    def dtype_name(self, x: Any) -> str:
        """The NumPy name of ``x``'s dtype."""
        if self.name == "torch":
            return str(x.dtype).rpartition(".")[2]
        if self.name == "tensorflow":
            return x.dtype.name
        return np.dtype(x.dtype).name

    def is_native(self, x: Any) -> bool:
        """``x`` is an array of this framework (what labelkit must return)."""
        if self.name == "numpy":
            return isinstance(x, np.ndarray)
        if self.name == "torch":
            return isinstance(x, self.module.Tensor)
        if self.name == "tensorflow":
            return isinstance(x, self.module.Tensor)
        import jax

        return isinstance(x, jax.Array)

    @property
    def x64(self) -> bool:
        if self.name != "jax":
            return True
        import jax

        return bool(jax.config.jax_enable_x64)

    def canonical(self, dtype: str) -> str:
        """The dtype an array asked for as ``dtype`` gets (JAX without x64 has no 64-bit types)."""
        if self.name == "jax" and not self.x64:
            return {"float64": "float32", "int64": "int32", "uint64": "uint32", "complex128": "complex64"}.get(
                dtype, dtype
            )
        return dtype

    @property
    def default_int(self) -> str:
        """The integer dtype labelkit returns ids in (int32 on JAX without x64)."""
        return "int64" if self.x64 else "int32"


_HELPERS: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    if name not in _HELPERS:
        _HELPERS[name] = Backend(name, require(name))
    return _HELPERS[name]


@pytest.fixture(scope="session", params=BACKENDS, ids=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each requested backend in turn (session-scoped, so hypothesis tests may take it)."""
    return get_backend(request.param)


@pytest.fixture(scope="session", params=[b for b in BACKENDS if b != "numpy"] or ["none"],
                ids=[b for b in BACKENDS if b != "numpy"] or ["none"])
def framework(request: pytest.FixtureRequest) -> Backend:
    """Each requested backend other than NumPy (for conversion and tracing tests)."""
    if request.param == "none":
        pytest.skip("no framework backend requested")
    return get_backend(request.param)


def backend_named(name: str) -> Backend:
    """A specific backend, for tests about one framework: skipped unless requested and installed."""
    if name not in BACKENDS:
        pytest.skip(f"{name} is not among LABELKIT_TEST_BACKENDS")
    return get_backend(name)


@pytest.fixture
def np_backend() -> Backend:
    return get_backend("numpy")
