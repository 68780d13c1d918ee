"""The losses on every backend against the float64 oracle (``tests/loss_oracle.py``), rule by rule of SPEC
"Loss semantics", plus the metamorphic laws, dtypes, empty and all-ignored batches, argument errors and
``lk.select_loss``.

``CASES`` maps a readable id to one call: logits, labels, keyword arguments, the labelkit function and
the oracle that must agree with it (float32: rtol 1e-5, atol 1e-6), for the value and for the gradient
with respect to the logits (NumPy: the value only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from loss_helpers import as_f64, assert_close, float_input, is_native, value_and_grad

REDUCTIONS = ("mean", "sum", "none")

rng = np.random.default_rng(20240601)
Z = rng.standard_normal((6, 5)) * 2.0  # (N, C) logits
IDS = np.array([0, 3, 4, 1, 2, 3])
IGNORED = np.array([0, -100, 4, 1, -100, 3])
W5 = [0.5, 1.0, 2.0, 1.5, 3.0]
Z_SEQ = rng.standard_normal((2, 3, 5))  # (N, T, C)
IDS_SEQ = np.array([[0, 4, 2], [1, 1, 3]])
Z_NCHW = rng.standard_normal((2, 5, 3, 4))  # channels-first (N, C, H, W)
IDS_NHW = rng.integers(0, 5, size=(2, 3, 4))
Z_BIN = rng.standard_normal(6) * 3.0
T_BIN = np.array([0, 1, 1, 0, 1, 0])
T_SOFT = np.array([0.0, 0.25, 1.0, 0.5, 0.9, 0.1])
Z_ML = rng.standard_normal((5, 4)) * 2.0
T_ML = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0], [1, 0, 0, 1]])
W4 = [1.0, 2.0, 0.5, 3.0]
Z_300 = rng.standard_normal((4, 300))
IDS_300 = np.array([44, 156, 255, 0])  # as uint8 with ignore_index=-100: nothing is ignored
IDS_300_INT8 = np.array([100, -100, 127, 5])


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _one_hot(ids: np.ndarray, c: int, axis: int = -1) -> np.ndarray:
    ids = np.asarray(ids)
    rows = np.zeros(ids.shape + (c,))
    np.put_along_axis(rows, ids[..., None], 1.0, axis=-1)
    return np.moveaxis(rows, -1, axis)


SOFT = _softmax(rng.standard_normal((6, 5)))  # probability rows
ONE_HOT = _one_hot(IDS, 5)
# Probabilities for from_logits=False: rows that do not sum to 1 (renormalised), one below the clip.
PROBS_IN = _softmax(Z) * 3.0
PROBS_IN[1, 3] = 1e-9
SIGMOID_IN = 1.0 / (1.0 + np.exp(-Z_BIN))


@dataclass(frozen=True)
class Case:
    """One loss call and the oracle that must agree with it (called with the logits' held values)."""

    logits: np.ndarray
    labels: Any
    oracle: Callable[..., O.Result]
    kwargs: dict[str, Any] = field(default_factory=dict)
    fn: Callable[..., Any] = lk.cross_entropy
    dtype: str = "float32"
    labels_dtype: str | None = None


def sparse(ids: Any, **kw: Any) -> Callable[..., O.Result]:
    return lambda x, r: O.sparse(x, np.asarray(ids), reduction=r, **kw)


def dense(t: Any, **kw: Any) -> Callable[..., O.Result]:
    return lambda x, r: O.multiclass(x, t, reduction=r, **kw)


def binary(t: Any, **kw: Any) -> Callable[..., O.Result]:
    def run(x: np.ndarray, r: str) -> O.Result:
        res = O.binary(x.reshape(np.shape(t)), t, reduction=r, **kw)
        return O.Result(res.value, res.grad.reshape(x.shape))

    return run


def multilabel(t: Any, **kw: Any) -> Callable[..., O.Result]:
    return lambda x, r: O.multilabel(x, t, reduction=r, **kw)


SM = {"label_smoothing": 0.2}
CW = {"class_weight": W5}
IG = {"ignore_index": -100}

CASES: dict[str, Case] = {
    # sparse ids (the fused path without smoothing)
    "sparse": Case(Z, IDS, sparse(IDS)),
    "sparse-smooth": Case(Z, IDS, sparse(IDS, **SM), SM),
    "sparse-weight": Case(Z, IDS, sparse(IDS, **CW), CW),
    "sparse-weight-smooth": Case(Z, IDS, sparse(IDS, **CW, **SM), {**CW, **SM}),
    "sparse-ignore": Case(Z, IGNORED, sparse(IGNORED, **IG), IG),
    "sparse-ignore-smooth": Case(Z, IGNORED, sparse(IGNORED, **IG, **SM), {**IG, **SM}),
    "sparse-ignore-weight-smooth": Case(Z, IGNORED, sparse(IGNORED, **IG, **CW, **SM), {**IG, **CW, **SM}),
    "sparse-ignore-a-class": Case(Z, IDS, sparse(IDS, ignore_index=3, **CW), {"ignore_index": 3, **CW}),
    "sparse-ignore-float-ids": Case(Z, IGNORED, sparse(IGNORED, **IG, **SM), {**IG, **SM}, labels_dtype="float32"),
    "sparse-int8": Case(Z, IDS, sparse(IDS), labels_dtype="int8"),
    "sparse-uint8": Case(Z, IDS, sparse(IDS), labels_dtype="uint8"),
    "sparse-int32": Case(Z, IDS, sparse(IDS), labels_dtype="int32"),
    "sparse-float-ids": Case(Z, IDS, sparse(IDS), labels_dtype="float32"),
    # C > 255: a narrow id dtype must not wrap the comparison with C (torch: uint8 `< 300` is `< 44`)
    "sparse-uint8-C300": Case(Z_300, IDS_300, sparse(IDS_300, **IG), IG, labels_dtype="uint8"),
    "sparse-int8-C300": Case(Z_300, IDS_300_INT8, sparse(IDS_300_INT8, **IG), IG, labels_dtype="int8"),
    "sparse-bool": Case(Z[:, :2], IDS % 2 == 1, sparse(IDS % 2)),
    "sparse-probs": Case(PROBS_IN, IDS, sparse(IDS, from_logits=False), {"from_logits": False}),
    "sparse-probs-weight-smooth": Case(
        PROBS_IN, IDS, sparse(IDS, from_logits=False, **CW, **SM), {"from_logits": False, **CW, **SM}
    ),
    "column": Case(Z, IDS[:, None], sparse(IDS)),
    "column-weight-smooth": Case(Z, IDS[:, None], sparse(IDS, **CW, **SM), {**CW, **SM}),
    "sparse-seq": Case(Z_SEQ, IDS_SEQ, sparse(IDS_SEQ)),
    "column-seq": Case(Z_SEQ, IDS_SEQ[..., None], sparse(IDS_SEQ)),
    "sparse-axis1": Case(Z_NCHW, IDS_NHW, sparse(IDS_NHW, axis=1), {"axis": 1}),
    "sparse-axis1-smooth-weight": Case(
        Z_NCHW, IDS_NHW, sparse(IDS_NHW, axis=1, **SM, **CW), {"axis": 1, **SM, **CW}
    ),
    "column-axis1": Case(Z_NCHW, IDS_NHW[:, None], sparse(IDS_NHW, axis=1), {"axis": 1}),
    # dense rows
    "one_hot": Case(Z, ONE_HOT, dense(ONE_HOT)),
    "one_hot-int32": Case(Z, ONE_HOT, dense(ONE_HOT), labels_dtype="int32"),
    "one_hot-smooth": Case(Z, ONE_HOT, dense(ONE_HOT, **SM), SM),
    "one_hot-weight": Case(Z, ONE_HOT, dense(ONE_HOT, **CW), CW),
    "one_hot-weight-smooth": Case(Z, ONE_HOT, dense(ONE_HOT, **CW, **SM), {**CW, **SM}),
    "probs": Case(Z, SOFT, dense(SOFT)),
    "probs-smooth": Case(Z, SOFT, dense(SOFT, **SM), SM),
    "probs-weight": Case(Z, SOFT, dense(SOFT, **CW), CW),
    "probs-from-probs": Case(PROBS_IN, SOFT, dense(SOFT, from_logits=False), {"from_logits": False}),
    "dense-axis1": Case(
        Z_NCHW, _one_hot(IDS_NHW, 5, 1), dense(_one_hot(IDS_NHW, 5, 1), axis=1, **CW), {"axis": 1, **CW}
    ),
    "dense-seq-smooth": Case(Z_SEQ, _one_hot(IDS_SEQ, 5), dense(_one_hot(IDS_SEQ, 5), **SM), SM),
    # binary: one logit per element
    "binary-(N,)": Case(Z_BIN, T_BIN, binary(T_BIN)),
    "binary-(N,)-(N,1)": Case(Z_BIN, T_BIN[:, None], binary(T_BIN)),
    "binary-(N,1)-(N,)": Case(Z_BIN[:, None], T_BIN, binary(T_BIN)),
    "binary-(N,1)-(N,1)": Case(Z_BIN[:, None], T_BIN[:, None], binary(T_BIN)),
    "binary-(N,T,1)": Case(Z_SEQ[..., :1], IDS_SEQ % 2, binary(IDS_SEQ % 2)),
    "binary-bool": Case(Z_BIN, T_BIN == 1, binary(T_BIN)),
    "binary-soft": Case(Z_BIN, T_SOFT, binary(T_SOFT)),
    "binary-smooth": Case(Z_BIN, T_BIN, binary(T_BIN, label_smoothing=0.2), SM),
    "binary-weight": Case(Z_BIN, T_BIN, binary(T_BIN, class_weight=[0.3, 2.0]), {"class_weight": [0.3, 2.0]}),
    "binary-weight-smooth-soft": Case(
        Z_BIN, T_SOFT, binary(T_SOFT, class_weight=[0.3, 2.0], **SM), {"class_weight": [0.3, 2.0], **SM}
    ),
    "binary-probs": Case(SIGMOID_IN, T_SOFT, binary(T_SOFT, from_logits=False), {"from_logits": False}),
    "binary-probs-clipped": Case(
        np.array([0.0, 1.0, 0.5, 1.0]),
        np.array([1, 0, 1, 1]),
        binary(np.array([1, 0, 1, 1]), from_logits=False),
        {"from_logits": False},
        dtype="float64",  # 1 - 1e-7 is not a float32 number
    ),
    "binary-task": Case(Z_BIN[:, None], T_BIN, binary(T_BIN), {"task": "binary"}),
    # multilabel: a sigmoid per class
    "multilabel": Case(Z_ML, T_ML, multilabel(T_ML), {"task": "multilabel"}),
    "multilabel-weight": Case(
        Z_ML, T_ML, multilabel(T_ML, class_weight=W4), {"task": "multilabel", "class_weight": W4}
    ),
    "multilabel-smooth": Case(Z_ML, T_ML, multilabel(T_ML, **SM), {"task": "multilabel", **SM}),
    "multilabel-probs": Case(
        1.0 / (1.0 + np.exp(-Z_ML)), T_ML, multilabel(T_ML, from_logits=False),
        {"task": "multilabel", "from_logits": False},
    ),
    "multilabel-axis1": Case(
        np.moveaxis(Z_ML[None], 2, 1), np.moveaxis(T_ML[None], 2, 1),
        multilabel(np.moveaxis(T_ML[None], 2, 1), axis=1), {"task": "multilabel", "axis": 1},
    ),
    # the format fixed, as in Keras
    "scce-column": Case(Z, IDS[:, None], sparse(IDS), fn=lk.sparse_categorical_crossentropy),
    "scce-ignore-weight": Case(Z, IGNORED, sparse(IGNORED, **IG, **CW), {**IG, **CW},
                               fn=lk.sparse_categorical_crossentropy),
    "cce-probs-smooth": Case(Z, SOFT, dense(SOFT, **SM), SM, fn=lk.categorical_crossentropy),
    "cce-one_hot-axis1": Case(
        Z_NCHW, _one_hot(IDS_NHW, 5, 1), dense(_one_hot(IDS_NHW, 5, 1), axis=1), {"axis": 1},
        fn=lk.categorical_crossentropy,
    ),
    "bce-binary-weight": Case(
        Z_BIN, T_BIN, binary(T_BIN, class_weight=[2.0, 0.5]), {"class_weight": [2.0, 0.5]},
        fn=lk.binary_crossentropy,
    ),
    "bce-(N,1)": Case(Z_BIN[:, None], T_BIN[:, None], binary(T_BIN), fn=lk.binary_crossentropy),
    "bce-multilabel": Case(Z_ML, T_ML, multilabel(T_ML, **SM), SM, fn=lk.binary_crossentropy),
}


def _labels(case: Case) -> np.ndarray:
    labels = np.asarray(case.labels)
    return labels.astype(case.labels_dtype) if case.labels_dtype else labels


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_loss_and_gradient_match_the_oracle(backend: Any, name: str, reduction: str) -> None:
    case = CASES[name]
    if case.dtype == "float64" and not backend.x64:
        pytest.skip("float64 needs jax_enable_x64")
    x = float_input(backend, case.logits, case.dtype)
    y = backend.to_backend(_labels(case))
    out, grad = value_and_grad(backend, lambda v: case.fn(v, y, reduction=reduction, **case.kwargs), x)
    expected = case.oracle(as_f64(backend, x), reduction)
    assert is_native(backend, out)
    assert backend.dtype_name(out) == case.dtype
    assert_close(as_f64(backend, out), expected.value, what="loss")
    if grad is not None:
        assert_close(grad, expected.grad, what="gradient")


def test_oracle_gradients_are_the_derivatives_of_its_losses() -> None:
    """The oracle's analytic gradients against central differences of its own losses (float64)."""

    def numeric(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
        g = np.zeros_like(x)
        for pos in np.ndindex(*x.shape):
            h = 1e-6 * max(abs(x[pos]), 1e-2)  # relative steps never cross the clip at 1e-7
            up, down = x.copy(), x.copy()
            up[pos] += h
            down[pos] -= h
            g[pos] = (f(up) - f(down)) / (2 * h)
        return g

    for name in ("sparse-ignore-weight-smooth", "sparse-probs-weight-smooth", "probs-from-probs",
                 "dense-axis1", "binary-weight-smooth-soft", "binary-probs", "multilabel-weight"):
        case = CASES[name]
        x = np.asarray(case.logits, dtype=np.float64)
        res = case.oracle(x, "mean")
        np.testing.assert_allclose(
            res.grad, numeric(lambda v, c=case: float(c.oracle(v, "mean").value), x), rtol=1e-5, atol=1e-7,
            err_msg=name,
        )


# --- metamorphic laws ----------------------------------------------------------------------------


def _loss(backend: Any, logits: np.ndarray, labels: Any, fn: Callable[..., Any] = lk.cross_entropy, **kw: Any):
    out = fn(float_input(backend, logits), backend.to_backend(np.asarray(labels)), **kw)
    assert is_native(backend, out)
    return as_f64(backend, out)


LAYOUTS = {
    "NC": (Z, IDS, -1),
    "NTC": (Z_SEQ, IDS_SEQ, -1),
    "axis1": (Z_NCHW, IDS_NHW, 1),
}


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_column_labels_equal_sparse_labels(backend: Any, layout: str, reduction: str) -> None:
    logits, ids, axis = LAYOUTS[layout]
    column = np.expand_dims(ids, axis % logits.ndim)
    kw = {"axis": axis, "reduction": reduction, "class_weight": W5, "label_smoothing": 0.1}
    np.testing.assert_array_equal(_loss(backend, logits, column, **kw), _loss(backend, logits, ids, **kw))


AXIS1 = {
    "sparse": (IDS_NHW, {}),
    "sparse-ignore-smooth": (np.where(IDS_NHW == 2, -1, IDS_NHW), {"ignore_index": -1, "label_smoothing": 0.1}),
    "one_hot-weight": (_one_hot(IDS_NHW, 5, 1), {"class_weight": W5}),
    "multilabel": (_one_hot(IDS_NHW, 5, 1) + _one_hot((IDS_NHW + 1) % 5, 5, 1), {"task": "multilabel"}),
}


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("fmt", list(AXIS1))
def test_axis1_equals_moveaxis(backend: Any, fmt: str, reduction: str) -> None:
    labels, kw = AXIS1[fmt]
    moved_labels = labels if labels.ndim == 3 else np.moveaxis(labels, 1, -1)
    first = _loss(backend, Z_NCHW, labels, axis=1, reduction=reduction, **kw)
    last = _loss(backend, np.moveaxis(Z_NCHW, 1, -1), moved_labels, reduction=reduction, **kw)
    assert_close(first, last)


def test_binary_axis1_equals_moveaxis(backend: Any) -> None:
    z = Z_NCHW[:, :1]
    t = (IDS_NHW % 2).astype("float32")
    first = _loss(backend, z, t, axis=1, reduction="none", label_smoothing=0.1, class_weight=[1.0, 3.0])
    last = _loss(backend, np.moveaxis(z, 1, -1), t, reduction="none", label_smoothing=0.1, class_weight=[1.0, 3.0])
    assert_close(first, last)


SPARSE_VS_ONE_HOT = {
    "plain": {},
    "weight": CW,
    "smooth": SM,
    "weight-smooth": {**CW, **SM},
    "probs-input": {"from_logits": False, **CW},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", list(SPARSE_VS_ONE_HOT))
def test_sparse_labels_equal_their_one_hot(backend: Any, options: str, reduction: str) -> None:
    kw = {**SPARSE_VS_ONE_HOT[options], "reduction": reduction}
    logits = PROBS_IN if kw.get("from_logits") is False else Z
    assert_close(_loss(backend, logits, IDS, **kw), _loss(backend, logits, ONE_HOT, **kw))
    assert_close(
        _loss(backend, Z_NCHW, IDS_NHW, axis=1, **kw), _loss(backend, Z_NCHW, _one_hot(IDS_NHW, 5, 1), axis=1, **kw)
    )


# --- masked classes, dtypes ----------------------------------------------------------------------

MASKED = np.where(ONE_HOT == 1, Z, -np.inf)
MASKED[:, 0] = np.where(IDS == 0, Z[:, 0], 1.5)  # one more finite class per row
SOFT_MASKED = np.where(SOFT > 0.3, SOFT, 0.0)
SOFT_MASKED /= SOFT_MASKED.sum(axis=1, keepdims=True)

MASKED_CASES = {
    "sparse": (IDS, {}, sparse(IDS)),
    "sparse-weight": (IDS, CW, sparse(IDS, **CW)),
    "sparse-ignore": (np.where(IDS == 4, -1, IDS), {"ignore_index": -1}, sparse(np.where(IDS == 4, -1, IDS),
                                                                              ignore_index=-1)),
    "one_hot": (ONE_HOT, {}, dense(ONE_HOT)),
    "one_hot-weight": (ONE_HOT, CW, dense(ONE_HOT, **CW)),
}


@pytest.mark.parametrize("fmt", list(MASKED_CASES))
def test_minus_inf_logits_on_zero_target_classes_stay_finite(backend: Any, fmt: str) -> None:
    labels, kw, oracle = MASKED_CASES[fmt]
    x = float_input(backend, MASKED)
    y = backend.to_backend(labels)
    out, grad = value_and_grad(backend, lambda v: lk.cross_entropy(v, y, reduction="none", **kw), x)
    expected = oracle(MASKED, "none")
    assert np.isfinite(as_f64(backend, out)).all()
    assert_close(as_f64(backend, out), expected.value)
    if grad is not None:
        assert np.isfinite(grad).all(), grad
        assert_close(grad, expected.grad)


def test_minus_inf_logits_with_soft_targets_stay_finite(backend: Any) -> None:
    logits = np.where(SOFT_MASKED > 0, Z, -np.inf)
    out = _loss(backend, logits, SOFT_MASKED, reduction="none")
    assert np.isfinite(out).all()
    assert_close(out, dense(SOFT_MASKED)(logits, "none").value)


HALF = ("float16", "bfloat16")


@pytest.mark.parametrize("fmt", ["sparse", "column", "one_hot-smooth", "binary", "multilabel"])
@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_logits_are_computed_in_float32(backend: Any, dtype: str, fmt: str) -> None:
    case = CASES[{"sparse": "sparse", "column": "column", "one_hot-smooth": "one_hot-smooth",
                  "binary": "binary-(N,1)-(N,)", "multilabel": "multilabel"}[fmt]]
    x = float_input(backend, case.logits, dtype)
    out = case.fn(x, backend.to_backend(_labels(case)), **case.kwargs)
    assert backend.dtype_name(x) == dtype
    assert backend.dtype_name(out) == "float32"
    # the oracle on the half-precision values themselves: computing in float32 loses nothing more
    assert_close(as_f64(backend, out), case.oracle(as_f64(backend, x), "mean").value)


@pytest.mark.parametrize("fmt", ["sparse", "one_hot"])
@pytest.mark.parametrize("dtype", HALF)
def test_no_overflow_above_65504_classes(backend: Any, dtype: str, fmt: str) -> None:
    c = 70000  # > 65504, float16's largest number: a float16 sum of exp overflows
    logits = np.zeros((2, c))
    logits[1, :10] = 4.0
    ids = np.array([0, 5])
    labels = ids if fmt == "sparse" else _one_hot(ids, c)
    x = float_input(backend, logits, dtype)
    out = lk.cross_entropy(x, backend.to_backend(labels.astype("float32") if fmt == "one_hot" else labels))
    assert backend.dtype_name(out) == "float32"
    expected = O.sparse(logits, ids).value  # 0 and 4 are exact in float16 and bfloat16
    assert np.isfinite(as_f64(backend, out))
    assert_close(as_f64(backend, out), expected)


@pytest.mark.parametrize("name", ["sparse", "sparse-smooth", "one_hot-weight", "binary-(N,)", "multilabel"])
def test_float64_logits_give_a_float64_loss(backend: Any, name: str) -> None:
    case = CASES[name]
    x = float_input(backend, case.logits, "float64")
    out = case.fn(x, backend.to_backend(_labels(case)), **case.kwargs)
    expected = "float64" if backend.x64 else "float32"  # JAX holds float64 only with x64
    assert backend.dtype_name(out) == expected
    if expected == "float64":  # computed in float64 through and through
        assert_close(as_f64(backend, out), case.oracle(as_f64(backend, x), "mean").value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "logits_dtype, labels, labels_dtype",
    [("float32", ONE_HOT, "float64"), ("float64", IDS, "int8"), ("float32", T_SOFT, "float64")],
    ids=["float32-logits-float64-rows", "float64-logits-int8-ids", "float32-logits-float64-binary"],
)
def test_the_logits_decide_the_loss_dtype(backend: Any, logits_dtype: str, labels: Any, labels_dtype: str) -> None:
    if logits_dtype == "float64" and not backend.x64:
        pytest.skip("float64 needs jax_enable_x64")
    logits = Z_BIN if labels.ndim == 1 and labels_dtype == "float64" else Z
    if labels_dtype == "float64" and not backend.x64:
        labels_dtype = "float32"
    out = lk.cross_entropy(float_input(backend, logits, logits_dtype), backend.to_backend(labels.astype(labels_dtype)))
    assert backend.dtype_name(out) == logits_dtype


# --- empty and all-ignored batches ---------------------------------------------------------------

# id: (logits, labels, kwargs, the batch shape S of reduction="none")
EMPTY = {
    "sparse": (np.zeros((0, 5)), np.zeros((0,), "int64"), {}, (0,)),
    "column-weight": (np.zeros((0, 5)), np.zeros((0, 1), "int64"), CW, (0,)),
    "sparse-smooth": (np.zeros((0, 5)), np.zeros((0,), "int64"), SM, (0,)),
    "seq": (np.zeros((3, 0, 5)), np.zeros((3, 0), "int64"), {}, (3, 0)),
    "one_hot": (np.zeros((0, 5)), np.zeros((0, 5), "float32"), {}, (0,)),
    "one_hot-weight": (np.zeros((0, 5)), np.zeros((0, 5), "float32"), CW, (0,)),
    "binary": (np.zeros((0,)), np.zeros((0,), "float32"), {}, (0,)),
    "binary-weight": (np.zeros((0, 1)), np.zeros((0,), "float32"), {"class_weight": [1.0, 2.0]}, (0,)),
    "multilabel": (np.zeros((0, 4)), np.zeros((0, 4), "float32"), {"task": "multilabel"}, (0,)),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fmt", list(EMPTY))
def test_empty_batch_gives_zero_with_zero_gradient(backend: Any, fmt: str, reduction: str) -> None:
    logits, labels, kw, batch = EMPTY[fmt]
    x = float_input(backend, logits)
    y = backend.to_backend(labels)
    out, grad = value_and_grad(backend, lambda v: lk.cross_entropy(v, y, reduction=reduction, **kw), x)
    value = as_f64(backend, out)
    assert value.shape == (batch if reduction == "none" else ())
    np.testing.assert_array_equal(value, np.zeros(value.shape))
    if grad is not None:
        np.testing.assert_array_equal(grad, np.zeros(logits.shape))


ALL_IGNORED = {
    "plain": {},
    "weight": CW,
    "smooth": SM,
    "weight-smooth": {**CW, **SM},
    "probs-input": {"from_logits": False},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", list(ALL_IGNORED))
def test_all_ignored_gives_zero_with_zero_gradient(backend: Any, options: str, reduction: str) -> None:
    kw = ALL_IGNORED[options]
    logits = PROBS_IN if kw.get("from_logits") is False else Z
    x = float_input(backend, logits)
    y = backend.to_backend(np.full((6, 1), -100))
    out, grad = value_and_grad(
        backend, lambda v: lk.cross_entropy(v, y, ignore_index=-100, reduction=reduction, **kw), x
    )
    value = as_f64(backend, out)
    assert value.shape == ((6,) if reduction == "none" else ())
    np.testing.assert_array_equal(value, np.zeros(value.shape))
    if grad is not None:
        np.testing.assert_array_equal(grad, np.zeros(logits.shape))


def test_zero_weight_on_every_present_class_gives_zero_not_nan(backend: Any) -> None:
    """Σ w·t = 0 is the weighted form of "nothing counts": 0, never 0/0."""
    w = [0.0, 1.0, 1.0, 1.0, 1.0]
    out, grad = value_and_grad(
        backend,
        lambda v: lk.cross_entropy(v, backend.to_backend(np.zeros(6, "int64")), class_weight=w),
        float_input(backend, Z),
    )
    assert as_f64(backend, out) == 0.0
    if grad is not None:
        np.testing.assert_array_equal(grad, np.zeros(Z.shape))


# --- argument errors -----------------------------------------------------------------------------

ERRORS: dict[str, tuple[Callable[..., Any], Any, Any, dict[str, Any], type[Exception], str]] = {
    "smoothing-negative": (lk.cross_entropy, Z, IDS, {"label_smoothing": -0.1}, ValueError,
                           r"label_smoothing: expected a number in \[0, 1\], got -0\.1"),
    "smoothing-above-1": (lk.cross_entropy, Z, IDS, {"label_smoothing": 1.5}, ValueError,
                          r"label_smoothing: expected a number in \[0, 1\], got 1\.5"),
    "smoothing-not-a-number": (lk.binary_crossentropy, Z_BIN, T_BIN, {"label_smoothing": "0.1"}, ValueError,
                               r"label_smoothing: expected a number in \[0, 1\], got str"),
    "reduction-unknown": (lk.cross_entropy, Z, IDS, {"reduction": "avg"}, ValueError,
                          r"reduction: expected 'mean', 'sum' or 'none', got 'avg'"),
    "reduction-unknown-dense": (lk.categorical_crossentropy, Z, ONE_HOT, {"reduction": None}, ValueError,
                                r"reduction: expected 'mean', 'sum' or 'none', got None"),
    "task-unknown": (lk.cross_entropy, Z, IDS, {"task": "multi-class"}, ValueError,
                     r"task: expected one of .*'multilabel', got 'multi-class'"),
    "class_weight-short": (lk.cross_entropy, Z, IDS, {"class_weight": [1.0, 2.0, 3.0]}, ValueError,
                           r"class_weight: expected one weight per class, shape \(5,\), got shape \(3,\)"),
    "class_weight-2d": (lk.cross_entropy, Z, ONE_HOT, {"class_weight": [W5]}, ValueError,
                        r"class_weight: expected one weight per class, shape \(5,\), got shape \(1, 5\)"),
    "class_weight-binary-3": (
        lk.binary_crossentropy, Z_BIN, T_BIN, {"class_weight": [1.0, 2.0, 3.0]}, ValueError,
        r"class_weight: expected one weight per class, shape \(2,\) \(\[w_neg, w_pos\]\), got shape \(3,\)",
    ),
    "class_weight-multilabel": (lk.cross_entropy, Z_ML, T_ML, {"task": "multilabel", "class_weight": W5}, ValueError,
                                r"class_weight: expected one weight per class, shape \(4,\), got shape \(5,\)"),
    "ignore_index-float": (lk.cross_entropy, Z, IDS, {"ignore_index": 1.5}, ValueError,
                           r"ignore_index: expected an int or None, got float 1\.5"),
    "from_logits-string": (lk.cross_entropy, Z, IDS, {"from_logits": "yes"}, ValueError,
                           r"from_logits: expected True or False"),
    "categorical-sparse-ids": (lk.categorical_crossentropy, Z, IDS, {}, lk.ShapeMismatchError,
                               r"labels have shape \(6,\) but logits have shape \(6, 5\).*"
                               r"Use lk\.sparse_categorical_crossentropy"),
    "categorical-column-ids": (lk.categorical_crossentropy, Z, IDS[:, None], {}, lk.ShapeMismatchError,
                               r"labels have shape \(6, 1\).*Use lk\.sparse_categorical_crossentropy"),
    "sparse-dense-rows": (lk.sparse_categorical_crossentropy, Z, ONE_HOT, {}, lk.ShapeMismatchError,
                          r"labels have shape \(6, 5\), the logits' own shape.*Use lk\.categorical_crossentropy"),
    "id-out-of-range": (lk.cross_entropy, Z, np.array([0, 1, 7, 0, 0, 0]), {}, lk.LabelValueError,
                        r"labels\[2\] is 7, outside the valid class ids 0\.\.4 for 5 classes"),
    "id-negative": (lk.cross_entropy, Z, np.array([0, -1, 0, 0, 0, 0]), {}, lk.LabelValueError,
                    r"labels\[1\] is -1, outside .*never wrapped around"),
    "id-not-whole": (lk.sparse_categorical_crossentropy, Z, np.array([0, 2.7, 0, 0, 0, 0]), {}, lk.LabelValueError,
                     r"labels\[1\] is 2\.7, which is not a whole number"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_bad_arguments_raise_clear_errors(backend: Any, name: str) -> None:
    fn, logits, labels, kw, error, match = ERRORS[name]
    x = float_input(backend, logits)
    labels = np.asarray(labels)
    y = backend.to_backend(labels.astype("float32") if labels.dtype.kind == "f" else labels)
    with pytest.raises(error, match=match):
        fn(x, y, **kw)


def test_argument_errors_are_value_errors_and_labelkit_errors() -> None:
    with pytest.raises(lk.LabelkitError, match="label_smoothing"):
        lk.cross_entropy(Z, IDS, label_smoothing=2.0)
    with pytest.raises(ValueError, match="reduction"):
        lk.sparse_categorical_crossentropy(Z, IDS, reduction="mean ")


# --- result type and mixed inputs ----------------------------------------------------------------


@pytest.mark.parametrize("labels_as", ["numpy", "list", "backend"])
def test_the_result_is_in_the_logits_framework(backend: Any, labels_as: str) -> None:
    y = {"numpy": IDS, "list": IDS.tolist(), "backend": backend.to_backend(IDS)}[labels_as]
    out = lk.cross_entropy(float_input(backend, Z), y, reduction="none")
    assert is_native(backend, out)
    assert_close(as_f64(backend, out), O.sparse(Z.astype("float32"), IDS, reduction="none").value)


def test_class_weight_may_be_an_array_of_the_logits_framework(backend: Any) -> None:
    w = float_input(backend, W5)
    out = lk.cross_entropy(float_input(backend, Z), backend.to_backend(IDS), class_weight=w, label_smoothing=0.1)
    assert_close(as_f64(backend, out), O.sparse(Z.astype("float32"), IDS, class_weight=W5, label_smoothing=0.1).value)


# --- select_loss ---------------------------------------------------------------------------------

SELECT: dict[str, tuple[np.ndarray, np.ndarray, dict[str, Any], str]] = {
    "sparse": (Z, IDS, {}, "sparse_categorical_crossentropy"),
    "column": (Z, IDS[:, None], {}, "sparse_categorical_crossentropy"),
    "one_hot": (Z, ONE_HOT.astype("float32"), {}, "categorical_crossentropy"),
    "probs": (Z, SOFT.astype("float32"), {}, "categorical_crossentropy"),
    "binary-(N,)": (Z_BIN, T_BIN.astype("float32"), {}, "binary_crossentropy"),
    "binary-(N,1)-(N,)": (Z_BIN[:, None], T_BIN, {}, "binary_crossentropy"),
    "binary-(N,)-(N,1)": (Z_BIN, T_BIN[:, None], {}, "binary_crossentropy"),
    "multilabel": (Z_ML, T_ML.astype("float32"), {"task": "multilabel"}, "binary_crossentropy"),
    "sparse-axis1": (Z_NCHW, IDS_NHW, {"axis": 1}, "sparse_categorical_crossentropy"),
    "column-axis1": (Z_NCHW, IDS_NHW[:, None], {"axis": 1}, "sparse_categorical_crossentropy"),
    "one_hot-axis1": (Z_NCHW, _one_hot(IDS_NHW, 5, 1).astype("float32"), {"axis": 1}, "categorical_crossentropy"),
}

NATIVE_TYPES = {
    "torch": {"sparse_categorical_crossentropy": "CrossEntropyLoss", "categorical_crossentropy": "CrossEntropyLoss",
              "binary_crossentropy": "BCEWithLogitsLoss"},
    "tensorflow": {"sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
                   "categorical_crossentropy": "CategoricalCrossentropy", "binary_crossentropy": "BinaryCrossentropy"},
    "jax": {"sparse_categorical_crossentropy": "softmax_cross_entropy_with_integer_labels",
            "categorical_crossentropy": "softmax_cross_entropy", "binary_crossentropy": "sigmoid_binary_cross_entropy"},
}


def _choice(backend: Any, name: str) -> tuple[lk.LossChoice, Any, Any, dict[str, Any], str]:
    logits, labels, kw, loss_name = SELECT[name]
    x, y = float_input(backend, logits), backend.to_backend(labels)
    return lk.select_loss(x, y, **kw), x, y, kw, loss_name


@pytest.mark.parametrize("name", list(SELECT))
def test_select_loss_names_the_loss_and_its_spec(backend: Any, name: str) -> None:
    choice, x, y, kw, loss_name = _choice(backend, name)
    assert choice.name == loss_name
    assert choice.spec == lk.infer(x, y, **kw)
    assert choice.spec.backend == backend.name
    text = choice.explain()
    assert text.startswith(loss_name + ":")
    if loss_name != "binary_crossentropy":
        assert f"over {choice.spec.num_classes} classes" in text
    else:
        assert "sigmoid" in text


@pytest.mark.parametrize("name", list(SELECT))
def test_select_loss_call_is_labelkits_loss(backend: Any, name: str) -> None:
    choice, x, y, kw, _ = _choice(backend, name)
    smooth = {"label_smoothing": 0.1, "reduction": "none"}
    assert_close(as_f64(backend, choice(x, y, **smooth)), as_f64(backend, lk.cross_entropy(x, y, **kw, **smooth)))


@pytest.mark.parametrize("name", list(SELECT))
def test_select_loss_native_is_the_frameworks_own_loss(backend: Any, name: str) -> None:
    choice, *_, loss_name = _choice(backend, name)
    native = choice.native()
    if backend.name == "numpy":
        assert native is None
        return
    expected = NATIVE_TYPES[backend.name][loss_name]
    if backend.name == "jax" and loss_name != "binary_crossentropy" and choice.spec.axis != SELECT[name][0].ndim - 1:
        assert native.keywords == {"axis": choice.spec.axis}  # optax's own function, told the class axis
        native = native.func
    assert getattr(native, "__name__", type(native).__name__) == expected


def _call_native(backend: Any, choice: lk.LossChoice, x: Any, y: Any) -> Any:
    native = choice.native()
    if backend.name == "torch":
        return native(x, y)
    if backend.name == "tensorflow":
        return native(y, x)
    import jax.numpy as jnp

    return jnp.mean(native(x, y))


@pytest.mark.parametrize("name", list(SELECT))
def test_native_of_prepared_labels_equals_labelkit(backend: Any, name: str) -> None:
    """Plain mean, valid labels: SPEC says every native agrees with labelkit there."""
    choice, x, y, _, _ = _choice(backend, name)
    if backend.name == "numpy":
        assert choice.native() is None
        pytest.skip("NumPy has no native loss")
    prepared = choice.prepare(y)
    if backend.name == "torch" and choice.name == "sparse_categorical_crossentropy":
        assert prepared.dtype == backend.module.int64
    if choice.spec.label_format == "sparse":
        batch = tuple(d for i, d in enumerate(x.shape) if i != choice.spec.axis)
        assert tuple(prepared.shape) == batch
        if backend.name == "tensorflow" and choice.spec.axis != x.ndim - 1:
            # Keras' SparseCategoricalCrossentropy takes the class axis last only, and says so
            with pytest.raises(ValueError, match=r"Only axis=-1 is currently supported"):
                _call_native(backend, choice, x, prepared)
            return
    assert_close(as_f64(backend, _call_native(backend, choice, x, prepared)), as_f64(backend, choice(x, y)))


@pytest.mark.parametrize("name", ["sparse", "one_hot", "binary-(N,1)-(N,)"])
def test_select_loss_with_probabilities(backend: Any, name: str) -> None:
    logits, labels, kw, loss_name = SELECT[name]
    probs = _softmax(logits) if logits.shape[-1] > 1 else 1.0 / (1.0 + np.exp(-logits))
    x, y = float_input(backend, probs), backend.to_backend(labels)
    choice = lk.select_loss(x, y, from_logits=False, **kw)
    assert "probabilities" in choice.explain()
    assert_close(as_f64(backend, choice(x, y)), as_f64(backend, lk.cross_entropy(x, y, from_logits=False)))
    takes_logits_only = backend.name == "jax" or (backend.name == "torch" and loss_name != "binary_crossentropy")
    if backend.name == "numpy":
        assert choice.native() is None
    elif takes_logits_only:
        # CrossEntropyLoss and optax would read the probabilities as logits: no silently wrong native.
        with pytest.raises(ValueError, match=r"from_logits=False: .* takes? logits, and .* has no native"):
            choice.native()
    else:
        if backend.name == "torch":
            assert type(choice.native()).__name__ == "BCELoss"
        native = _call_native(backend, choice, x, choice.prepare(y))
        assert_close(as_f64(backend, native), as_f64(backend, choice(x, y)))


def test_select_loss_rejects_a_bad_from_logits() -> None:
    with pytest.raises(ValueError, match="from_logits: expected True or False"):
        lk.select_loss(Z, IDS, from_logits="no")


def test_select_loss_rejects_labels_that_do_not_fit() -> None:
    with pytest.raises(lk.ShapeMismatchError, match=r"batch sizes differ|accept labels of shape"):
        lk.select_loss(Z, np.zeros(7, "int64"))
