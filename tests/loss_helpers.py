"""Helpers the loss tests share: building float inputs of any dtype on a backend, reading them back as
float64, and a loss's value and gradient through each framework's own autodiff.

These take the ``backend`` fixture's value (``tests/conftest.py``) and never loop over backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

RTOL, ATOL = 1e-5, 1e-6  # SPEC's float32 tolerance against the float64 oracle


def float_input(backend: Any, a: Any, dtype: str = "float32") -> Any:
    """``a`` as a ``dtype`` array of the backend (bfloat16 included where the framework has it)."""
    a = np.asarray(a, dtype=np.float64)
    if backend.name == "numpy":
        if dtype == "bfloat16":
            pytest.skip("NumPy has no bfloat16")
        return a.astype(dtype)
    if backend.name == "torch":
        torch = backend.module
        return torch.tensor(a).to(getattr(torch, dtype))
    if backend.name == "tensorflow":
        tf = backend.module
        return tf.cast(tf.convert_to_tensor(a), dtype)
    import jax.numpy as jnp

    if dtype == "float64" and not backend.x64:
        dtype = "float32"  # what JAX holds without x64
    return jnp.asarray(a.astype(np.float32) if dtype != "float64" else a).astype(dtype)


def as_f64(backend: Any, x: Any) -> np.ndarray:
    """The values of a backend array (any float dtype, bfloat16 included) as a float64 NumPy array."""
    if backend.name == "torch":
        return x.detach().to(backend.module.float64).cpu().numpy()
    if backend.name == "tensorflow":
        tf = backend.module
        return tf.cast(x, tf.float64).numpy()
    if backend.name == "jax":
        import jax.numpy as jnp

        return np.asarray(x.astype(jnp.float32) if x.dtype == jnp.bfloat16 else x).astype(np.float64)
    return np.asarray(x, dtype=np.float64)


def value_and_grad(backend: Any, fn: Callable[[Any], Any], x: Any) -> tuple[Any, np.ndarray | None]:
    """``fn(x)`` (a backend array) and the gradient of ``Σ fn(x)`` with respect to ``x`` as float64.

    The gradient comes from the framework's autodiff: ``torch.autograd`` (through ``.backward()``, as a
    training loop calls it, so a loss cut off from the logits fails here), ``tf.GradientTape`` and
    ``jax.value_and_grad``. NumPy has none: the gradient is ``None``.
    """
    if backend.name == "numpy":
        return fn(x), None
    if backend.name == "torch":
        x = x.detach().clone().requires_grad_(True)
        out = fn(x)
        out.sum().backward()
        assert x.grad is not None, "the loss does not reach the logits in the autograd graph"
        return out.detach(), as_f64(backend, x.grad)
    if backend.name == "tensorflow":
        tf = backend.module
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
            total = tf.reduce_sum(out)
        grad = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return out, as_f64(backend, grad)
    import jax
    import jax.numpy as jnp

    def total(v: Any) -> tuple[Any, Any]:
        out = fn(v)
        return jnp.sum(out), out

    (_, out), grad = jax.value_and_grad(total, has_aux=True)(x)
    return out, as_f64(backend, grad)


def is_native(backend: Any, x: Any) -> bool:
    """``x`` is an array of the backend's framework (for NumPy, a NumPy scalar counts, as ``np.sum`` gives)."""
    return backend.is_native(x) or (backend.name == "numpy" and isinstance(x, np.generic))


def assert_close(actual: Any, expected: Any, *, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    """NaN where the oracle has NaN, and the float32 tolerance elsewhere."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what} shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
