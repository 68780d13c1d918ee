"""``lk.accuracy``: every label format, any class axis, ``top_k``, ``ignore_index`` and every reduction, on
every backend, against a float64 NumPy oracle written here from SPEC "Metrics" alone; the same errors as
the losses; no gradient; and the three compilers (``jax.jit``, ``tf.function`` with ``None`` dims,
``torch.compile``). Keras' own metrics and ``labelkit.keras.Accuracy`` are compared in
``tests/workers/keras_metric_worker.py``, one process per Keras backend.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import labelkit as lk
from conftest import backend_named
from loss_helpers import as_f64, float_input, is_native
from strategies import AccuracyOptions, LabelCase, accuracy_options, class_ids, tied_label_cases
from subproc import need, run_worker

# --- the oracle ----------------------------------------------------------------------------------


def _rank(row: np.ndarray, target: int) -> int:
    """How many classes rank before ``target`` in one float64 row: greater values (NaN above every
    number), then equal ones at smaller indices. A NaN target ranks after the NaNs at smaller indices
    only (as the first NaN is the argmax)."""
    zt = float(row[target])
    if math.isnan(zt):
        return sum(1 for v in row[:target] if math.isnan(float(v)))
    before = 0
    for c, v in enumerate(row):
        v = float(v)
        if math.isnan(v) or v > zt or (v == zt and c < target):
            before += 1
    return before


def _first_argmax(row: np.ndarray) -> int:
    best = 0
    for c, v in enumerate(row):
        if float(v) > float(row[best]):
            best = c
    return best


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def oracle(
    case: LabelCase, x: np.ndarray, *, top_k: int = 1, threshold: float = 0.5, reduction: str = "mean",
    from_logits: bool = True, check_values: bool = True,
) -> np.ndarray:
    """SPEC "Metrics", one element at a time in float64; ``x`` are the values the backend holds. NaN
    logits are modelled as at ``top_k > 1`` (at ``top_k=1`` the framework's argmax decides: see the tests)."""
    x = np.asarray(x, dtype=np.float64)
    labels = case.labels
    ax = case.axis % x.ndim
    if case.fmt == "binary":
        shape = x.shape if x.ndim == 1 else tuple(d for i, d in enumerate(x.shape) if i != ax)
        z, t = x.reshape(-1), labels.astype(np.float64).reshape(-1)
        per = []
        for zi, ti in zip(z, t):
            p = _sigmoid(float(zi)) if from_logits else float(zi)
            per.append(float((p > threshold) == (ti > 0.5)))
        counted = [True] * len(per)
    else:
        rows = np.moveaxis(x, ax, -1)
        shape = rows.shape[:-1]
        rows = rows.reshape(-1, rows.shape[-1])
        c = rows.shape[-1]
        per, counted = [], []
        if case.fmt == "multilabel":
            t = np.moveaxis(labels.astype(np.float64), ax, -1).reshape(-1, c)
            for zr, tr in zip(rows, t):
                hits = sum(((_sigmoid(float(v)) if from_logits else float(v)) > threshold) == (tv > 0.5)
                           for v, tv in zip(zr, tr))
                per.append(hits / c)
                counted.append(True)
        else:
            if case.fmt in ("one_hot", "probs"):
                rows_t = np.moveaxis(labels.astype(np.float64), ax, -1).reshape(-1, c)
                ids = [_first_argmax(r) for r in rows_t]
            else:
                raw = np.squeeze(labels, axis=ax) if case.fmt == "column" else labels
                ids = [float(v) for v in raw.astype(np.float64).reshape(-1)]
            for zr, y in zip(rows, ids):
                if case.ignore_index is not None and y == case.ignore_index:
                    per.append(0.0)
                    counted.append(False)
                elif not (0 <= y < c and y == int(y)):
                    assert not check_values, "an invalid id reached the oracle with checks on"
                    per.append(float("nan"))
                    counted.append(True)
                else:
                    per.append(float(_rank(zr, int(y)) < top_k))
                    counted.append(True)
    per_arr = np.asarray(per, dtype=np.float64).reshape(shape)
    if reduction == "none":
        return per_arr
    total = float(np.sum(per_arr))
    if reduction == "sum":
        return np.asarray(total)
    n = sum(counted)
    return np.asarray(total / n if n else 0.0)


def _probabilities(case: LabelCase) -> np.ndarray:
    """``from_logits=False`` inputs: the sigmoid of each logit (binary, multilabel)."""
    return 1.0 / (1.0 + np.exp(-case.logits.astype(np.float64)))


def _kwargs(case: LabelCase, opts: AccuracyOptions | None = None) -> dict[str, Any]:
    kw: dict[str, Any] = {"axis": case.axis, "task": case.task}
    if case.ignore_index is not None:
        kw["ignore_index"] = case.ignore_index
    if opts is not None:
        kw.update(top_k=opts.top_k, threshold=opts.threshold, reduction=opts.reduction,
                  from_logits=opts.from_logits)
    return kw


def assert_equal_result(backend: Any, out: Any, expected: np.ndarray, *, exact: bool = True) -> None:
    """float32 of the backend's own type, and the oracle's value: exactly (counts of 0/1 are exact in
    float32; a mean is one correctly rounded division), or to float32 rounding for multilabel fractions."""
    assert is_native(backend, out), type(out)
    assert backend.dtype_name(out) == "float32"
    got = as_f64(backend, out)
    assert got.shape == expected.shape, f"shape {got.shape}, expected {expected.shape}"
    if exact:
        np.testing.assert_array_equal(got, np.asarray(expected, dtype=np.float32).astype(np.float64))
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, equal_nan=True)


