"""Accuracy for every label format, read the way the losses read labels (SPEC "Metrics").

The labels go through the losses' own ``prepare`` (inference, squeezing of column ids, value checks),
so ``(N,)`` ids never meet ``(N, 1)`` ones: the ``(pred == y)`` broadcast to ``(N, N)`` that makes a
hand-written accuracy silently wrong cannot happen. Per element ``i`` of the batch shape ``S``:

* multiclass: the target class is the sparse id, or the argmax of a dense row (first index on ties);
  the element is right when the target is among the ``top_k`` largest logits along the class axis,
  counting ties in the order of the classes. ``top_k=1`` is the framework's ``argmax`` compared with the
  target (the call a user writes by hand); ``top_k > 1`` counts the classes ranked before the target —
  logits strictly greater, plus equal ones at smaller indices — and compares that rank with ``top_k``,
  with NaN ranked above every number (as NumPy's, PyTorch's and JAX's ``argmax`` rank it) and a NaN
  target logit ranked after the NaNs at smaller indices only; the framework's top-k kernel answers where
  it is sure to agree (``Backend.top_k_hit``);
* binary / multilabel: the prediction is ``sigmoid(z) > threshold``, computed as ``z > logit(threshold)``
  (the same comparison without rounding in ``sigmoid``), or ``p > threshold`` for probabilities; the
  target is ``t > 0.5``; a multilabel element scores the fraction of its C classes that agree.

An element whose sparse id equals ``ignore_index`` scores 0 and is left out of the mean. An id out of
range that the value checks did not see (while tracing) scores NaN, as the loss does: never a silent
number. Results are float32 in the logits' framework and carry no gradient.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from labelkit import _fast
from labelkit._checks import checks_on_device, effective_ignore_index, validate_ignore_index
from labelkit._fast import MISS, backend_of_pair, ids_in_range, plain_check, plan
from labelkit._losses import _ones, _reduce, check_reduction
from labelkit._ops import Prepared, _infer, decided, prepare
from labelkit._spec import ArgumentError, CheckValues, Reduction, Task, classes_unknown, dtype_kind
from labelkit.backends import Backend
from labelkit.errors import LabelkitError

__all__ = ["accuracy", "check_metric_args"]

OUT = "float32"  # the dtype every accuracy is returned in


def check_metric_args(top_k: Any, threshold: Any, from_logits: Any, reduction: Any = "mean") -> tuple[int, float]:
    """``top_k`` (a positive int), ``threshold`` (a number in [0, 1]), ``from_logits`` and ``reduction``
    as ``accuracy`` takes them; raises ``ArgumentError`` naming the argument otherwise."""
    check_reduction(reduction)
    if not isinstance(from_logits, (bool, np.bool_)):
        raise ArgumentError(f"from_logits: expected True or False, got {from_logits!r}.")
    if isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, (int, numbers.Integral)) or top_k < 1:
        raise ArgumentError(
            f"top_k: expected a positive int, got {type(top_k).__name__} {top_k!r}. Pass e.g. top_k=5 to count "
            f"an element right when its class is among the 5 largest logits."
        )
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (float, numbers.Real)):
        raise ArgumentError(
            f"threshold: expected a number in [0, 1], got {type(threshold).__name__} {threshold!r}. Pass e.g. "
            f"threshold=0.5."
        )
    if not 0.0 <= float(threshold) <= 1.0:
        raise ArgumentError(
            f"threshold: expected a probability in [0, 1], got {float(threshold)}; it applies to sigmoid(logits) "
            f"even when from_logits=True. Pass e.g. threshold=0.5 (a logit of 0)."
        )
    return int(top_k), float(threshold)


def _logit(p: float) -> float:
    """``log(p / (1 - p))``, with ``-inf`` at 0 and ``inf`` at 1."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)


