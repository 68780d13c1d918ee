"""SPEC "Loss semantics" at its edges, on every backend (issue 12): weighted means whose denominator is
zero or negative, gradients with respect to dense labels, ``ignore_index`` with labels that hold no
class ids, and the device that ``one_hot(like=)``, ``align`` and ``count_valid`` answer on.

Values and gradients are compared with the float64 oracle (``tests/loss_oracle.py``), and with each
framework's own loss where it has one (PyTorch ``F.cross_entropy``, ``tf.nn`` and optax).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from loss_helpers import as_f64, assert_close, float_input, value_and_grad
from subproc import need, run_worker

rng = np.random.default_rng(20261206)
Z = rng.standard_normal((4, 3)) * 2.0  # (N, C)
IDS_NEG = np.array([0, 0, 1, 0])  # with W_NEG: D = -1 - 1 + 1 - 1 = -2
W_NEG = [-1.0, 1.0, 1.0]
IDS_ZERO = np.array([0, 1, 0, 2])  # with W_NEG: D = -1 + 1 - 1 + 1 = 0
Z_BIN = rng.standard_normal(4) * 2.0
T_BIN = np.array([0.0, 0.0, 0.0, 1.0])  # with [-1, 2]: D = -3 + 2 = -1
W_BIN = [-1.0, 2.0]


def _labels(backend: Any, ids: np.ndarray, fmt: str) -> Any:
    if fmt == "sparse":
        return backend.to_backend(ids, backend.default_int)
    return backend.to_backend(np.eye(3)[ids], "float32")


# --- 1. weighted means with D <= 0 ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["sparse", "one_hot"])
def test_negative_weighted_denominator_is_used_as_it_is(backend: Any, fmt: str) -> None:
    """weight=[-1, 1, 1]: D = Σ w[y_i] = -2 < 0 divides the sum as it is (PyTorch's value), not 0."""
    y = _labels(backend, IDS_NEG, fmt)
    out, grad = value_and_grad(backend, lambda z: lk.cross_entropy(z, y, class_weight=W_NEG), float_input(backend, Z))
    expected = O.sparse(Z, IDS_NEG, class_weight=W_NEG)
    assert float(as_f64(backend, out)) != 0.0
    assert_close(as_f64(backend, out), expected.value, what="value")
    if grad is not None:
        assert_close(grad, expected.grad, what="gradient")
    total = lk.cross_entropy(float_input(backend, Z), y, class_weight=W_NEG, reduction="sum")
    count = lk.count_valid(float_input(backend, Z), y, class_weight=W_NEG)
    assert float(as_f64(backend, count)) == -2.0
    assert_close(as_f64(backend, out), as_f64(backend, total) / as_f64(backend, count), what="mean == sum / D")


def test_negative_weighted_denominator_matches_torch() -> None:
    """The value and gradient of ``F.cross_entropy(weight=[-1, 1, 1])``, which issue 12 measured."""
    from conftest import backend_named

    torch = backend_named("torch").module
    z = torch.tensor(Z, dtype=torch.float32, requires_grad=True)
    y = torch.tensor(IDS_NEG)
    native = torch.nn.functional.cross_entropy(z, y, weight=torch.tensor(W_NEG))
    native.backward()
    native_grad = z.grad.clone()
    z.grad = None
    ours = lk.cross_entropy(z, y, class_weight=W_NEG)
    ours.backward()
    assert_close(float(ours.detach()), float(native.detach()), what="value")
    assert_close(z.grad.numpy(), native_grad.numpy(), what="gradient")


@pytest.mark.parametrize("fmt", ["sparse", "one_hot"])
def test_zero_weighted_denominator_gives_zero_with_zero_gradient(backend: Any, fmt: str) -> None:
    """D = 0 from weights of both signs (torch: inf or NaN) gives 0 with a zero gradient."""
    y = _labels(backend, IDS_ZERO, fmt)
    out, grad = value_and_grad(backend, lambda z: lk.cross_entropy(z, y, class_weight=W_NEG), float_input(backend, Z))
    assert float(as_f64(backend, out)) == 0.0
    if grad is not None:
        np.testing.assert_array_equal(grad, np.zeros(Z.shape))
    assert float(as_f64(backend, lk.count_valid(float_input(backend, Z), y, class_weight=W_NEG))) == 0.0


def test_binary_negative_weighted_denominator_is_used_as_it_is(backend: Any) -> None:
    """Binary ``[w_neg, w_pos] = [-1, 2]``: D = Σ w_0 (1-t) + w_1 t = -1 divides the sum as it is."""
    t = backend.to_backend(T_BIN, "float32")
    out, grad = value_and_grad(
        backend, lambda z: lk.cross_entropy(z, t, class_weight=W_BIN), float_input(backend, Z_BIN)
    )
    expected = O.binary(Z_BIN, T_BIN, class_weight=W_BIN)
    assert_close(as_f64(backend, out), expected.value, what="value")
    if grad is not None:
        assert_close(grad, expected.grad, what="gradient")
    count = lk.count_valid(float_input(backend, Z_BIN), t, class_weight=W_BIN)
    assert float(as_f64(backend, count)) == -1.0


# --- 2. gradients with respect to dense labels -------------------------------------------------------

Z_T = np.array([[1.0, -8.0, 3.0], [0.5, 2.0, -1.0], [-2.0, 0.0, 4.0]])
T_SPARSE_ROWS = np.array([[0.0, 1.0, 0.0], [0.3, 0.0, 0.7], [0.0, 0.0, 1.0]])  # zeros: a sparse teacher


def _native_dense_mean(backend: Any, z: Any, t: Any) -> Any:
    """The framework's own categorical cross-entropy mean (logits, probability rows)."""
    if backend.name == "torch":
        return backend.module.nn.functional.cross_entropy(z, t)
    if backend.name == "tensorflow":
        tf = backend.module
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=z))
    optax = pytest.importorskip("optax")
    return optax.softmax_cross_entropy(z, t).mean()