# --- every format, against the oracle ------------------------------------------------------------


@given(data=st.data())
def test_accuracy_matches_the_float64_oracle(backend: Any, data: st.DataObject) -> None:
    case = data.draw(tied_label_cases(), label="case")
    opts = data.draw(accuracy_options(case), label="options")
    values = case.logits if opts.from_logits else _probabilities(case)
    dtype = "float64" if opts.from_logits is False else data.draw(st.sampled_from(["float32", "float64"]))
    x = float_input(backend, values, dtype)
    out = lk.accuracy(x, backend.to_backend(case.labels), **_kwargs(case, opts))
    expected = oracle(case, as_f64(backend, x), top_k=opts.top_k, threshold=opts.threshold,
                      reduction=opts.reduction, from_logits=opts.from_logits)
    assert_equal_result(backend, out, expected, exact=case.fmt != "multilabel")


@given(data=st.data())
def test_sparse_column_and_one_hot_labels_give_the_same_accuracy(backend: Any, data: st.DataObject) -> None:
    """Metamorphic: ids of shape S, column ids S + (1,) and their one-hot rows score alike, at any top_k."""
    case = data.draw(tied_label_cases(formats=("sparse",)), label="case")
    ax = case.axis % case.logits.ndim
    ids = case.labels.astype(np.int64)
    if case.ignore_index is not None:
        ids = np.where(ids == case.ignore_index, 0, ids)  # ignored ids have no one-hot row
    top_k = data.draw(st.integers(1, 3), label="top_k")
    x = float_input(backend, case.logits)
    kw = {"axis": case.axis, "top_k": top_k, "reduction": "none"}
    flat = lk.accuracy(x, backend.to_backend(ids), **kw)
    column = lk.accuracy(x, backend.to_backend(np.expand_dims(ids, ax)), **kw)
    rows = np.moveaxis(np.eye(case.num_classes, dtype="float32")[ids], -1, ax)
    dense = lk.accuracy(x, backend.to_backend(rows), **kw)
    assert np.array_equal(as_f64(backend, flat), as_f64(backend, column))
    assert np.array_equal(as_f64(backend, flat), as_f64(backend, dense))


@given(case=tied_label_cases(formats=("sparse", "one_hot", "probs", "multilabel"), axes=(1,)))
def test_class_axis_1_equals_moving_it_last(backend: Any, case: LabelCase) -> None:
    x = case.logits
    moved_labels = case.labels if case.fmt == "sparse" else np.moveaxis(case.labels, 1, -1)
    kw = {"task": case.task, "reduction": "none"}
    if case.ignore_index is not None:
        kw["ignore_index"] = case.ignore_index
    first = lk.accuracy(float_input(backend, x), backend.to_backend(case.labels), axis=1, **kw)
    last = lk.accuracy(float_input(backend, np.moveaxis(x, 1, -1)), backend.to_backend(moved_labels), **kw)
    assert np.array_equal(as_f64(backend, first), as_f64(backend, last))


@given(data=st.data())
def test_unchecked_ids_out_of_range_score_nan_exactly_there(backend: Any, data: st.DataObject) -> None:
    """check_values=False (as while tracing): an id outside [0, C) is NaN for its element, never a guess."""
    c = data.draw(st.sampled_from([2, 3, 5]), label="C")
    n = data.draw(st.sampled_from([1, 3, 6]), label="N")
    dtype = data.draw(st.sampled_from(["int64", "int32", "int8", "uint8", "float32"]), label="ids dtype")
    ignore = 255 if dtype == "uint8" else -100
    ids = data.draw(class_ids((n,), c, dtype, ignore_index=ignore, valid=False), label="ids")
    top_k = data.draw(st.integers(1, c), label="top_k")
    case = LabelCase("sparse", np.random.default_rng(n * 7 + c).standard_normal((n, c)).astype("float32"), ids,
                     ignore_index=ignore)
    out = lk.accuracy(float_input(backend, case.logits), backend.to_backend(ids), reduction="none",
                      ignore_index=ignore, top_k=top_k, check_values=False)
    expected = oracle(case, case.logits, top_k=top_k, reduction="none", check_values=False)
    assert_equal_result(backend, out, expected)


@given(case=tied_label_cases(formats=("sparse", "column")), check=st.sampled_from(["auto", True, False]))
def test_the_eager_fast_path_equals_the_general_path(backend: Any, case: LabelCase, check: Any) -> None:
    """Plain top-1 means of integer ids run from a remembered plan (labelkit/_fast.py): the same number."""
    from labelkit import _fast

    labels = case.labels
    if case.ignore_index is not None:
        labels = np.where(labels == case.ignore_index, 0, labels).astype(labels.dtype)
    x, y = float_input(backend, case.logits), backend.to_backend(labels)
    fast = lk.accuracy(x, y, axis=case.axis, check_values=check)
    _fast.ENABLED = False
    try:
        general = lk.accuracy(x, y, axis=case.axis, check_values=check)
    finally:
        _fast.ENABLED = True
    assert backend.dtype_name(fast) == backend.dtype_name(general) == "float32"
    assert as_f64(backend, fast) == as_f64(backend, general)