def _targets(p: Prepared, ignore_index: int | None) -> tuple[Any, Any, Any]:
    """Multiclass targets: ``(ids in [0, C) of the default int, valid or None, keep or None)``, each of
    shape ``S``. ``valid``: the ids that are class ids (``None`` when the value checks showed that all
    are); ``keep``: the elements not ignored (``None`` when none is)."""
    b, spec = p.backend, p.spec
    if spec.label_format == "dense":
        return b.cast(b.argmax(p.labels, spec.axis), b.default_int()), None, None
    c = spec.num_classes
    if c is None:
        raise classes_unknown(spec.axis, "accuracy with sparse labels")
    ids = p.labels
    name = b.dtype_name(ids)
    kind = dtype_kind(name)
    ignore_index = effective_ignore_index(b, ignore_index, name)  # None: no id can equal it
    if kind in ("b", "i", "u") and name != b.default_int():
        # Compared in the default int, as the loss does (torch reads `uint8_ids != -100` as `!= 156`).
        ids = b.cast(ids, b.default_int())
    keep = None if ignore_index is None else ids != ignore_index
    if p.checked == "eager":
        # The checks passed: every id but an ignored one is a whole number in [0, C).
        safe = ids if kind != "f" else b.cast(ids, b.default_int())
        if ignore_index is not None and not 0 <= ignore_index < c:
            safe = b.where(keep, safe, 0)
        return safe, None, keep
    if kind == "f":
        valid = (ids >= 0) & (ids < c) & (b.floor(ids) == ids)
        return b.cast(b.where(valid, ids, 0), b.default_int()), valid, keep
    safe = b.clip(ids, 0, c - 1)  # the ids clipping moved are exactly the ones out of range
    return safe, safe == ids, keep


def _in_top_k(b: Backend, x: Any, target: Any, axis: int, c: int, top_k: int) -> Any:
    """Bool of shape ``S``: ``target`` (ids in ``[0, C)``) is among the ``top_k`` largest of ``x`` along
    ``axis`` (``1 < top_k < C``). The rank counts the classes before the target: greater values (NaN is
    greater than every number), then equal ones at smaller indices. A NaN target logit
    ranks after the NaNs at smaller indices only, as ``argmax`` picks the first NaN: the rank never falls
    as ``top_k`` grows.

    The framework's top-k kernel answers where the backend has one (``Backend.top_k_hit``) and it is sure;
    where it is not (a tie at the k-th place, NaN), the rank is counted (``_ranked_in_top_k``): after one
    read of a flag on host arrays, in-graph (``cond``) while tracing TensorFlow. Elsewhere (arrays on a
    device, ``jit``, ``torch.compile``) the rank is counted without asking the kernel: no host read."""
    tracing = b.is_tracing(x) or b.is_tracing(target)
    if (b.runtime_shape(x) is not None) if tracing else b.on_host(x):
        out = b.top_k_hit(x, target, axis, top_k)
        if out is not NotImplemented:
            hit, sure = out
            unsure = b.any(~sure)
            if tracing:
                return b.cond(unsure, lambda: _ranked_in_top_k(b, x, target, axis, c, top_k), lambda: hit)
            if not b.to_bool(unsure):
                return hit
    return _ranked_in_top_k(b, x, target, axis, c, top_k)


def _ranked_in_top_k(b: Backend, x: Any, target: Any, axis: int, c: int, top_k: int) -> Any:
    """``_in_top_k`` from the backends' generic primitives: the rank of the target, counted over the
    ``(*S, C)`` comparisons with the classes (the rule that ``Backend.top_k_hit`` answers must match):
    greater values or NaN (for a number), equal ones or NaN (for a NaN) at smaller indices."""
    where = b.expand_dims(target, axis)
    xt = b.take_along_axis(x, where, axis)
    classes = b.arange(c, target)
    trailing = len(b.shape(x)) - axis - 1
    if trailing:
        classes = b.reshape(classes, (c,) + (1,) * trailing)
    if b.dtype_name(classes) != b.dtype_name(target):
        classes = b.cast(classes, b.dtype_name(target))
    earlier = classes < where
    nan_x, nan_target = x != x, xt != xt
    # No negated comparison: TensorFlow's graph optimizer rewrites not(x <= y) as x > y, false for NaN.
    before = (((x > xt) | nan_x) & (xt == xt)) | (((x == xt) | (nan_target & nan_x)) & earlier)
    return b.sum(b.cast(before, "int32"), axis) < top_k


def _multiclass(p: Prepared, x: Any, top_k: int, ignore_index: int | None) -> tuple[Any, Any]:
    b, spec = p.backend, p.spec
    target, valid, keep = _targets(p, ignore_index)
    c = spec.num_classes
    if top_k == 1 or (c is not None and top_k >= c):
        if c is not None and top_k >= c:
            right = target == target  # every class is among the top C
        else:
            pred = b.argmax(x, spec.axis)
            if b.dtype_name(pred) != b.dtype_name(target):
                pred = b.cast(pred, b.dtype_name(target))
            right = pred == target
    else:
        if c is None:
            raise classes_unknown(spec.axis, f"top_k={top_k}")
        right = _in_top_k(b, x, target, spec.axis, c, top_k)
    per = b.cast(right, OUT)
    if valid is not None:
        per = b.where(valid, per, float("nan"))
    if keep is not None:
        per = b.where(keep, per, 0.0)
    return per, keep


