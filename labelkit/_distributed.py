"""The denominator of ``reduction="mean"``, for losses whose mean spans several devices or processes.

A data-parallel step sees a slice of the global batch on each replica. The mean over non-ignored
elements of the GLOBAL batch is ``Σ_replicas loss_sum / Σ_replicas count``: every replica computes
``lk.cross_entropy(..., reduction="sum")`` and ``lk.count_valid(...)`` on its slice, the engine's own
all-reduce (``tf.distribute`` replica context, ``torch.distributed``, ``jax.lax.psum``) sums the counts,
and each replica divides its sum by the global count. Averaging per-replica means instead weighs a
replica with many ignored elements as much as one with none, and differs from the one-device loss.

labelkit does no communication itself: ``count_valid`` is a local number (it carries no gradient) that
the engine reduces.
"""

from __future__ import annotations

from typing import Any

from labelkit._checks import effective_ignore_index, validate_ignore_index
from labelkit._losses import _class_shape, _class_weight, _compute_dtype, _ones
from labelkit._ops import Prepared, decided, prepare
from labelkit._spec import Task, classes_unknown, dtype_kind
from labelkit.backends import Backend

__all__ = ["count_valid"]


def _element_count(b: Backend, per_element: Any, dtype: str) -> Any:
    """The number of elements of ``per_element`` (shape ``S``) as a scalar array of ``dtype``."""
    n = _ones(b, b.cast(per_element, dtype))
    if isinstance(n, float):
        n = b.asarray(n, per_element)
    return b.sum(b.cast(n, dtype))  # a scalar of the loss's type (np.float32 on NumPy, as the loss)


def _keep_mask(p: Prepared, ignore_index: int | None) -> Any:
    """Bool array of shape ``S``: the elements that count (``None`` when all do)."""
    if ignore_index is None or p.spec.label_format != "sparse":
        return None
    b = p.backend
    ids = p.labels
    # As the loss compares them: in the default int (torch reads `uint8_ids != -100` as `!= 156`).
    ignore_index = effective_ignore_index(b, ignore_index, b.dtype_name(ids))
    if ignore_index is None:
        return None
    if dtype_kind(b.dtype_name(ids)) in ("b", "i", "u") and b.dtype_name(ids) != b.default_int():
        ids = b.cast(ids, b.default_int())
    return ids != ignore_index


def valid_mask(
    logits: Any, labels: Any, *, task: Task = "auto", axis: int = -1, ignore_index: int | None = None
) -> Any:
    """Bool array of the batch shape ``S``: the elements whose label is not ``ignore_index``.

    ``None`` when every element counts (no ``ignore_index``, or labels that are not sparse ids).
    Never checks values (the loss does), so it adds no host synchronisation.
    """
    ignore_index = validate_ignore_index(ignore_index)
    p = prepare(logits, labels, task=task, axis=axis, ignore_index=ignore_index, check_values=False)
    if p.reading is None or ignore_index is None:
        return _keep_mask(p, ignore_index)

    def mask(q: Prepared) -> Any:
        # Labels whose width is read at run time (rule 6): one mask of shape S from either reading.
        keep = _keep_mask(q, ignore_index)
        if keep is None:
            b = q.backend
            per_element = b.sum(q.labels, q.spec.axis) if q.spec.label_format == "dense" else q.labels
            per_element = b.cast(per_element, "float32")
            keep = b.isfinite(per_element) | ~b.isfinite(per_element)  # every element counts
        return keep

    return decided(p, mask)