def test_the_fast_path_leaves_bad_ids_to_the_general_path(backend: Any) -> None:
    x = float_input(backend, Z)
    lk.accuracy(x, backend.to_backend(Y))  # a plan for these shapes now exists
    with pytest.raises(lk.LabelValueError, match=r"labels\[2\] is 9, outside the valid class ids 0\.\.3"):
        lk.accuracy(x, backend.to_backend(np.where(np.arange(6) == 2, 9, Y)))
    unchecked = lk.accuracy(x, backend.to_backend(np.where(np.arange(6) == 2, 9, Y)), check_values=False)
    assert math.isnan(float(as_f64(backend, unchecked)))


# --- tables: what a user meets -------------------------------------------------------------------

Z = np.array(
    [[2.0, 1.0, 0.0, -1.0], [0.0, 3.0, 1.0, 0.5], [1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 5.0],
     [4.0, 0.0, 1.0, 3.0], [0.0, 1.0, 2.0, 3.0]],
    dtype="float32",
)
Y = np.array([0, 2, 2, 3, 3, 1])  # right at top 1: rows 0, 2, 3; at top 2: also 1 (class 2 second) and 4


@pytest.mark.parametrize(
    "labels, kw, expected",
    [
        (Y, {}, 0.5),
        (Y[:, None], {}, 0.5),  # (N, 1) column ids: squeezed, never broadcast to (N, N)
        (Y.astype("int8"), {}, 0.5),
        (Y.astype("float32")[:, None], {}, 0.5),  # Keras hands labels over as floats
        (np.eye(4, dtype="float32")[Y], {}, 0.5),
        (Y, {"top_k": 2}, 5 / 6),
        (Y, {"top_k": 4}, 1.0),
        (Y, {"top_k": 9}, 1.0),
        (Y, {"reduction": "sum"}, 3.0),
        (np.array([0, -100, 2, 3, -100, -100]), {"ignore_index": -100}, 1.0),
        (np.array([0, -1, -1, 0, -1, -1]), {"ignore_index": -1}, 0.5),
        (np.full(6, -100), {"ignore_index": -100}, 0.0),  # nothing counted: 0, never NaN
        (np.full(6, -100), {"ignore_index": -100, "reduction": "sum"}, 0.0),
    ],
    ids=["sparse", "column", "int8", "float-column", "one_hot", "top2", "top4", "top9", "sum", "ignore-100",
         "ignore-1", "all-ignored", "all-ignored-sum"],
)
def test_known_answers(backend: Any, labels: np.ndarray, kw: dict[str, Any], expected: float) -> None:
    out = lk.accuracy(float_input(backend, Z), backend.to_backend(labels), **kw)
    assert_equal_result(backend, out, np.asarray(expected))


def test_column_ids_are_not_the_broadcast_trap(backend: Any) -> None:
    """The hand-written (pred == y) with y (N, 1) compares every prediction with every label."""
    pred = Z.argmax(-1)
    trap = float((pred == Y[:, None]).mean())  # (N, N): here 1/4 of the pairs agree
    assert trap != 0.5
    out = lk.accuracy(float_input(backend, Z), backend.to_backend(Y[:, None]))
    assert float(as_f64(backend, out)) == 0.5


def test_ties_go_to_the_first_class(backend: Any) -> None:
    z = np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0], [-np.inf, -np.inf, -np.inf], [np.inf, np.inf, 0.0]], "float32")
    x = float_input(backend, z)
    first = lk.accuracy(x, backend.to_backend(np.array([1, 0, 0, 0])), reduction="none")
    second = lk.accuracy(x, backend.to_backend(np.array([2, 1, 1, 1])), reduction="none")
    assert as_f64(backend, first).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert as_f64(backend, second).tolist() == [0.0, 0.0, 0.0, 0.0]
    # top_k=2 counts the tie at the boundary in class order: class 2 of row 1 ranks third.
    top2 = lk.accuracy(x, backend.to_backend(np.array([0, 2, 2, 2])), top_k=2, reduction="none")
    assert as_f64(backend, top2).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_nan_logits_rank_highest_at_top_k_above_1(backend: Any) -> None:
    z = np.array([[np.nan, 1.0, 5.0, 2.0], [1.0, np.nan, 5.0, np.nan], [1.0, 2.0, 5.0, 0.0]], "float32")
    y = np.array([2, 3, 0])
    out = lk.accuracy(float_input(backend, z), backend.to_backend(y), top_k=2, reduction="none")
    case = LabelCase("sparse", z, y)
    assert_equal_result(backend, out, oracle(case, z, top_k=2, reduction="none"))
    # Row 1: a NaN target logit ranks after the one NaN before it: second, within the top 2.
    assert as_f64(backend, out).tolist() == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_accuracy_never_falls_as_top_k_grows_with_nan_logits(backend: Any, top_k: int) -> None:
    """A NaN target logit was right at top_k=1 (the argmax) and wrong at top_k=2 (found in review)."""
    z = np.array([[np.nan, 1.0, 2.0], [0.0, np.nan, 3.0], [np.nan, np.nan, 1.0]], "float32")
    y = np.array([0, 1, 1])
    acc = [float(as_f64(backend, lk.accuracy(float_input(backend, z), backend.to_backend(y), top_k=k)))
           for k in (top_k, top_k + 1)]
    assert acc[0] <= acc[1]


