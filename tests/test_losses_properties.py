"""Property tests: over shapes, label formats, dtypes, smoothing, class weights, ignore ids, reductions and
``from_logits``, every backend agrees with the float64 oracle (``tests/loss_oracle.py``) — the value and
the gradient with respect to the logits (``torch.autograd``, ``tf.GradientTape``, ``jax.grad``; NumPy:
the value only). Float32 tolerance: rtol 1e-5, atol 1e-6. Half-precision logits are computed in float32,
so their loss meets the same tolerance against the oracle run on the half-precision values; only their
gradient (returned in half precision) is compared more loosely.

Example counts come from the hypothesis profile (``tests/conftest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import labelkit as lk
import loss_oracle as O
from loss_helpers import as_f64, assert_close, float_input, is_native, value_and_grad
from strategies import LabelCase, class_ids, label_cases

REDUCTIONS = ("mean", "sum", "none")
LOGITS_DTYPES = ("float32", "float64", "float16", "bfloat16")


@dataclass
class LossOptions:
    """The keyword arguments of one drawn loss call, and the logits' dtype."""

    reduction: str
    label_smoothing: float
    weights: list[float] | None
    from_logits: bool
    dtype: str

    def kwargs(self, case: LabelCase) -> dict[str, Any]:
        kw: dict[str, Any] = {"reduction": self.reduction, "label_smoothing": self.label_smoothing,
                              "from_logits": self.from_logits, "axis": case.axis, "task": case.task}
        if self.weights is not None:
            kw["class_weight"] = self.weights
        if case.ignore_index is not None:
            kw["ignore_index"] = case.ignore_index
        return kw


@st.composite
def loss_options(draw: Any, case: LabelCase, backend: Any) -> LossOptions:
    n_weights = 2 if case.fmt == "binary" else case.num_classes
    weights = draw(st.none() | st.lists(st.floats(0.25, 4.0), min_size=n_weights, max_size=n_weights))
    return LossOptions(
        reduction=draw(st.sampled_from(REDUCTIONS)),
        label_smoothing=draw(st.sampled_from([0.0, 0.1]) | st.floats(0.0, 1.0)),
        weights=weights,
        from_logits=draw(st.booleans()),
        dtype=draw(st.sampled_from([d for d in LOGITS_DTYPES if backend.name != "numpy" or d != "bfloat16"])),
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def inputs_for(case: LabelCase, opts: LossOptions) -> np.ndarray:
    """The logits, or probabilities for ``from_logits=False`` (multiclass rows left unnormalised)."""
    z = case.logits.astype(np.float64)
    if opts.from_logits:
        return z
    if case.fmt in ("binary", "multilabel"):
        return _sigmoid(z)
    e = np.exp(z - z.max(axis=case.axis, keepdims=True))
    return 2.0 * e / e.sum(axis=case.axis, keepdims=True)


def oracle_for(case: LabelCase, opts: LossOptions, x: np.ndarray) -> O.Result:
    """The oracle's loss for a drawn case, with ``x`` the values the backend holds."""
    kw = {"from_logits": opts.from_logits, "label_smoothing": opts.label_smoothing,
          "class_weight": opts.weights, "reduction": opts.reduction}
    labels = case.labels
    if case.fmt in ("sparse", "column"):
        ids = np.squeeze(labels, axis=case.axis % x.ndim) if case.fmt == "column" else labels
        return O.sparse(x, ids, axis=case.axis, ignore_index=case.ignore_index, **kw)
    if case.fmt in ("one_hot", "probs"):
        return O.multiclass(x, labels, axis=case.axis, **kw)
    if case.fmt == "multilabel":
        return O.multilabel(x, labels, axis=case.axis, **kw)
    # binary: one logit per element, labels of the batch shape or of the logits' shape
    t = labels.astype(np.float64).reshape(-1)
    res = O.binary(x.reshape(-1), t, **kw)
    s = [d for i, d in enumerate(x.shape) if i != case.axis % x.ndim] if x.ndim > 1 else list(x.shape)
    value = res.value.reshape(s) if opts.reduction == "none" else res.value
    return O.Result(value, res.grad.reshape(x.shape))


def one_hot_rows(case: LabelCase) -> np.ndarray:
    """float32 one-hot rows of a sparse case's ids, the class axis where the logits have it."""
    ax = case.axis % case.logits.ndim
    ids = np.squeeze(case.labels, axis=ax) if case.fmt == "column" else case.labels
    return np.moveaxis(np.eye(case.num_classes, dtype="float32")[ids.astype(np.int64)], -1, ax)


def _half(dtype: str) -> bool:
    return dtype in ("float16", "bfloat16")


@given(data=st.data())
def test_loss_and_gradient_match_the_float64_oracle(backend: Any, data: st.DataObject) -> None:
    case = data.draw(label_cases(), label="case")
    opts = data.draw(loss_options(case, backend), label="options")
    x = float_input(backend, inputs_for(case, opts), opts.dtype)
    y = backend.to_backend(case.labels)
    out, grad = value_and_grad(backend, lambda v: lk.cross_entropy(v, y, **opts.kwargs(case)), x)
    expected = oracle_for(case, opts, as_f64(backend, x))

    assert is_native(backend, out)
    held = backend.dtype_name(x)
    assert backend.dtype_name(out) == O.loss_dtype(held)
    assert_close(as_f64(backend, out), expected.value, what="loss")
    if grad is not None:
        if _half(held):  # the gradient comes back in the logits' half precision
            scale = float(np.max(np.abs(expected.grad), initial=0.0))
            assert_close(grad, expected.grad, rtol=2e-2, atol=1e-2 * scale + 1e-6, what="gradient")
        else:
            assert_close(grad, expected.grad, what="gradient")
    if case.fmt in ("sparse", "column") and case.ignore_index is None:
        # metamorphic: the ids' one-hot rows give the same loss (weights and smoothing included)
        rows = backend.to_backend(one_hot_rows(case))
        assert_close(as_f64(backend, lk.cross_entropy(x, rows, **opts.kwargs(case))), as_f64(backend, out),
                     what="one-hot")


@given(data=st.data())
def test_unchecked_ids_out_of_range_give_nan_exactly_there(backend: Any, data: st.DataObject) -> None:
    """check_values=False (as while tracing): an id outside [0, C) is NaN for its element, never wrapped."""
    c = data.draw(st.sampled_from([2, 3, 5]), label="C")
    n = data.draw(st.sampled_from([1, 2, 3, 6]), label="N")
    dtype = data.draw(st.sampled_from(["int64", "int32", "int8", "float32"]), label="ids dtype")
    ids = data.draw(class_ids((n,), c, dtype, ignore_index=-100, valid=False), label="ids")
    smoothing = data.draw(st.sampled_from([0.0, 0.2]), label="label_smoothing")
    weights = data.draw(st.none() | st.just([1.0 + k for k in range(c)]), label="class_weight")
    logits = np.random.default_rng(n * 7 + c).standard_normal((n, c)).astype("float32")
    out = lk.cross_entropy(
        float_input(backend, logits), backend.to_backend(ids), reduction="none", check_values=False,
        ignore_index=-100, label_smoothing=smoothing, class_weight=weights,
    )
    expected = O.sparse(logits, ids, ignore_index=-100, label_smoothing=smoothing, class_weight=weights,
                        reduction="none").value
    assert_close(as_f64(backend, out), expected)
    bad = (ids.astype(np.int64) != -100) & ((ids.astype(np.int64) < 0) | (ids.astype(np.int64) >= c))
    assert np.array_equal(np.isnan(as_f64(backend, out)), bad)