def test_dense_label_gradient_is_the_natives_at_zero_targets(backend: Any) -> None:
    """Distillation through a sparse teacher: the gradient w.r.t. a zero target is -p_c / N, as in
    optax, PyTorch and TensorFlow, not 0."""
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    z = float_input(backend, Z_T)
    t = float_input(backend, T_SPARSE_ROWS)
    _, ours = value_and_grad(backend, lambda t: lk.cross_entropy(z, t), t)
    _, native = value_and_grad(backend, lambda t: _native_dense_mean(backend, z, t), t)
    assert_close(ours, native, what="vs native")
    assert_close(ours, O.multiclass_target_grad(Z_T, T_SPARSE_ROWS), what="vs oracle")
    assert ours[0, 0] > 0 and ours[0, 2] > 0  # the zero targets of row 0


LABEL_GRAD_CASES = {
    "sum": dict(reduction="sum"),
    "none": dict(reduction="none"),
    "smoothing": dict(label_smoothing=0.2),
    "class_weight": dict(class_weight=[0.5, 2.0, 1.5]),
    "weight-smoothing-sum": dict(class_weight=[0.5, 2.0, 1.5], label_smoothing=0.1, reduction="sum"),
    "probabilities": dict(from_logits=False),
}


@pytest.mark.parametrize("case", list(LABEL_GRAD_CASES))
def test_dense_label_gradient_matches_the_oracle(backend: Any, case: str) -> None:
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    kw = LABEL_GRAD_CASES[case]
    z_np = np.abs(Z_T) + 0.1 if kw.get("from_logits") is False else Z_T
    z = float_input(backend, z_np)
    _, grad = value_and_grad(backend, lambda t: lk.cross_entropy(z, t, **kw), float_input(backend, T_SPARSE_ROWS))
    assert_close(grad, O.multiclass_target_grad(z_np, T_SPARSE_ROWS, **kw), what=case)


def test_dense_label_gradient_channels_first(backend: Any) -> None:
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    z_np = rng.standard_normal((2, 3, 4))
    t_np = np.moveaxis(np.eye(3)[rng.integers(0, 3, (2, 4))], -1, 1) * 0.0
    t_np[:, 1] = 1.0  # every target on class 1: zero targets on the two others
    z = float_input(backend, z_np)
    _, grad = value_and_grad(backend, lambda t: lk.cross_entropy(z, t, axis=1), float_input(backend, t_np))
    assert_close(grad, O.multiclass_target_grad(z_np, t_np, axis=1), what="axis=1")