def test_nan_logits_at_top_1_follow_the_frameworks_argmax(backend: Any) -> None:
    """Documented: top_k=1 is the framework's argmax. NumPy, PyTorch and JAX rank NaN highest (the first
    NaN wins, as the oracle says); TensorFlow's argmax skips NaN (and XLA's differs again)."""
    z = np.array([[np.nan, 1.0, 5.0, 2.0], [1.0, 2.0, 5.0, np.nan], [1.0, 2.0, 5.0, 0.0]], "float32")
    y = np.array([0, 3, 2])
    out = as_f64(backend, lk.accuracy(float_input(backend, z), backend.to_backend(y), reduction="none"))
    if backend.name == "tensorflow":
        assert out.tolist() == [0.0, 0.0, 1.0]
    else:
        assert out.tolist() == [1.0, 1.0, 1.0]  # rows 0 and 1: the NaN is the argmax


@pytest.mark.parametrize(
    "logits, labels, kw, expected",
    [
        (np.array([0.3, -0.2, 2.0, -3.0]), np.array([1, 0, 0, 0]), {}, [1.0, 1.0, 0.0, 1.0]),
        (np.array([[0.3], [-0.2], [2.0], [-3.0]]), np.array([[1], [0], [0], [0]]), {}, [1.0, 1.0, 0.0, 1.0]),
        (np.array([[0.3], [-0.2]]), np.array([True, True]), {}, [1.0, 0.0]),
        (np.array([0.3, -0.2, 2.0, -3.0]), np.array([0.7, 0.5, 0.2, 0.51]), {}, [1.0, 1.0, 0.0, 0.0]),
        (np.array([0.3, -0.2, 2.0]), np.array([1, 1, 1]), {"threshold": 0.6}, [0.0, 0.0, 1.0]),
        (np.array([0.6, 0.4, 0.5]), np.array([1, 0, 1]), {"from_logits": False}, [1.0, 1.0, 0.0]),
        (np.array([0.0, 5.0, -40.0]), np.array([1, 1, 1]), {"threshold": 0.0}, [1.0, 1.0, 1.0]),
        (np.array([0.0, 5.0, 40.0]), np.array([0, 0, 0]), {"threshold": 1.0}, [1.0, 1.0, 1.0]),
        (np.array([[0.3, -1.0, 2.0], [0.0, 1.0, -1.0]]), np.array([[1, 1, 1], [0, 1, 1]]),
         {"task": "multilabel"}, [2 / 3, 2 / 3]),
    ],
    ids=["binary", "binary-column", "bool", "soft-targets", "threshold", "probabilities", "threshold-0",
         "threshold-1", "multilabel"],
)
def test_binary_and_multilabel_known_answers(
    backend: Any, logits: np.ndarray, labels: np.ndarray, kw: dict[str, Any], expected: list[float]
) -> None:
    out = lk.accuracy(float_input(backend, logits), backend.to_backend(labels), reduction="none", **kw)
    assert is_native(backend, out)
    np.testing.assert_allclose(as_f64(backend, out), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_any_float_logits_give_float32(backend: Any, dtype: str) -> None:
    if backend.name == "jax" and dtype == "float64" and not backend.x64:
        pytest.skip("JAX without x64 holds float32")
    x = float_input(backend, Z, dtype)
    out = lk.accuracy(x, backend.to_backend(Y))
    assert_equal_result(backend, out, np.asarray(0.5))
    binary = lk.accuracy(float_input(backend, Z[:, :1], dtype), backend.to_backend((Y > 1).astype("int64")))
    assert_equal_result(backend, binary, np.asarray(oracle(LabelCase("binary", Z[:, :1], Y > 1), Z[:, :1])))


def test_empty_batch_is_zero(backend: Any) -> None:
    out = lk.accuracy(float_input(backend, np.zeros((0, 3))), backend.to_backend(np.zeros((0,), "int64")))
    assert_equal_result(backend, out, np.asarray(0.0))


def test_no_gradient(backend: Any) -> None:
    x = float_input(backend, Z)
    y = backend.to_backend(Y)
    if backend.name == "torch":
        x.requires_grad_(True)
        assert not lk.accuracy(x, y).requires_grad
        assert not lk.accuracy(x[:, :1], backend.to_backend(Y > 1)).requires_grad
    elif backend.name == "tensorflow":
        tf = backend.module
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = lk.accuracy(x, y, top_k=2)
        assert tape.gradient(out, x) is None
    elif backend.name == "jax":
        import jax

        grad = jax.grad(lambda v: lk.accuracy(v, y, top_k=2) + lk.accuracy(v[:, :1], y > 1))(x)
        assert not np.asarray(grad).any()
    else:
        assert isinstance(lk.accuracy(x, y), np.floating)


# --- errors: the losses' own ---------------------------------------------------------------------


def _error(fn: Any) -> tuple[type, str]:
    with pytest.raises(lk.LabelkitError) as info:
        fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "logits_shape, labels, kw",
    [
        ((4, 5), np.zeros((4, 2), "int64"), {}),
        ((4, 5), np.zeros((8,), "int64"), {}),
        ((4, 5, 3), np.zeros((4, 3), "int64"), {}),  # channels-first labels with the default axis
        ((4, 5), np.array([0, 1, 7, 2]), {}),  # an id out of range
        ((4, 5), np.array([0.0, 1.5, 2.0, 3.0]), {}),  # not a whole number
        ((4, 5), np.full((4, 5), 0.3), {}),  # rows that do not sum to 1
        ((4,), np.array([0.0, 2.0, 1.0, 1.0]), {}),  # binary targets outside [0, 1]
        ((4, 5), np.zeros((4, 5)), {"task": "multilabel", "check_values": "maybe"}),
        ((4, 5), np.zeros(4, "int64"), {"task": "softmax"}),
    ],
    ids=["c-mismatch", "batch-mismatch", "channels-first", "out-of-range", "not-whole", "rows", "binary-values",
         "check_values", "task"],
)
def test_the_same_errors_as_the_losses(backend: Any, logits_shape: tuple[int, ...], labels: np.ndarray,
                                       kw: dict[str, Any]) -> None:
    x = float_input(backend, np.zeros(logits_shape))
    y = backend.to_backend(labels)
    ours = _error(lambda: lk.accuracy(x, y, **kw))
    theirs = _error(lambda: lk.cross_entropy(x, y, **kw))
    assert ours == theirs


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"top_k": 0}, r"top_k: expected a positive int, got int 0"),
        ({"top_k": 1.5}, r"top_k: expected a positive int, got float 1\.5"),
        ({"top_k": True}, r"top_k: expected a positive int, got bool"),
        ({"threshold": 1.5}, r"threshold: expected a probability in \[0, 1\], got 1\.5"),
        ({"threshold": "0.5"}, r"threshold: expected a number in \[0, 1\], got str"),
        ({"reduction": "avg"}, r"reduction: expected 'mean', 'sum' or 'none', got 'avg'"),
        ({"from_logits": "yes"}, r"from_logits: expected True or False"),
        ({"ignore_index": 1.0}, r"ignore_index: expected an int or None"),
    ],
)
def test_bad_arguments_are_named(backend: Any, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(lk.ArgumentError, match=match):
        lk.accuracy(float_input(backend, Z), backend.to_backend(Y), **kw)


def test_top_k_with_binary_logits_says_it_is_multiclass_only(backend: Any) -> None:
    with pytest.raises(lk.ArgumentError, match=r"top_k=2: the task is binary.*pass task='multiclass'"):
        lk.accuracy(float_input(backend, Z[:, :1]), backend.to_backend(Y > 1), top_k=2)


# --- top_k > 1 on the framework's top-k kernel (Backend.top_k_hit) -------------------------------

NAN_NEG = -np.float32(np.nan)  # a NaN with its sign bit set, as x86 computes one (inf - inf)
# Rows of 5 classes whose ranks the kernels could read otherwise: ties straddling the k-th place, all
# equal, NaN (the target's or another class'), infinities, -0 against 0; and one row without ties.
KERNEL_ROWS = np.array([
    [1.0, 3.0, 3.0, 3.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [2.0, 2.0, 1.0, 2.0, 2.0],
    [np.nan, 1.0, np.nan, 2.0, 0.0],
    [1.0, NAN_NEG, 3.0, np.nan, 2.0],
    [np.inf, np.nan, np.inf, 1.0, -np.inf],
    [-np.inf, -np.inf, 1.0, -np.inf, np.inf],
    [-0.0, 0.0, -0.0, 1.0, 1.0],
    [2.0, -1.0, 0.5, 3.0, 1.0],
], "float32")


def _every_target(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row once per class: logits ``(R * C, C)`` and the targets ``0..C-1`` of each."""
    c = rows.shape[1]
    return np.repeat(rows, c, axis=0), np.tile(np.arange(c), len(rows))


def _native_backend(x: Any) -> Any:
    from labelkit._dispatch import get_backend

    return get_backend(x)


@pytest.mark.parametrize("top_k", [2, 3, 4, 5, 6])
def test_top_k_on_ties_nan_and_infinities_matches_the_oracle(backend: Any, top_k: int) -> None:
    z, y = _every_target(KERNEL_ROWS)
    out = lk.accuracy(float_input(backend, z), backend.to_backend(y), top_k=top_k, reduction="none")
    assert_equal_result(backend, out, oracle(LabelCase("sparse", z, y), z, top_k=top_k, reduction="none"))


@pytest.mark.parametrize("top_k", [2, 3])
def test_top_k_channels_first_with_ignored_ids_matches_the_oracle(backend: Any, top_k: int) -> None:
    z = np.moveaxis(KERNEL_ROWS.reshape(3, 3, 5), -1, 1)  # (N, C, W) = (3, 5, 3)
    y = np.array([[2, -100, 0], [3, 1, -100], [4, 2, 1]])
    case = LabelCase("sparse", z, y, axis=1, ignore_index=-100)
    for reduction in ("none", "mean"):
        out = lk.accuracy(float_input(backend, z), backend.to_backend(y), axis=1, top_k=top_k, ignore_index=-100,
                          reduction=reduction)
        assert_equal_result(backend, out, oracle(case, z, top_k=top_k, reduction=reduction))


@pytest.mark.parametrize("targets", ["spread", "argmax"])
def test_the_kernel_answers_where_the_backend_has_one(backend: Any, targets: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """PyTorch (torch.topk) and TensorFlow (in_top_k) answer top_k > 1 on logits without ties or NaN
    with no rank count over (N, C), whether few targets are in (TensorFlow then counts ties on those
    rows only) or all are; NumPy and JAX (whose fused rank count under jit is faster than lax.top_k)
    count the rank."""
    from labelkit import _metrics

    z = np.random.default_rng(3).standard_normal((64, 50)).astype("float32")
    y = np.arange(64) % 50 if targets == "spread" else z.argmax(-1)
    x, t = float_input(backend, z), backend.to_backend(y)
    b = _native_backend(x)
    out = b.top_k_hit(x, b.cast(t, b.default_int()), 1, 5)
    if backend.name in ("numpy", "jax"):
        assert out is NotImplemented
        return
    hit, sure = (as_f64(backend, a) for a in out)
    assert sure.all()
    expected = oracle(LabelCase("sparse", z, y), z, top_k=5, reduction="none")
    np.testing.assert_array_equal(hit, expected)

    def counted(*args: Any) -> Any:
        raise AssertionError("the rank was counted where the kernel was sure")

    monkeypatch.setattr(_metrics, "_ranked_in_top_k", counted)
    assert_equal_result(backend, lk.accuracy(x, t, top_k=5, reduction="none"), expected)


def test_top_k_off_host_reads_nothing_and_asks_no_kernel(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrays on a device (simulated: ``on_host`` false): the kernel's answer would need a read of its
    ``sure`` flag, a blocking sync, so the rank is counted instead, with no read."""
    z, y = _every_target(KERNEL_ROWS)
    x, t = float_input(backend, z), backend.to_backend(y)
    b = _native_backend(x)

    def refused(*args: Any) -> Any:
        raise AssertionError("asked off host")

    monkeypatch.setattr(type(b), "on_host", lambda self, a: False)
    monkeypatch.setattr(type(b), "top_k_hit", refused)
    monkeypatch.setattr(type(b), "to_bool", refused)
    out = lk.accuracy(x, t, top_k=3, reduction="none", check_values=False)
    assert_equal_result(backend, out, oracle(LabelCase("sparse", z, y), z, top_k=3, reduction="none"))


SPECIAL = (np.nan, NAN_NEG, np.inf, -np.inf, 0.0, -0.0)


@given(data=st.data())
def test_the_kernel_path_equals_the_rank_count(backend: Any, data: st.DataObject) -> None:
    """Property: ``_in_top_k`` (the kernel where the backend has one and is sure) equals the rank counted
    from the generic primitives, and the kernel's answer equals it wherever the kernel says it is sure,
    on rounded logits (ties) with NaN, infinities and signed zeros dropped in, along any class axis."""
    from labelkit._metrics import _in_top_k, _ranked_in_top_k

    case = data.draw(tied_label_cases(formats=("sparse",)), label="case")
    z = case.logits.copy()
    flat = z.reshape(-1)
    spots = data.draw(st.lists(st.integers(0, flat.size - 1), max_size=4), label="spots")
    for i in spots:
        flat[i] = data.draw(st.sampled_from(SPECIAL), label="special")
    ax = case.axis % z.ndim
    c = z.shape[ax]
    assume(c >= 3)  # top_k in (1, C)
    top_k = data.draw(st.integers(2, c - 1), label="top_k")
    ids = np.clip(np.where(case.labels >= 0, case.labels, 0), 0, c - 1).astype("int64")
    x = float_input(backend, z)
    b = _native_backend(x)
    t = b.cast(backend.to_backend(ids), b.default_int())
    ranked = as_f64(backend, _ranked_in_top_k(b, x, t, ax, c, top_k))
    np.testing.assert_array_equal(as_f64(backend, _in_top_k(b, x, t, ax, c, top_k)), ranked)
    out = b.top_k_hit(x, t, ax, top_k)
    if out is not NotImplemented:
        hit, sure = (as_f64(backend, a).astype(bool) for a in out)
        np.testing.assert_array_equal(hit[sure], ranked.astype(bool)[sure])
    expected = oracle(LabelCase("sparse", z, ids, axis=case.axis), z, top_k=top_k, reduction="none")
    np.testing.assert_array_equal(ranked, expected)


def test_tf_function_top_k_takes_the_kernel_or_the_rank_count_in_graph() -> None:
    tf = backend_named("tensorflow").module
    z, y = _every_target(KERNEL_ROWS)
    calm = np.random.default_rng(4).standard_normal((45, 5)).astype("float32")
    for jit in (False, True):
        @tf.function(jit_compile=jit, input_signature=[tf.TensorSpec((None, 5)), tf.TensorSpec((None,), tf.int64)])
        def f(z: Any, y: Any) -> Any:
            return lk.accuracy(z, y, top_k=3, reduction="none")

        for logits in (z, calm):  # ties and NaN: the in-graph branch to the rank count; none: the kernel
            expected = oracle(LabelCase("sparse", logits, y), logits, top_k=3, reduction="none")
            assert f(tf.constant(logits), tf.constant(y)).numpy().tolist() == expected.tolist()


def test_jax_jit_top_k_on_ties_and_nan() -> None:
    backend_named("jax")
    import jax
    import jax.numpy as jnp

    z, y = _every_target(KERNEL_ROWS)
    f = jax.jit(lambda z, y: lk.accuracy(z, y, top_k=3, reduction="none"))
    expected = oracle(LabelCase("sparse", z, y), z, top_k=3, reduction="none")
    assert np.asarray(f(jnp.asarray(z), jnp.asarray(y))).tolist() == expected.tolist()


# --- the three compilers -------------------------------------------------------------------------

C = 1000
N = 6
rng = np.random.default_rng(15)
BIG_Z = rng.standard_normal((N, C)).astype("float32")
BIG_IDS = np.array([int(np.argmax(BIG_Z[0])), 999, 0, 512, int(np.argsort(BIG_Z[4])[-2]), 42])


def _expected(ids: np.ndarray, ignore_index: int | None = None, **kw: Any) -> np.ndarray:
    return oracle(LabelCase("sparse", BIG_Z, ids, ignore_index=ignore_index), BIG_Z, check_values=False, **kw)


def test_jax_jit() -> None:
    backend_named("jax")
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda z, y: (lk.accuracy(z, y), lk.accuracy(z, y, top_k=2, reduction="none"),
                              lk.accuracy(z, y[:, None], ignore_index=0, reduction="sum")))
    ids = BIG_IDS.copy()
    mean, top2, total = f(jnp.asarray(BIG_Z), jnp.asarray(ids))
    assert float(mean) == pytest.approx(float(_expected(ids)))
    assert np.asarray(top2).tolist() == _expected(ids, top_k=2, reduction="none").tolist()
    assert float(total) == float(_expected(ids, ignore_index=0, reduction="sum"))
    ids[1] = 1000  # out of range: checks are skipped under jit, and the element is NaN (never a guess)
    per = np.asarray(jax.jit(lambda z, y: lk.accuracy(z, y, reduction="none"))(jnp.asarray(BIG_Z), jnp.asarray(ids)))
    assert math.isnan(per[1]) and not np.isnan(np.delete(per, 1)).any()


def test_tf_function_with_none_dims() -> None:
    tf = backend_named("tensorflow").module
    for jit in (False, True):
        @tf.function(jit_compile=jit, input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, 1), tf.int64)])
        def f(z: Any, y: Any) -> Any:
            return lk.accuracy(z, y), lk.accuracy(z, y, top_k=2, reduction="none")

        mean, top2 = f(tf.constant(BIG_Z), tf.constant(BIG_IDS[:, None]))
        assert float(mean) == pytest.approx(float(_expected(BIG_IDS)))
        assert top2.numpy().tolist() == _expected(BIG_IDS, top_k=2, reduction="none").tolist()
        bad = BIG_IDS.copy()
        bad[1] = -7
        per = f(tf.constant(BIG_Z), tf.constant(bad[:, None]))[1].numpy()
        assert math.isnan(per[1])

    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, 1), tf.int64)])
    def checked(z: Any, y: Any) -> Any:
        return lk.accuracy(z, y, check_values=True)

    bad = BIG_IDS.copy()
    bad[1] = 1000
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels: a class id is outside \[0, 1000\)"):
        checked(tf.constant(BIG_Z), tf.constant(bad[:, None]))