def _binary(p: Prepared, x: Any, from_logits: bool, threshold: float) -> Any:
    b, spec = p.backend, p.spec
    z = x if b.dtype_name(x) in ("float32", "float64") else b.cast(x, "float32")
    multilabel = spec.task == "multilabel"
    if not multilabel and len(b.shape(z)) > 1:
        z = b.squeeze(z, spec.axis)  # (*S, 1) logits: one per element, like the targets
    t = p.labels
    if dtype_kind(b.dtype_name(t)) != "f":
        t = b.cast(t, "float32")  # bool and unsigned targets do not compare with 0.5 everywhere
    pred = z > (_logit(threshold) if from_logits else threshold)
    right = pred == (t > 0.5)
    if not multilabel:
        return b.cast(right, OUT)
    c = spec.num_classes
    hits = b.sum(b.cast(right, OUT), spec.axis)
    if c is not None:
        return hits / float(c)
    return hits / b.sum(b.cast(right | ~right, OUT), spec.axis)  # C unknown while tracing: count the classes


def _top1_plan(b: Backend, logits: Any, labels: Any, task: str, axis: int) -> Any:
    """What the general path decides for a plain top-1 mean over integer ids of these shapes and dtypes:
    ``(squeeze axis or None, the Spec, number of ids)``; ``None`` for any other format, or where the
    general path has more to say (an empty batch, whose mean is 0)."""
    try:
        spec = _infer(b, logits, labels, task, axis)
    except LabelkitError:
        return None  # the general path raises it, with its message
    shape: tuple[Any, ...] = b.shape(logits)  # sizes (int | None); all ints past the check below
    if (
        spec.label_format != "sparse" or spec.num_classes is None or None in shape or 0 in shape
        or dtype_kind(b.dtype_name(labels)) not in ("i", "u")
    ):
        return None
    return spec.axis if spec.squeeze else None, spec, math.prod(shape) // shape[spec.axis]


def _top1_fast(logits: Any, labels: Any, task: str, axis: int, check_values: Any) -> Any:
    """``accuracy(logits, labels)`` with every other argument at its default, on concrete arrays, from a
    plan (see ``labelkit/_fast.py``): one read of the ids (the check's happy path), then the general
    path's own computation (``_accuracy``) on them; ``MISS`` where the general path must answer."""
    b = backend_of_pair(logits, labels)
    key = None if b is None else b.eager_key(logits, labels)
    if b is None or key is None:
        return MISS
    p = plan(("accuracy", b, key, task, axis), _top1_plan, b, logits, labels, task, axis)
    if p is None:
        return MISS
    squeeze_axis, spec, size = p
    ids = labels if squeeze_axis is None else b.squeeze(labels, squeeze_axis)
    if not b.on_host(ids) and (check_values is False or checks_on_device(b, check_values)):
        return MISS  # ids on a device are read only when asked (see ``_losses._sparse_apply``)
    if not ids_in_range(b, ids, spec.num_classes, size):
        return MISS  # an id out of range: the general path raises, or scores it NaN
    return _accuracy(Prepared(b, spec, logits, ids, labels, "eager"), 1, 0.5, True, None, "mean")