def test_masked_class_label_gradient_is_zero_and_the_loss_finite(backend: Any) -> None:
    """A -inf logit (a masked class): a zero target there adds 0 to the loss, and its label gradient is
    0; the other classes keep -p_c / N. A target on the masked class gives an infinite loss."""
    z_np = np.array([[1.0, -np.inf, 3.0], [0.0, -np.inf, 0.0]])
    t_np = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    z = float_input(backend, z_np)
    out, grad = value_and_grad(backend, lambda t: lk.cross_entropy(z, t), float_input(backend, t_np))
    assert np.isfinite(float(as_f64(backend, out)))
    assert_close(as_f64(backend, out), O.multiclass(z_np, t_np).value, what="value")
    if grad is not None:
        assert_close(grad, O.multiclass_target_grad(z_np, t_np), what="label gradient")
        assert np.all(grad[:, 1] == 0.0)
    bad = float_input(backend, np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert float(as_f64(backend, lk.cross_entropy(z, bad))) == np.inf


def test_binary_label_gradient_matches_the_oracle(backend: Any) -> None:
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    z = float_input(backend, Z_BIN)
    kw = dict(class_weight=[0.5, 2.0], label_smoothing=0.1)
    _, grad = value_and_grad(backend, lambda t: lk.cross_entropy(z, t, **kw), float_input(backend, T_BIN))
    assert_close(grad, O.binary_target_grad(Z_BIN, T_BIN, **kw), what="binary")


def test_multilabel_label_gradient_matches_the_oracle(backend: Any) -> None:
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    t_np = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    z = float_input(backend, Z_T)
    kw = dict(class_weight=[0.5, 2.0, 1.0])
    _, grad = value_and_grad(
        backend, lambda t: lk.cross_entropy(z, t, task="multilabel", **kw), float_input(backend, t_np)
    )
    assert_close(grad, O.multilabel_target_grad(Z_T, t_np, **kw), what="multilabel")


# --- 3. ignore_index with labels that hold no class ids ----------------------------------------------

DENSE_IGNORE = {
    "one_hot": (Z, np.eye(3)[[0, 2, 1, 2]], {}, r"one-hot or probability rows of shape \(4, 3\)"),
    "probs": (Z, np.full((4, 3), 1 / 3), {}, r"one-hot or probability rows of shape \(4, 3\)"),
    "multi_hot": (Z, np.array([[1, 0, 1]] * 4), {"task": "multilabel"}, r"multi-hot rows of shape \(4, 3\)"),
    "binary": (Z_BIN, T_BIN, {}, r"binary targets of shape \(4,\)"),
}


@pytest.mark.parametrize("case", list(DENSE_IGNORE))
@pytest.mark.parametrize("fn", ["cross_entropy", "count_valid"])
def test_ignore_index_with_rows_is_an_argument_error(backend: Any, case: str, fn: str) -> None:
    z_np, t_np, kw, what = DENSE_IGNORE[case]
    with pytest.raises(lk.ArgumentError, match=rf"ignore_index=2 was given, but the labels are {what}: they hold no "
                       r"class ids .* Drop ignore_index"):
        getattr(lk, fn)(float_input(backend, z_np), backend.to_backend(t_np, "float32"), ignore_index=2, **kw)


@pytest.mark.parametrize("case", list(DENSE_IGNORE))
def test_ignore_index_minus_100_with_rows_changes_nothing(backend: Any, case: str) -> None:
    """PyTorch's default, which ``F.cross_entropy`` with probability targets accepts and ignores."""
    z_np, t_np, kw, _ = DENSE_IGNORE[case]
    z, t = float_input(backend, z_np), backend.to_backend(t_np, "float32")
    with_default = lk.cross_entropy(z, t, ignore_index=-100, **kw)
    assert_close(as_f64(backend, with_default), as_f64(backend, lk.cross_entropy(z, t, **kw)))


def test_ignore_index_with_rows_fix_works(backend: Any) -> None:
    """The fix the message names: class ids (lk.to_sparse) with ignore_index leave the element out."""
    rows = backend.to_backend(np.eye(3)[[0, 2, 1, 2]], "float32")
    z = float_input(backend, Z)
    with pytest.raises(lk.ArgumentError, match=r"pass class ids \(lk.to_sparse\(labels\)\) with ignore_index=2"):
        lk.cross_entropy(z, rows, ignore_index=2)
    out = lk.cross_entropy(z, lk.to_sparse(rows), ignore_index=2)
    assert_close(as_f64(backend, out), O.sparse(Z, np.array([0, 2, 1, 2]), ignore_index=2).value)


# --- 5. results on the logits' device ----------------------------------------------------------------


def _logits_elsewhere(backend: Any) -> tuple[Any, Any]:
    """Logits on another device than the labels (the CPU), and that device; skips where there is none."""
    if backend.name == "torch":
        return backend.module.zeros((4, 3), device="meta"), backend.module.device("meta")
    if backend.name == "jax":
        import jax

        devices = jax.devices()
        if len(devices) < 2:
            pytest.skip("one JAX device in this process: test_jax_results_on_the_logits_device uses two")
        return jax.device_put(np.zeros((4, 3), np.float32), devices[1]), devices[1]
    pytest.skip(f"{backend.name}: every array is on the one CPU device (TensorFlow copies between devices itself)")


def _device(backend: Any, x: Any) -> Any:
    if backend.name == "torch":
        return x.device
    (device,) = x.devices()
    return device


@pytest.mark.parametrize("call", ["one_hot_like", "align_one_hot", "align_sparse", "count_valid", "count_weighted"])
def test_results_land_on_the_logits_device(backend: Any, call: str) -> None:
    """SPEC: every function returns arrays on the logits' device, also when the labels are elsewhere."""
    logits, device = _logits_elsewhere(backend)
    ids = backend.to_backend(np.array([0, 2, 1, 2]), backend.default_int)
    out = {
        "one_hot_like": lambda: lk.one_hot(ids, like=logits),
        "align_one_hot": lambda: lk.align(logits, ids, to="one_hot"),
        "align_sparse": lambda: lk.align(logits, backend.to_backend(np.eye(3)[[0, 2, 1, 2]], "float32"), to="sparse"),
        "count_valid": lambda: lk.count_valid(logits, ids, ignore_index=1),
        "count_weighted": lambda: lk.count_valid(logits, ids, class_weight=[1.0, 2.0, 3.0]),
    }[call]()
    assert _device(backend, out) == device


def test_jax_results_on_the_logits_device() -> None:
    """JAX with two CPU devices (``XLA_FLAGS``, so in a worker process): labels on one, logits on the
    other; ``one_hot(like=)``, ``align`` and ``count_valid`` answer on the logits' device."""
    need("jax")
    result = run_worker("jax_devices_worker.py", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert result["devices"] == 2
    assert result["wrong"] == {}, result["wrong"]
    assert result["checked"] >= 5
