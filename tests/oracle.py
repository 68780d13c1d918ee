"""A float64 NumPy oracle for the label operations and the inference table, written from SPEC.md alone.

Nothing here imports labelkit: the oracle is the independent second opinion every backend is compared
with. It is slow on purpose (element loops), so that it shares no vectorised trick with the library.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

Shape = tuple[Any, ...]


class Expected(NamedTuple):
    """What ``lk.infer`` must return, ``Spec`` less its ``backend``."""

    task: str
    label_format: str
    num_classes: int | None
    axis: int
    squeeze: bool


class Rejected(NamedTuple):
    """``lk.infer`` must raise ``ShapeMismatchError``."""

    reason: str


def _same(a: Any, b: Any) -> bool:
    return a is None or b is None or a == b


def _fits(labels: Shape, target: Shape) -> bool:
    return len(labels) == len(target) and all(_same(x, y) for x, y in zip(labels, target))


def infer(logits: Shape, labels: Shape, *, labels_kind: str = "i", task: str = "auto", axis: int = -1):
    """SPEC "Inference", rule by rule. ``labels_kind``: ``"i"`` integer/bool, ``"f"`` floating."""
    logits, labels = tuple(logits), tuple(labels)
    nd = len(logits)
    if nd == 0:
        return Rejected("scalar logits")
    # Rule 1: rank-1 logits are one logit per example.
    if nd == 1 and task in ("auto", "binary"):
        if _fits(labels, logits):
            return Expected("binary", "binary", 2, 1, False)
        if _fits(labels, logits + (1,)):
            return Expected("binary", "binary", 2, 1, True)
        return Rejected("binary labels must be (N,) or (N, 1)")
    ax = axis % nd
    c = logits[ax]
    b = logits[:ax] + logits[ax + 1 :]
    if task == "auto":
        task = "binary" if c == 1 else "multiclass"
    if task == "binary":
        if c not in (1, None):
            return Rejected("binary task needs one logit")
        if _fits(labels, b):
            return Expected("binary", "binary", 2, ax, False)
        if _fits(labels, logits):
            return Expected("binary", "binary", 2, ax, True)
        return Rejected("binary labels must be B or the logits' shape")
    if task == "multilabel":
        if _fits(labels, logits):
            return Expected("multilabel", "dense", c, ax, False)
        return Rejected("multilabel labels have the logits' shape")
    # Rule 2: multiclass.
    if c is not None and c < 2:
        return Rejected("multiclass needs two classes")
    if len(labels) == nd - 1 and _fits(labels, b):
        return Expected("multiclass", "sparse", c, ax, False)
    if len(labels) == nd and all(_same(labels[i], logits[i]) for i in range(nd) if i != ax):
        lc = labels[ax]
        if lc == 1:
            return Expected("multiclass", "sparse", c, ax, True)
        if lc is None:
            # Rule 6: unknown while tracing, whatever the dtype: read when the graph runs (ids where it is
            # 1, rows where it is C). The Spec describes the reading of ids (and says ``deferred``).
            return Expected("multiclass", "sparse", c, ax, True)
        if c is None or lc == c:
            return Expected("multiclass", "dense", lc, ax, False)
    return Rejected("no rule fits")


def one_hot(ids: Any, num_classes: int, *, axis: int = -1, ignore_index: int | None = None) -> np.ndarray:
    """float64 one-hot of ``ids``; an id outside ``[0, C)`` or equal to ``ignore_index`` gives a zero row."""
    ids = np.asarray(ids)
    out = np.zeros(ids.shape + (num_classes,), dtype=np.float64)
    for pos in np.ndindex(*ids.shape):
        v = ids[pos]
        v = float(v)  # bool, integers and integral floats alike
        if ignore_index is not None and v == ignore_index:
            continue
        if np.isfinite(v) and v == int(v) and 0 <= int(v) < num_classes:  # NaN, inf, 2.5: zero rows
            out[pos + (int(v),)] = 1.0
    return np.moveaxis(out, -1, axis)


def column_squeezed(ids: Any) -> np.ndarray:
    """``one_hot`` without ``like``: a trailing size-1 axis of ids of rank >= 2 is dropped ((1,) stays)."""
    ids = np.asarray(ids)
    return ids[..., 0] if ids.ndim >= 2 and ids.shape[-1] == 1 else ids


def to_sparse(rows: Any, *, axis: int = -1) -> np.ndarray:
    """int64 argmax along ``axis``; the first maximum on ties."""
    rows = np.moveaxis(np.asarray(rows, dtype=np.float64), axis, -1)
    out = np.zeros(rows.shape[:-1], dtype=np.int64)
    for pos in np.ndindex(*rows.shape[:-1]):
        row = rows[pos]
        best = 0
        for k in range(1, row.shape[0]):
            if row[k] > row[best]:
                best = k
        out[pos] = best
    return out


def squeeze(labels: Any, logits_shape: Shape) -> np.ndarray:
    """Column labels lose their size-1 class axis (the logits' last); nothing else is squeezed."""
    labels = np.asarray(labels)
    nd = len(logits_shape)
    if nd == 1 and labels.ndim == 2 and labels.shape[1] == 1:  # binary (N,) logits, (N, 1) labels
        return labels[:, 0]
    if labels.ndim == nd and labels.shape[-1] == 1:
        return labels[..., 0]
    return labels


def align(logits: np.ndarray, labels: np.ndarray, expected: Expected, to: str, ignore_index: int | None = None):
    """The labels in the layout a loss expects, as float64 (one_hot) or int64 (sparse) values."""
    labels = np.asarray(labels)
    ax = expected.axis
    if expected.label_format == "sparse":
        ids = np.squeeze(labels, axis=ax) if expected.squeeze else labels
        if to == "sparse":
            return ids.astype(np.int64)
        return one_hot(ids, expected.num_classes, axis=ax, ignore_index=ignore_index)
    if expected.label_format == "binary":
        y = labels
        if expected.squeeze:
            y = np.squeeze(y, axis=ax)
        if to == "sparse":
            return y.astype(np.float64)
        return (y.reshape(logits.shape) if logits.ndim > 1 else y).astype(np.float64)
    if to == "sparse":
        return to_sparse(labels, axis=ax)
    return labels.astype(np.float64)