def accuracy(
    logits: Any,
    labels: Any,
    *,
    task: Task = "auto",
    from_logits: bool = True,
    axis: int = -1,
    top_k: int = 1,
    threshold: float = 0.5,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    check_values: CheckValues = "auto",
) -> Any:
    """The fraction of elements predicted right, for any label format, the same on every backend.

    The labels are read exactly as ``lk.cross_entropy`` reads them (``lk.infer``): class ids of shape
    ``S`` or ``S + (1,)`` — column ids are squeezed, never broadcast against ``(N,)`` predictions —,
    one-hot or probability rows of the logits' shape, binary targets, or multi-hot rows with
    ``task="multilabel"``.

    Per element: multiclass is right when the target class (the id, or the argmax of a dense row) is
    among the ``top_k`` largest logits (``top_k=1``: the argmax, the first index on ties); binary and
    multilabel predict ``sigmoid(z) > threshold`` against the target ``t > 0.5``, and a multilabel
    element scores the fraction of its C classes right. ``"mean"`` divides the sum by the number of
    elements not ignored (0 when there is none).

    Args:
      logits: float array of shape ``(*S, C)`` (class axis at ``axis``); ``(*S, 1)`` or ``(N,)`` for
        binary. Probabilities with ``from_logits=False``.
      labels: sparse ids of shape ``S`` or ``S + (1,)``; one-hot, probability or multi-hot rows of shape
        ``(*S, C)``; binary targets of shape ``S`` or the logits' shape.
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      from_logits: ``False`` when ``logits`` are probabilities (binary/multilabel then compare
        ``p > threshold``; the multiclass ranking is the same either way).
      axis: the class axis (``1`` for channels-first ``(N, C, H, W)``).
      top_k: multiclass: count an element right when its class is among the ``top_k`` largest logits
        (every element is, when ``top_k >= C``); must be 1 for binary and multilabel.
      threshold: binary and multilabel: the probability above which a prediction is positive (ignored
        for multiclass).
      ignore_index: a sparse id whose elements score 0 and are left out of the mean. Labels that hold
        no class ids (rows, multi-hot rows, binary targets) refuse it, as the losses do (but PyTorch's
        default ``-100``, which they ignore).
      reduction: ``"mean"`` (the fraction right), ``"sum"`` (the number right) or ``"none"`` (one value
        per element, shape ``S``).
      check_values: ``"auto"``, ``True`` or ``False`` (see ``lk.validate``).

    Returns:
      A float32 scalar (or shape ``S`` for ``"none"``) of the logits' framework, on their device,
      without gradient. An id out of range while values are not checked scores NaN.

    Raises:
      ShapeMismatchError: the labels do not fit the logits (as for the losses).
      LabelValueError: invalid label values (while values are checked).
      ArgumentError: a keyword argument out of range (a ``ValueError``), or an ``ignore_index`` (other
        than ``-100``) with labels that hold no class ids.

    >>> import numpy as np, labelkit as lk
    >>> logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0]], dtype="float32")
    >>> y = np.array([[0], [2], [2]])  # (N, 1) column ids: (logits.argmax(1) == y).mean() would give 0.333...
    >>> float(lk.accuracy(logits, y))
    0.6666...
    >>> float(lk.accuracy(logits, y, top_k=2)), float(lk.accuracy(logits, y, reduction="sum"))
    (1.0, 2.0)
    >>> lk.accuracy(logits, np.eye(3)[[0, 2, 2]], reduction="none")  # one-hot rows: the same answer
    array([1., 0., 1.], dtype=float32)
    """
    if (
        top_k == 1 and type(top_k) is int and reduction == "mean" and ignore_index is None and _fast.ENABLED
        and type(threshold) is float and threshold == 0.5
        and from_logits is True and type(axis) is int and type(task) is str and plain_check(check_values)
    ):
        out = _top1_fast(logits, labels, task, axis, check_values)
        if out is not MISS:
            return out
    top_k, threshold = check_metric_args(top_k, threshold, from_logits, reduction)
    ignore_index = validate_ignore_index(ignore_index)
    p = prepare(logits, labels, task=task, axis=axis, ignore_index=ignore_index, check_values=check_values)
    # Labels whose width is read at run time (TensorFlow): either reading, chosen when the graph runs.
    return decided(p, lambda q: _accuracy(q, top_k, threshold, bool(from_logits), ignore_index, reduction))


def _accuracy(p: Prepared, top_k: int, threshold: float, from_logits: bool, ignore_index: int | None,
              reduction: str) -> Any:
    """``accuracy`` once the labels are prepared (checked, squeezed, their format known)."""
    b, spec = p.backend, p.spec
    x = b.stop_gradient(p.logits)
    if spec.task == "multiclass":
        per, keep = _multiclass(p, x, top_k, ignore_index)
    else:
        if top_k != 1:
            raise ArgumentError(
                f"top_k={top_k}: the task is {spec.task}, where each prediction is a yes/no against threshold; "
                f"top_k applies to multiclass logits. Drop top_k, or pass task='multiclass'."
            )
        per, keep = _binary(p, x, from_logits, threshold), None
    if reduction != "mean":
        return _reduce(b, per, None, reduction)
    if keep is None:
        count = _ones(b, per)
        return _reduce(b, per, count if isinstance(count, float) else b.sum(count), reduction)
    return _reduce(b, per, b.sum(b.cast(keep, OUT)), reduction)