def count_valid(
    logits: Any,
    labels: Any,
    *,
    task: Task = "auto",
    axis: int = -1,
    class_weight: Any = None,
    ignore_index: int | None = None,
) -> Any:
    """The denominator ``D`` of ``lk.cross_entropy(..., reduction="mean")``.

    ``D`` is the number of elements whose label is not ``ignore_index``; with ``class_weight``
    (multiclass and binary) it is ``Σ_i Σ_c w_c t_ic`` instead — PyTorch's ``Σ_i w[y_i]`` for sparse
    labels, ignored elements left out; negative weights count as they are, as in PyTorch. So, whenever
    ``D != 0`` (``D = 0`` gives a mean of 0)::

        cross_entropy(logits, labels, reduction="mean", **kw)
            == cross_entropy(logits, labels, reduction="sum", **kw) / count_valid(logits, labels, **kw)

    In data-parallel training, sum ``D`` over the replicas with the engine's own all-reduce and divide
    each replica's ``reduction="sum"`` loss by it: the result is the mean over the global batch, equal
    to the loss on one device (the README's "Distributed training" gives the recipe per engine). ``D`` carries
    no gradient.

    Args:
      logits: float array of shape ``(*S, C)`` (class axis at ``axis``); ``(*S, 1)`` or ``(N,)`` for
        binary. Only its shape, dtype and framework are read.
      labels: labels in any format ``lk.cross_entropy`` accepts: sparse ids of shape ``S`` or
        ``S + (1,)``, rows of shape ``(*S, C)``, binary targets.
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      axis: the logits' class axis.
      class_weight: the ``class_weight`` given to the loss (C weights, or ``[w_neg, w_pos]`` for binary).
      ignore_index: the ``ignore_index`` given to the loss.

    Returns:
      A scalar of the logits' framework and device: float32, or float64 for float64 logits (the loss's
      dtype), so that it can be all-reduced and divided by as it is.

    Raises:
      ShapeMismatchError: the labels do not fit the logits.
      ArgumentError: a keyword argument out of range, or an ``ignore_index`` (other than PyTorch's
        default -100) with labels that are not class ids, as the loss refuses it.

    >>> import numpy as np, labelkit as lk
    >>> logits = np.zeros((4, 3), "float32")
    >>> labels = np.array([[0], [2], [-100], [1]])
    >>> float(lk.count_valid(logits, labels, ignore_index=-100))
    3.0
    >>> total = lk.cross_entropy(logits, labels, ignore_index=-100, reduction="sum")
    >>> float(total / lk.count_valid(logits, labels, ignore_index=-100))  # the mean
    1.0986...
    """
    ignore_index = validate_ignore_index(ignore_index)
    p = prepare(logits, labels, task=task, axis=axis, ignore_index=ignore_index, check_values=False)
    # Labels whose width is read at run time (rule 6): the count of the reading the graph selects.
    return decided(p, lambda q: _count(q, class_weight, ignore_index))


def _count(p: Prepared, class_weight: Any, ignore_index: int | None) -> Any:
    """``count_valid`` of prepared labels (of one format)."""
    b, spec = p.backend, p.spec
    # Counted on the logits' device, where the loss and the class weights are (labels may be elsewhere).
    p.labels = b.asarray(p.labels, p.logits)
    dtype = _compute_dtype(b, p.logits)
    keep = _keep_mask(p, ignore_index)
    fmt = spec.label_format
    if fmt == "sparse":
        c = spec.num_classes
        if c is None:
            raise classes_unknown(spec.axis, "counting sparse labels")
        ids = p.labels
        if class_weight is None:
            if keep is None:
                return _element_count(b, ids, dtype)
            return b.sum(b.cast(keep, dtype))
        if dtype_kind(b.dtype_name(ids)) in ("b", "i", "u") and b.dtype_name(ids) != b.default_int():
            ids = b.cast(ids, b.default_int())  # as the loss: torch has no comparisons on uint16-64
        valid = (ids >= 0) & (ids < c)
        if dtype_kind(b.dtype_name(ids)) == "f":
            valid = valid & (b.floor(ids) == ids)
        safe = b.cast(b.where(valid, ids, 0), b.default_int())
        w = _class_weight(b, class_weight, p.logits, c, dtype, "multiclass")
        counted = b.take(w, safe)
        if keep is not None:
            counted = b.where(keep, counted, 0.0)
        return b.sum(counted)
    t = b.cast(p.labels, dtype)
    if fmt == "dense" and spec.task == "multiclass":
        if class_weight is None:
            return _element_count(b, b.sum(t, spec.axis), dtype)
        w = _class_weight(b, class_weight, p.logits, spec.num_classes, dtype, "multiclass")
        return b.sum(t * _class_shape(b, w, len(b.shape(t)), spec.axis))
    if spec.task == "multilabel" or class_weight is None:
        if class_weight is not None:  # unused for the count, but refused as the loss refuses it
            _class_weight(b, class_weight, p.logits, spec.num_classes, dtype, "multilabel")
        per_element = b.sum(t, spec.axis) if spec.task == "multilabel" else t
        return _element_count(b, per_element, dtype)
    w = _class_weight(b, class_weight, p.logits, 2, dtype, "binary")
    w0, w1 = b.reshape(w[:1], ()), b.reshape(w[1:], ())
    return b.sum(w0 * (1.0 - t) + w1 * t)
