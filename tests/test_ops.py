"""``one_hot``, ``squeeze``, ``to_sparse`` and ``align`` against the float64 oracle, on every backend.

Each case is written once as NumPy arrays; the ``backend`` fixture converts them, and the result must
be an array of that backend with exactly the oracle's values, shape and the documented dtype.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

import labelkit as lk
import oracle

RNG = np.random.default_rng(0)


def logits_of(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def check(backend, out: Any, expected: np.ndarray, dtype: str) -> None:
    assert backend.is_native(out), f"expected a {backend.name} array, got {type(out)}"
    assert backend.dtype_name(out) == backend.canonical(dtype)
    got = backend.to_numpy(out)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


# --- one_hot -------------------------------------------------------------------------------------


class OneHot(NamedTuple):
    labels: np.ndarray
    kwargs: dict[str, Any]
    expected: np.ndarray
    dtype: str = "float32"


def _oh(ids, c, axis=-1, ignore_index=None):
    return oracle.one_hot(ids, c, axis=axis, ignore_index=ignore_index)


IDS = np.array([2, 0, 4, 1], dtype=np.int64)
IDS_NT = np.array([[0, 3, 1], [2, 2, 4]], dtype=np.int64)

ONE_HOT: dict[str, OneHot] = {
    "sparse": OneHot(IDS, {"num_classes": 5}, _oh(IDS, 5)),
    "column": OneHot(IDS[:, None], {"num_classes": 5}, _oh(IDS, 5)),
    "batch-of-one-stays": OneHot(np.array([3]), {"num_classes": 5}, _oh([3], 5)),
    "column-batch-of-one": OneHot(np.array([[3]]), {"num_classes": 5}, _oh([3], 5)),
    "scalar": OneHot(np.array(3), {"num_classes": 5}, _oh(np.array(3), 5)),
    "sequence": OneHot(IDS_NT, {"num_classes": 5}, _oh(IDS_NT, 5)),
    "sequence-column": OneHot(IDS_NT[..., None], {"num_classes": 5}, _oh(IDS_NT, 5)),
    "sequence-axis1": OneHot(IDS_NT, {"num_classes": 5, "axis": 1}, _oh(IDS_NT, 5, axis=1)),
    "empty-batch": OneHot(np.zeros((0,), np.int64), {"num_classes": 3}, np.zeros((0, 3))),
    "int8": OneHot(IDS.astype("int8"), {"num_classes": 5}, _oh(IDS, 5)),
    "int16": OneHot(IDS.astype("int16"), {"num_classes": 5}, _oh(IDS, 5)),
    "int32": OneHot(IDS.astype("int32"), {"num_classes": 5}, _oh(IDS, 5)),
    "uint8": OneHot(IDS.astype("uint8"), {"num_classes": 5}, _oh(IDS, 5)),
    "uint8-300-classes": OneHot(np.array([255, 0], np.uint8), {"num_classes": 300}, _oh([255, 0], 300)),
    "int8-300-classes": OneHot(np.array([127, 5], np.int8), {"num_classes": 300}, _oh([127, 5], 300)),
    "bool": OneHot(np.array([True, False, True]), {"num_classes": 2}, _oh([1, 0, 1], 2)),
    "float32-integral": OneHot(IDS.astype("float32"), {"num_classes": 5}, _oh(IDS, 5)),
    "float64-integral": OneHot(IDS.astype("float64"), {"num_classes": 5}, _oh(IDS, 5)),
    "float16-integral": OneHot(IDS.astype("float16"), {"num_classes": 5}, _oh(IDS, 5)),
    "dtype-int32": OneHot(IDS, {"num_classes": 5, "dtype": "int32"}, _oh(IDS, 5), "int32"),
    "dtype-float64": OneHot(IDS, {"num_classes": 5, "dtype": "float64"}, _oh(IDS, 5), "float64"),
    "dtype-bool": OneHot(IDS, {"num_classes": 5, "dtype": "bool"}, _oh(IDS, 5), "bool"),
    "ignore-100": OneHot(
        np.array([1, -100, 3]), {"num_classes": 4, "ignore_index": -100}, _oh([1, -100, 3], 4, ignore_index=-100)
    ),
    "ignore-255-uint8": OneHot(
        np.array([1, 255], np.uint8), {"num_classes": 4, "ignore_index": 255}, _oh([1, 255], 4, ignore_index=255)
    ),
    "ignore-in-range": OneHot(
        np.array([1, 0, 3]), {"num_classes": 4, "ignore_index": 0}, _oh([1, 0, 3], 4, ignore_index=0)
    ),
    "unchecked-id-C-zero-row": OneHot(
        np.array([1, 5, 4]), {"num_classes": 5, "check_values": False}, _oh([1, 5, 4], 5)
    ),
    "unchecked-id-minus-1-not-wrapped": OneHot(
        np.array([-1, 2]), {"num_classes": 5, "check_values": False}, _oh([-1, 2], 5)
    ),
    "unchecked-float-2.5-zero-row": OneHot(
        np.array([2.5, 2.0], np.float32), {"num_classes": 5, "check_values": False}, _oh([2.5, 2.0], 5)
    ),
}


@pytest.mark.parametrize("case", list(ONE_HOT.values()), ids=list(ONE_HOT))
def test_one_hot(backend, case):
    out = lk.one_hot(backend.to_backend(case.labels), **case.kwargs)
    check(backend, out, case.expected, case.dtype)


class OneHotLike(NamedTuple):
    labels: np.ndarray
    like: np.ndarray
    kwargs: dict[str, Any]
    expected: np.ndarray
    dtype: str


IDS_NHW = np.array([[[0, 1, 2], [2, 1, 0]], [[1, 1, 1], [0, 0, 2]]], dtype=np.int64)  # (2, 2, 3)

ONE_HOT_LIKE: dict[str, OneHotLike] = {
    "sparse": OneHotLike(IDS, logits_of(4, 5), {}, _oh(IDS, 5), "float32"),
    "column": OneHotLike(IDS[:, None], logits_of(4, 5), {}, _oh(IDS, 5), "float32"),
    "batch-of-one-column": OneHotLike(np.array([[3]]), logits_of(1, 5), {}, _oh([3], 5), "float32"),
    "like-float64": OneHotLike(IDS, logits_of(4, 5, dtype="float64"), {}, _oh(IDS, 5), "float64"),
    "like-float16": OneHotLike(IDS, logits_of(4, 5, dtype="float16"), {}, _oh(IDS, 5), "float16"),
    "dtype-wins-over-like": OneHotLike(IDS, logits_of(4, 5), {"dtype": "int64"}, _oh(IDS, 5), "int64"),
    "num-classes-agrees": OneHotLike(IDS, logits_of(4, 5), {"num_classes": 5}, _oh(IDS, 5), "float32"),
    "sequence-column": OneHotLike(IDS_NT[..., None], logits_of(2, 3, 5), {}, _oh(IDS_NT, 5), "float32"),
    "NCHW-axis1": OneHotLike(IDS_NHW, logits_of(2, 3, 2, 3), {"axis": 1}, _oh(IDS_NHW, 3, axis=1), "float32"),
    "NCHW-column-axis1": OneHotLike(
        IDS_NHW[:, None], logits_of(2, 3, 2, 3), {"axis": 1}, _oh(IDS_NHW, 3, axis=1), "float32"
    ),
    "scalar-id-vector-logits": OneHotLike(np.array(2), logits_of(5), {}, _oh(np.array(2), 5), "float32"),
    "ignore": OneHotLike(
        np.array([1, -100, 3, 0]), logits_of(4, 5), {"ignore_index": -100},
        _oh([1, -100, 3, 0], 5, ignore_index=-100), "float32",
    ),
}


@pytest.mark.parametrize("case", list(ONE_HOT_LIKE.values()), ids=list(ONE_HOT_LIKE))
def test_one_hot_like(backend, case):
    like = backend.to_backend(case.like)
    out = lk.one_hot(backend.to_backend(case.labels), like=like, **case.kwargs)
    assert tuple(backend.to_numpy(out).shape) == case.like.shape  # exactly like's shape
    check(backend, out, case.expected, case.dtype)


def test_one_hot_accepts_the_frameworks_own_dtype(backend):
    out = lk.one_hot(backend.to_backend(IDS), 5, dtype=backend.dtype("int32"))
    check(backend, out, _oh(IDS, 5), "int32")


def test_one_hot_with_numpy_ids_and_framework_like_returns_the_framework(backend):
    out = lk.one_hot(IDS, like=backend.to_backend(logits_of(4, 5)))
    check(backend, out, _oh(IDS, 5), "float32")


def test_one_hot_from_a_list_is_numpy():
    out = lk.one_hot([[1], [0]], 2)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [[0, 1], [1, 0]])


def test_one_hot_axis_equals_moveaxis(backend):
    ids = backend.to_backend(IDS_NHW)
    last = backend.to_numpy(lk.one_hot(ids, 3))
    first = backend.to_numpy(lk.one_hot(ids, 3, axis=1))
    np.testing.assert_array_equal(first, np.moveaxis(last, -1, 1))


# --- squeeze -------------------------------------------------------------------------------------


class Squeeze(NamedTuple):
    labels: np.ndarray
    like: np.ndarray


SQUEEZE: dict[str, Squeeze] = {
    "column": Squeeze(IDS[:, None], logits_of(4, 5)),
    "sparse-stays": Squeeze(IDS, logits_of(4, 5)),
    "batch-of-one-stays-a-batch": Squeeze(np.array([[3]]), logits_of(1, 5)),
    "batch-of-one-sparse": Squeeze(np.array([3]), logits_of(1, 5)),
    "sequence-column": Squeeze(IDS_NT[..., None], logits_of(2, 3, 5)),
    "sequence-T1-stays": Squeeze(np.array([[1], [2]]), logits_of(2, 1, 5)),
    "binary-(N,1)-(N,1)": Squeeze(np.array([[1.0], [0.0]], np.float32), logits_of(2, 1)),
    "binary-(N,1)-(N,)": Squeeze(np.array([[1], [0], [1]]), logits_of(3)),
    "float-ids": Squeeze(np.array([[1.0], [4.0]], np.float32), logits_of(2, 5)),
    "bool-ids": Squeeze(np.array([[True], [False]]), logits_of(2, 2)),
}


@pytest.mark.parametrize("case", list(SQUEEZE.values()), ids=list(SQUEEZE))
def test_squeeze(backend, case):
    out = lk.squeeze(backend.to_backend(case.labels), backend.to_backend(case.like))
    expected = oracle.squeeze(case.labels, case.like.shape)
    check(backend, out, expected.astype(case.labels.dtype), backend.dtype_name(backend.to_backend(case.labels)))


def test_squeeze_numpy_labels_come_back_in_the_logits_framework(backend):
    out = lk.squeeze(IDS[:, None], like=backend.to_backend(logits_of(4, 5)))
    check(backend, out, IDS.astype(backend.default_int), backend.default_int)


def test_squeeze_refuses_dense_rows(backend):
    rows = backend.to_backend(np.eye(4, 5, dtype=np.float32))
    with pytest.raises(lk.ShapeMismatchError, match=r"one-hot or probability rows.*lk\.to_sparse"):
        lk.squeeze(rows, backend.to_backend(logits_of(4, 5)))


def test_squeeze_refuses_labels_that_do_not_fit(backend):
    with pytest.raises(lk.ShapeMismatchError, match=r"batch sizes differ: 3 labels vs 4 logits"):
        lk.squeeze(backend.to_backend(np.zeros((3, 1), np.int64)), backend.to_backend(logits_of(4, 5)))


# --- to_sparse -----------------------------------------------------------------------------------


class ToSparse(NamedTuple):
    rows: np.ndarray
    axis: int = -1


PROBS = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
TIES = np.array([[0.4, 0.4, 0.2], [0.25, 0.25, 0.5], [0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3]])
ONE_HOT_NT = oracle.one_hot(IDS_NT, 5)

TO_SPARSE: dict[str, ToSparse] = {
    "one_hot-float32": ToSparse(np.eye(5, dtype=np.float32)[IDS]),
    "one_hot-int64": ToSparse(np.eye(5, dtype=np.int64)[IDS]),
    "one_hot-uint8": ToSparse(np.eye(5, dtype=np.uint8)[IDS]),
    "one_hot-bool": ToSparse(np.eye(5, dtype=bool)[IDS]),
    "probs-float32": ToSparse(PROBS.astype(np.float32)),
    "probs-float64": ToSparse(PROBS),
    "ties-take-the-first": ToSparse(TIES.astype(np.float32)),
    "sequence": ToSparse(ONE_HOT_NT.astype(np.float32)),
    "channels-first-axis1": ToSparse(oracle.one_hot(IDS_NHW, 3, axis=1).astype(np.float32), axis=1),
    "batch-of-one": ToSparse(np.array([[0.0, 1.0]], np.float32)),
}


@pytest.mark.parametrize("case", list(TO_SPARSE.values()), ids=list(TO_SPARSE))
def test_to_sparse(backend, case):
    out = lk.to_sparse(backend.to_backend(case.rows), axis=case.axis)
    check(backend, out, oracle.to_sparse(case.rows, axis=case.axis), backend.default_int)


def test_to_sparse_inverts_one_hot(backend):
    rows = lk.one_hot(backend.to_backend(IDS_NT), 5)
    check(backend, lk.to_sparse(rows), IDS_NT, backend.default_int)


# --- align ---------------------------------------------------------------------------------------


class Align(NamedTuple):
    logits: np.ndarray
    labels: np.ndarray
    kwargs: dict[str, Any]


ALIGN: dict[str, Align] = {
    "sparse": Align(logits_of(4, 5), IDS, {}),
    "column": Align(logits_of(4, 5), IDS[:, None], {}),
    "column-int8": Align(logits_of(4, 5), IDS[:, None].astype("int8"), {}),
    "column-float32": Align(logits_of(4, 5), IDS[:, None].astype("float32"), {}),
    "column-bool": Align(logits_of(3, 2), np.array([[True], [False], [True]]), {}),
    "one_hot": Align(logits_of(4, 5), np.eye(5, dtype=np.float32)[IDS], {}),
    "one_hot-int": Align(logits_of(4, 5), np.eye(5, dtype=np.int32)[IDS], {}),
    "probs": Align(logits_of(3, 3), PROBS.astype(np.float32), {}),
    "logits-float64": Align(logits_of(4, 5, dtype="float64"), IDS, {}),
    "sequence-column": Align(logits_of(2, 3, 5), IDS_NT[..., None], {}),
    "NCHW-axis1": Align(logits_of(2, 3, 2, 3), IDS_NHW, {"axis": 1}),
    "NCHW-column-axis1": Align(logits_of(2, 3, 2, 3), IDS_NHW[:, None], {"axis": 1}),
    "NCHW-one_hot-axis1": Align(logits_of(2, 3, 2, 3), oracle.one_hot(IDS_NHW, 3, axis=1), {"axis": 1}),
    "ignore": Align(logits_of(4, 5), np.array([1, -100, 3, 0]), {"ignore_index": -100}),
    "binary-(N,)-(N,1)": Align(logits_of(3), np.array([[1.0], [0.0], [1.0]], np.float32), {}),
    "binary-(N,1)-(N,)": Align(logits_of(3, 1), np.array([1, 0, 1]), {}),
    "binary-(N,1)-(N,1)": Align(logits_of(3, 1), np.array([[1.0], [0.0], [0.5]], np.float32), {}),
}


def _expected_align(case: Align, to: str) -> np.ndarray:
    kind = "f" if case.labels.dtype.kind == "f" else "i"
    spec = oracle.infer(case.logits.shape, case.labels.shape, labels_kind=kind, **{
        k: v for k, v in case.kwargs.items() if k in ("axis", "task")
    })
    return oracle.align(case.logits, case.labels, spec, to, case.kwargs.get("ignore_index")), spec


@pytest.mark.parametrize("case", list(ALIGN.values()), ids=list(ALIGN))
def test_align_to_sparse(backend, case):
    out = lk.align(backend.to_backend(case.logits), backend.to_backend(case.labels), to="sparse", **case.kwargs)
    expected, spec = _expected_align(case, "sparse")
    if spec.label_format == "binary":  # binary targets keep their dtype (they may be probabilities)
        dtype = backend.dtype_name(backend.to_backend(case.labels))
    else:
        dtype = backend.default_int
    check(backend, out, expected.astype(dtype), dtype)


@pytest.mark.parametrize("case", list(ALIGN.values()), ids=list(ALIGN))
def test_align_to_one_hot(backend, case):
    out = lk.align(backend.to_backend(case.logits), backend.to_backend(case.labels), to="one_hot", **case.kwargs)
    expected, _ = _expected_align(case, "one_hot")
    assert expected.shape == case.logits.shape
    check(backend, out, expected, str(case.logits.dtype))


def test_align_multilabel_rows_to_one_hot_keeps_them(backend):
    rows = np.array([[1, 0, 1], [0, 0, 0]], np.float32)
    out = lk.align(backend.to_backend(logits_of(2, 3)), backend.to_backend(rows), to="one_hot", task="multilabel")
    check(backend, out, rows, "float32")


def test_align_multilabel_rows_to_sparse_is_refused(backend):
    rows = backend.to_backend(np.array([[1, 0, 1], [0, 1, 0]], np.float32))
    with pytest.raises(lk.ShapeMismatchError, match=r"multi-hot rows.*no single class id.*to='one_hot'"):
        lk.align(backend.to_backend(logits_of(2, 3)), rows, to="sparse", task="multilabel")


def test_align_with_numpy_labels_returns_the_logits_framework(backend):
    out = lk.align(backend.to_backend(logits_of(4, 5)), IDS[:, None], to="one_hot")
    check(backend, out, _oh(IDS, 5), "float32")


# --- empty batches -------------------------------------------------------------------------------


def test_empty_batch(backend):
    logits = backend.to_backend(np.zeros((0, 4), np.float32))
    ids = backend.to_backend(np.zeros((0, 1), np.int64))
    assert lk.validate(logits, ids).squeeze
    check(backend, lk.one_hot(ids, like=logits), np.zeros((0, 4)), "float32")
    check(backend, lk.align(logits, ids, to="sparse"), np.zeros((0,)), backend.default_int)
    check(backend, lk.to_sparse(logits), np.zeros((0,)), backend.default_int)
    check(backend, lk.squeeze(ids, logits), np.zeros((0,)), backend.dtype_name(ids))
