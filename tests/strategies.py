"""Hypothesis strategies shared by every property test: shapes, label formats, dtypes and values.

Everything is drawn as NumPy arrays; a test converts them with its ``backend`` fixture, so one drawn
case runs unchanged on every backend and is compared with ``tests/oracle.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

SIGNED = ("int8", "int16", "int32", "int64")
INT_DTYPES = (*SIGNED, "uint8")
ID_DTYPES = (*INT_DTYPES, "bool", "float32", "float64")  # floats hold integral values
ROW_DTYPES = ("float32", "float64", "int32", "int64", "uint8", "bool")
PROB_DTYPES = ("float32", "float64")
FORMATS = ("sparse", "column", "one_hot", "probs", "binary", "multilabel")


def dtype_max(dtype: str) -> int:
    if dtype == "bool":
        return 1
    if dtype.startswith(("int", "uint")):
        return int(np.iinfo(dtype).max)
    return 2**24  # integral floats: exact in float32


def ignore_ids_for(dtype: str) -> st.SearchStrategy[int | None]:
    """Ignore ids the dtype can hold (never a valid class of the small C drawn here)."""
    if dtype == "bool":
        return st.none()
    if dtype == "uint8":
        return st.sampled_from([None, 255])
    return st.sampled_from([None, -100, -1])


# A fixed menu of batch shapes: JAX compiles each op once per shape and dtype, so every new size costs
# a compile (tenths of a second) while adding little. The menu has every rank up to 3, and size-1 axes
# in each place, where a column label and a batch axis look alike.
BATCH_SHAPES = ((), (1,), (3,), (2, 3), (3, 1), (1, 2), (2, 1, 3), (1, 2, 2), (2, 2, 1))
num_classes = st.sampled_from([2, 3, 5, 300])  # 300: beyond int8/uint8, whose comparisons must not wrap


def batch_shapes(min_rank: int = 1, max_rank: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    return st.sampled_from([s for s in BATCH_SHAPES if min_rank <= len(s) <= max_rank])


@st.composite
def class_ids(
    draw: Any, shape: tuple[int, ...], c: int, dtype: str, ignore_index: int | None = None, valid: bool = True
) -> np.ndarray:
    """Class ids of ``shape``: in ``[0, C)`` (some set to ``ignore_index``), or anything the dtype holds."""
    hi = min(c - 1, dtype_max(dtype))
    if valid:
        values = st.integers(0, hi)
    else:
        lo = 0 if dtype in ("uint8", "bool") else -3
        values = st.integers(lo, min(c + 3, dtype_max(dtype)))
    if ignore_index is not None:
        values = st.one_of(values, st.just(ignore_index))
    n = int(np.prod(shape))
    flat = draw(st.lists(values, min_size=n, max_size=n))
    return np.asarray(flat, dtype=np.int64).reshape(shape).astype(dtype)


@st.composite
def dense_rows(draw: Any, shape: tuple[int, ...], axis: int, kind: str, dtype: str) -> np.ndarray:
    """Rows along ``axis`` of a ``shape`` array: ``one_hot``, ``probs`` (ties are likely) or ``multi_hot``."""
    c = shape[axis]
    moved = shape[:axis] + shape[axis + 1 :] + (c,) if axis != -1 else shape
    n = int(np.prod(moved[:-1]))
    if kind == "one_hot":
        ids = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
        rows = np.eye(c)[np.asarray(ids, dtype=np.int64)]
    elif kind == "probs":
        weights = st.lists(st.integers(0, 4), min_size=c, max_size=c).filter(any)
        rows = np.asarray(draw(st.lists(weights, min_size=n, max_size=n)), dtype=np.float64).reshape(n, c)
        rows = rows / rows.sum(axis=1, keepdims=True)
    else:
        rows = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n * c, max_size=n * c)), dtype=np.float64)
    rows = rows.reshape(moved)
    if axis != -1:
        rows = np.moveaxis(rows, -1, axis)
    return rows.astype(dtype)


@dataclass
class LabelCase:
    """Logits and labels of one format, as NumPy arrays, with the keyword arguments that go with them."""

    fmt: str
    logits: np.ndarray
    labels: np.ndarray
    axis: int = -1
    task: str = "auto"
    ignore_index: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return 2 if self.fmt == "binary" else self.logits.shape[self.axis]

    @property
    def labels_kind(self) -> str:
        return "f" if self.labels.dtype.kind == "f" else "i"

    def __repr__(self) -> str:
        return (
            f"LabelCase({self.fmt}, logits {self.logits.shape}, labels {self.labels.shape} {self.labels.dtype}, "
            f"axis={self.axis}, task={self.task!r}, ignore_index={self.ignore_index}, labels={self.labels.tolist()})"
        )


def _logits(draw: Any, shape: tuple[int, ...]) -> np.ndarray:
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@st.composite
def label_cases(
    draw: Any,
    formats: tuple[str, ...] = FORMATS,
    id_dtypes: tuple[str, ...] = ID_DTYPES,
    axes: tuple[int, ...] = (-1, 1),
) -> LabelCase:
    """One (logits, labels) pair of a drawn format, batch shape, class axis, dtype and ignore id.

    ``axes``: the class axes to draw from; ``1`` (channels-first) needs a batch shape of rank >= 2,
    so ``axes=(1,)`` draws only such shapes.
    """
    fmt = draw(st.sampled_from(formats))
    s = draw(batch_shapes(min_rank=2 if -1 not in axes else 1))
    c = draw(num_classes) if fmt not in ("binary",) else 1
    if c > 7 and len(s) > 1 and -1 in axes:
        s = s[:1]  # keep the big-C cases small
    # The class axis: last, or channels-first (1) when there is a spatial axis after the batch.
    axis = draw(st.sampled_from(axes)) if len(s) >= 2 else -1
    ax = len(s) if axis == -1 else axis
    full = s[:ax] + (c,) + s[ax:]
    if fmt in ("sparse", "column"):
        dtype = draw(st.sampled_from(id_dtypes))
        ignore = draw(ignore_ids_for(dtype))
        ids = draw(class_ids(s, c, dtype, ignore))
        labels = np.expand_dims(ids, ax) if fmt == "column" else ids
        return LabelCase(fmt, _logits(draw, full), labels, axis, ignore_index=ignore)
    if fmt in ("one_hot", "probs", "multilabel"):
        dtype = draw(st.sampled_from(PROB_DTYPES if fmt == "probs" else ROW_DTYPES))
        kind = {"one_hot": "one_hot", "probs": "probs", "multilabel": "multi_hot"}[fmt]
        labels = draw(dense_rows(full, ax, kind, dtype))
        task = "multilabel" if fmt == "multilabel" else "auto"
        return LabelCase(fmt, _logits(draw, full), labels, axis, task=task)
    # binary: rank-1 logits (N,), or a size-1 class axis; labels B or the logits' shape.
    dtype = draw(st.sampled_from(("float32", "float64", "int32", "int64", "uint8", "bool")))
    rank1 = draw(st.booleans())
    if rank1:
        s, axis, ax = s[:1], -1, 1
        logits_shape = s
    else:
        logits_shape = full
    with_axis = draw(st.booleans())
    lab_shape = (s[:ax] + (1,) + s[ax:]) if with_axis else s
    n = int(np.prod(lab_shape))
    values = st.integers(0, 1) if dtype != "float32" or draw(st.booleans()) else st.sampled_from([0.0, 0.25, 1.0])
    labels = np.asarray(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64).reshape(lab_shape)
    return LabelCase(fmt, _logits(draw, logits_shape), labels.astype(dtype), axis if not rank1 else -1)


@st.composite
def shape_pairs(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...], int, str, str]:
    """Any (logits shape, labels shape, axis, task, labels kind): fitting and not fitting pairs alike."""
    s = draw(batch_shapes(min_rank=0, max_rank=3))
    c = draw(st.sampled_from([1, 2, 3, 5]))
    axis = draw(st.sampled_from([-1, 0, 1])) if len(s) >= 1 else -1
    ax = len(s) if axis == -1 else axis
    logits = s[:ax] + (c,) + s[ax:]
    b = s
    column = s[:ax] + (1,) + s[ax:]
    choice = draw(st.sampled_from(["b", "column", "full", "batch+1", "extra", "dropped", "c+1", "other"]))
    if choice == "b":
        labels = b
    elif choice == "column":
        labels = column
    elif choice == "full":
        labels = logits
    elif choice == "batch+1":
        labels = ((logits[0] + 1,) + logits[1:]) if draw(st.booleans()) else ((b[0] + 1,) + b[1:] if b else (1,))
    elif choice == "extra":
        labels = (*b, 1, 1) if draw(st.booleans()) else (*logits, 1)
    elif choice == "dropped":
        labels = b[:-1]
    elif choice == "c+1":
        labels = logits[:ax] + (c + 1,) + logits[ax + 1 :]
    else:
        labels = draw(batch_shapes(min_rank=0, max_rank=4))
    if draw(st.booleans()) and len(logits) >= 2:
        logits = logits[:1]  # rank-1 (binary) logits
    if axis >= len(logits):
        axis = -1
    task = draw(st.sampled_from(["auto", "auto", "multiclass", "binary", "multilabel"]))
    kind = draw(st.sampled_from(["i", "f"]))
    return tuple(logits), tuple(labels), axis, task, kind


def np_dtype_for_kind(kind: str) -> str:
    return "int64" if kind == "i" else "float32"


# --- accuracy (tests/test_accuracy.py) -----------------------------------------------------------

ACCURACY_THRESHOLDS = (0.5, 0.2, 0.7, 0.0, 1.0)


@dataclass
class AccuracyOptions:
    """The keyword arguments of one drawn ``lk.accuracy`` call (besides the case's own)."""

    top_k: int
    threshold: float
    reduction: str
    from_logits: bool


@st.composite
def tied_label_cases(draw: Any, formats: tuple[str, ...] = FORMATS, axes: tuple[int, ...] = (-1, 1)) -> LabelCase:
    """``label_cases``, with the logits often rounded to a few values, so that ties among the classes
    (and logits exactly at a threshold's boundary, 0) are common."""
    case = draw(label_cases(formats=formats, axes=axes))
    if draw(st.booleans()):
        case.logits = np.round(case.logits).astype(np.float32)
    return case


@st.composite
def accuracy_options(draw: Any, case: LabelCase) -> AccuracyOptions:
    """``top_k`` (1 to C + 1 for multiclass, 1 otherwise), a threshold, a reduction and ``from_logits``
    (only for binary and multilabel, where probabilities change the comparison)."""
    multiclass = case.fmt in ("sparse", "column", "one_hot", "probs")
    top_k = draw(st.integers(1, case.num_classes + 1)) if multiclass and draw(st.booleans()) else 1
    return AccuracyOptions(
        top_k=top_k,
        threshold=draw(st.sampled_from(ACCURACY_THRESHOLDS)),
        reduction=draw(st.sampled_from(("mean", "sum", "none"))),
        from_logits=True if multiclass else draw(st.booleans()),
    )