def test_torch_compile_fullgraph() -> None:
    torch = backend_named("torch").module

    @torch.compile(fullgraph=True)
    def f(z: Any, y: Any) -> Any:
        return lk.accuracy(z, y), lk.accuracy(z, y, top_k=2, reduction="none")

    mean, top2 = f(torch.tensor(BIG_Z), torch.tensor(BIG_IDS[:, None]))
    assert float(mean) == pytest.approx(float(_expected(BIG_IDS)))
    assert top2.tolist() == _expected(BIG_IDS, top_k=2, reduction="none").tolist()


# --- Keras: its own metrics, and labelkit.keras.Accuracy (one process per Keras backend) ---------

KERAS_BACKENDS = ("tensorflow", "jax", "torch")


@pytest.fixture(scope="module", params=KERAS_BACKENDS, ids=[f"keras-{b}" for b in KERAS_BACKENDS])
def keras_report(request: pytest.FixtureRequest) -> dict[str, Any]:
    need(request.param, "keras")
    return run_worker("keras_metric_worker.py", env={"KERAS_BACKEND": request.param}, timeout=600)


def test_keras_runs_on_the_requested_backend(keras_report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    assert keras_report["backend"] == request.node.callspec.params["keras_report"]


def test_equal_to_keras_own_metrics(keras_report: dict[str, Any]) -> None:
    """lk.accuracy and labelkit.keras.Accuracy against SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    CategoricalAccuracy and BinaryAccuracy, on the inputs where those are right."""
    diffs = keras_report["diffs"]
    assert len(diffs) >= 10
    bad = {k: v for k, v in diffs.items() if not v <= 1e-6}
    assert not bad, bad


def test_keras_categorical_accuracy_with_column_ids_is_the_trap(keras_report: dict[str, Any]) -> None:
    """Keras' CategoricalAccuracy given (N, 1) ids compares argmax(y_true) (always 0) with the prediction."""
    trap = keras_report["trap"]
    assert abs(trap["keras_categorical_accuracy"] - trap["right"]) > 0.2
    assert trap["labelkit"] == pytest.approx(trap["right"], abs=1e-7)


def test_keras_metric_trains_in_fit(keras_report: dict[str, Any]) -> None:
    fit = keras_report["fit"]
    assert fit["metric_last"] > fit["metric_first"], fit
    # The stateful metric is the mean over every element seen: evaluate() equals one lk.accuracy on all.
    assert fit["evaluate"] == pytest.approx(fit["direct"], abs=1e-6)
    assert fit["evaluate_ignore"] == pytest.approx(fit["direct_ignore"], abs=1e-6)
    assert fit["sample_weight"] == pytest.approx(fit["direct_sample_weight"], abs=1e-6)


def test_keras_metric_on_a_sigmoid_output(keras_report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    """Dense(1, activation="sigmoid"): from_logits=False always equals BinaryAccuracy; the default and
    from_logits=True read the logits Keras attaches to the output on TensorFlow and PyTorch. JAX arrays carry
    none: there the default refuses (never the silent share of positives), and from_logits=True is the
    user's word that the outputs are logits."""
    res = keras_report["fit"]["sigmoid"]
    assert res["lk_probs"] == pytest.approx(res["keras"], abs=1e-7)
    assert abs(res["all_positive"] - res["keras"]) > 0.05  # the wrong number is distinguishable
    if request.node.callspec.params["keras_report"] != "jax":
        assert res["lk_default"] == pytest.approx(res["keras"], abs=1e-7)
        assert res["lk_logits"] == pytest.approx(res["keras"], abs=1e-7)
    else:
        assert res["lk_default"].startswith("ArgumentError: from_logits: not given, and on Keras' JAX backend")
        assert "Accuracy(from_logits=False)" in res["lk_default"]


def test_keras_metric_on_a_linear_binary_output(keras_report: dict[str, Any]) -> None:
    """Dense(1) without activation and from_logits=True: sigmoid(z) > 0.5, i.e. BinaryAccuracy at z > 0."""
    res = keras_report["fit"]["linear"]
    assert res["lk_logits"] == pytest.approx(res["keras_at_0"], abs=1e-7)


def test_keras_metric_default_from_logits(keras_report: dict[str, Any]) -> None:
    """Without from_logits, binary and multilabel predictions are refused on JAX only; multiclass never is."""
    errors = keras_report["errors"]
    assert errors["multiclass_default"] == "no error"
    for key in ("binary_default", "multilabel_default"):
        if keras_report["backend"] == "jax":
            assert errors[key].startswith("ArgumentError: from_logits: not given"), errors[key]
        else:
            assert errors[key] == "no error", errors[key]


def test_keras_metric_serialises(keras_report: dict[str, Any]) -> None:
    ser = keras_report["serialise"]
    assert ser["config_roundtrip"] and ser["config_json"]
    assert ser["deserialize_type"] == "Accuracy"
    assert ser["loaded_metric_types"] and all(t == "labelkit._keras_metrics.Accuracy"
                                              for t in ser["loaded_metric_types"])
    assert ser["evaluate_before_after"][0] == pytest.approx(ser["evaluate_before_after"][1], abs=1e-7)
    assert ser["evaluate_before_after"][0] == pytest.approx(ser["direct"], abs=1e-6)


def test_keras_metric_errors(keras_report: dict[str, Any]) -> None:
    errors = keras_report["errors"]
    assert errors["top_k"].startswith("ArgumentError: top_k: expected a positive int")
    assert errors["shape"].startswith("ShapeMismatchError")


def test_keras_metric_global_fraction_under_mirrored_strategy(keras_report: dict[str, Any]) -> None:
    dist = keras_report.get("distributed")
    if dist is None:
        pytest.skip("tf.distribute runs on the TensorFlow backend only")
    assert dist["replicas"] == 2
    assert dist["metric"] == pytest.approx(dist["global"], abs=1e-6)
    assert abs(dist["mean_of_replica_fractions"] - dist["global"]) > 1e-3  # the replicas' shares differ


# --- diagnose / explain: the (N, N) symptom ------------------------------------------------------


def test_diagnose_of_column_labels_names_the_accuracy_trap() -> None:
    d = lk.diagnose((None, 1000), (None, 1), labels_dtype="int64")
    assert d.codes == ("column_labels",)
    assert "(logits.argmax(1) == labels) broadcasts (N,) against (N, 1) to (N, N)" in d.problems[0].message
    assert "lk.accuracy(logits, labels)" in d.problems[0].message
    d = lk.diagnose(np.zeros((2, 3, 4), "float32"), np.zeros((2, 1, 4), "int64"), axis=1)
    assert "broadcasts (2, 4) against (2, 1, 4) to (2, 2, 4)" in d.problems[0].message


@pytest.mark.parametrize(
    "text, code, found",
    [
        ("my accuracy (logits.argmax(1) == y).float().mean() is 0.11 with preds (32,) and labels (32, 1)",
         "accuracy_broadcast", "The text compares shapes (32,) and (32, 1)."),
        ("torch: acc = (pred == y).mean() where y has shape torch.Size([64, 1])", "accuracy_broadcast",
         "The text compares labels of shape (64, 1)."),
        ("keras CategoricalAccuracy stays at accuracy 0.1 with 10 classes", "accuracy_broadcast",
         "An accuracy of 0.1 with 10 classes is about chance, 1/C = 0.1."),
        ("validation accuracy 0.12% with 1000 classes", "accuracy_broadcast",
         "An accuracy of 0.0012 with 1000 classes is about chance"),
        ("accuracy is 0.85 with 10 classes", "accuracy_not_chance", "is not the chance level 1/C = 0.1"),
    ],
    ids=["shapes", "column-only", "chance-10", "chance-percent", "not-chance"],
)
def test_explain_recognises_the_accuracy_symptom(text: str, code: str, found: str) -> None:
    d = lk.explain(text)
    assert d.codes == (code,)
    assert found in d.problems[0].message
    if code == "accuracy_broadcast":
        assert "lk.accuracy" in d.problems[0].message or "labelkit.keras.Accuracy" in d.problems[0].fix


def test_explain_of_shape_descriptions_without_accuracy_is_unchanged() -> None:
    assert lk.explain("logits (None, 1000) vs labels (None, 1)").codes == ("column_labels",)
