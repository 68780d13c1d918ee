"""Cross-entropy for every label format, with one semantics on every backend (SPEC "Loss semantics").

Per element ``i`` of the batch shape ``S``, with ``p = log_softmax(z)``, ``t`` the target row, ``w`` the
class weights and ``ε`` the label smoothing:

* multiclass: ``t' = (1-ε) t + ε/C``; ``l_i = -Σ_c w_c t'_c p_c`` (a zero target adds 0, even at a
  ``-inf`` logit);
* binary/multilabel: ``t' = t (1-ε) + ε/2``; ``l = w_1 t' softplus(-z) + w_0 (1-t') softplus(z)``,
  which is ``max(z, 0) - z t' + log(1 + exp(-|z|))`` without weights; multilabel takes the mean over
  the C classes of each element;
* ``"mean"`` divides ``Σ l_i`` over non-ignored elements by their count ``D``, or by ``D = Σ_i Σ_c w_c t_ic``
  with class weights (multiclass and binary), negative too; ``D = 0`` (an empty or all-ignored batch,
  zero weights) gives 0 with a zero gradient, never NaN.

Sparse labels without smoothing go through the backend's fused kernel (``sparse_nll``) and never build
a ``(*S, C)`` array. Ids are sanitised before a kernel sees them; an id out of range that was not
caught by the value checks (while tracing) gives a NaN loss for its element on every backend.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from labelkit import _fast
from labelkit._checks import checks_on_device, effective_ignore_index, validate_ignore_index
from labelkit._dispatch import get_backend
from labelkit._fast import MISS, all_positive, backend_of_pair, counted_ids, plain_check, plan, remembered
from labelkit._ops import Prepared, _infer, decided, prepare
from labelkit._spec import ArgumentError, CheckValues, Reduction, Spec, Task, classes_unknown, dtype_kind, fmt_shape
from labelkit.backends import Backend
from labelkit.errors import BackendError, LabelkitError, ShapeMismatchError

__all__ = [
    "LossChoice",
    "binary_crossentropy",
    "categorical_crossentropy",
    "cross_entropy",
    "select_loss",
    "sparse_categorical_crossentropy",
]

REDUCTIONS = ("mean", "sum", "none")
EPSILON = 1e-7  # Keras' clip for probabilities (from_logits=False)

SPARSE = "sparse_categorical_crossentropy"
CATEGORICAL = "categorical_crossentropy"
BINARY = "binary_crossentropy"


def check_reduction(reduction: Any) -> None:
    """Raises ``ArgumentError`` unless ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``."""
    if reduction not in REDUCTIONS:
        raise ArgumentError(
            f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}. Pass reduction='mean' for the "
            f"average over elements (or reduction='none' for one value per element)."
        )


def _check_args(label_smoothing: Any, reduction: Any, from_logits: Any) -> float:
    check_reduction(reduction)
    if not isinstance(from_logits, (bool, np.bool_)):
        raise ArgumentError(f"from_logits: expected True or False, got {from_logits!r}.")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (float, numbers.Real)):
        raise ArgumentError(
            f"label_smoothing: expected a number in [0, 1], got {type(label_smoothing).__name__} "
            f"{label_smoothing!r}. Pass e.g. label_smoothing=0.1."
        )
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ArgumentError(
            f"label_smoothing: expected a number in [0, 1], got {eps}. Pass e.g. label_smoothing=0.1."
        )
    return eps


def _compute_dtype(b: Backend, logits: Any) -> str:
    name = b.dtype_name(logits)
    return "float64" if name == "float64" else "float32"


def _class_weight(b: Backend, class_weight: Any, like: Any, n: int | None, dtype: str, task: str) -> Any:
    if class_weight is None:
        return None
    wb = get_backend(class_weight)
    if wb is not None and wb is not b and wb.name != "numpy":
        raise BackendError(
            f"class_weight is a {wb.name} array but the logits are {b.name}; expected a list, a NumPy array "
            f"or a {b.name} array. Convert class_weight to {b.name} (or pass a list)."
        )
    if wb is b:
        w = class_weight
        shape = b.shape(w)
    else:
        try:
            arr = np.asarray(class_weight, dtype="float64")
        except (TypeError, ValueError):
            raise ArgumentError(
                f"class_weight: expected a sequence of numbers, got {type(class_weight).__name__}."
            ) from None
        shape = arr.shape
        w = b.asarray(arr, like)
    if len(shape) != 1 or (n is not None and shape[0] is not None and shape[0] != n):
        # Built only on failure: under torch.compile with dynamic shapes n is a SymInt, and str() breaks the graph.
        expected = "(2,) ([w_neg, w_pos])" if task == "binary" else f"({n},)"
        raise ArgumentError(
            f"class_weight: expected one weight per class, shape {expected}, got shape {fmt_shape(shape)}. "
            + (
                "Binary class weights are [weight of 0 targets, weight of 1 targets]."
                if task == "binary"
                else "Pass a list with one number per class."
            )
        )
    return b.cast(w, dtype)


def _class_shape(b: Backend, w: Any, ndim: int, axis: int) -> Any:
    """``w`` of shape (C,) reshaped to broadcast along the class axis of a rank-``ndim`` array."""
    return b.reshape(w, (-1,) + (1,) * (ndim - axis - 1))


def _ones(b: Backend, x: Any) -> Any:
    """The number of elements of ``x``: a Python number when its shape is static, else an array (also
    when its rank is unknown while tracing: ``shape`` is ``None``)."""
    shape = b.shape(x)
    if shape is not None and all(d is not None for d in shape):
        return float(math.prod(cast("tuple[int, ...]", shape)))
    finite = b.isfinite(x)
    return b.cast(finite | ~finite, b.dtype_name(x))


def _reduce(b: Backend, losses: Any, denom: Any, reduction: str) -> Any:
    if reduction == "none":
        return losses
    total = b.sum(losses)
    if reduction == "sum":
        return total
    # D = 0 (an empty or all-ignored batch, or class weights of 0) gives 0 with a zero gradient, never
    # 0/0; any other D is used as it is, negative too (PyTorch's value), so that the mean is always
    # ``sum / lk.count_valid(...)``.
    if isinstance(denom, float):
        return total / denom if denom != 0.0 else total * 0.0
    nonzero = denom != 0
    return b.where(nonzero, total / b.where(nonzero, denom, 1.0), 0.0 * total)


def _log_probs(b: Backend, x: Any, axis: int, from_logits: bool) -> Any:
    if from_logits:
        return b.log_softmax(x, axis)
    q = x / b.expand_dims(b.sum(x, axis), axis)
    return b.log(b.clip(q, EPSILON, 1.0 - EPSILON))


def _sparse_loss(
    p: Prepared, from_logits: bool, eps: float, class_weight: Any, ignore_index: int | None, reduction: str
) -> Any:
    b, spec = p.backend, p.spec
    dtype = _compute_dtype(b, p.logits)
    x = p.logits if b.dtype_name(p.logits) == dtype else b.cast(p.logits, dtype)
    ids = p.labels
    c = spec.num_classes
    if c is None:
        raise classes_unknown(spec.axis, "the sparse loss")
    axis = spec.axis
    kind = dtype_kind(b.dtype_name(ids))
    ignore_index = effective_ignore_index(b, ignore_index, b.dtype_name(ids))  # None: no id can equal it
    if kind in ("b", "i", "u") and b.dtype_name(ids) != b.default_int():
        # Compare in the default int: torch reads `uint8_ids < 300` as `< 44` (the scalar wraps to the
        # ids' dtype), and `uint8_ids != -100` as `!= 156`.
        ids = b.cast(ids, b.default_int())
    if p.checked == "eager":
        # The value checks ran (with this ignore_index) and passed: every id but the ignored ones is a
        # whole number in [0, C), so the kernel reads them as they are: no validity mask, no NaN select.
        valid = None
        safe = ids if b.dtype_name(ids) == b.default_int() else b.cast(ids, b.default_int())
        kernel_ids = safe  # class ids, and ignore_index where it is given
        if ignore_index is not None and not 0 <= ignore_index < c:
            safe = b.where(ids != ignore_index, safe, 0)
    elif kind == "f":
        valid = (ids >= 0) & (ids < c) & (b.floor(ids) == ids)
        safe = b.cast(b.where(valid, ids, 0), b.default_int())
    else:
        # Clipping puts every id in range for the kernel; the ids it moved are exactly the invalid ones.
        safe = b.clip(ids, 0, c - 1)
        valid = safe == ids
    if valid is not None:
        kernel_ids = safe
    if ignore_index is not None:
        keep = ids != ignore_index
    else:
        keep = None
    w = _class_weight(b, class_weight, x, c, dtype, "multiclass")

    if reduction == "mean" and from_logits and eps == 0.0 and w is None and valid is None and keep is None:
        count = _ones(b, safe)
        if isinstance(count, float) and count > 0:
            # Checked ids, nothing ignored or weighted, a known non-zero count: the plain mean of the
            # fused kernel, which is the native call itself (one op on PyTorch, not three).
            return b.sparse_nll_mean(x, safe, axis)
    fused = NotImplemented
    if from_logits and (eps == 0.0 or b.sparse_ce_smooths):
        # The framework's fused kernel where it has one (b.sparse_ce), with the weights. Checked ids
        # (class ids or ignore_index) go with ignore_index and the reduction, but for "mean", which
        # divides below (D = 0 gives 0); unchecked ones, made safe, give one loss per element, masked
        # below like the composed losses. Smoothing goes to the kernel where it takes it
        # (``sparse_ce_smooths``), and is composed below where its result overflowed (``_overflowed``).
        whole = valid is None and reduction != "mean"
        fused = _kernel(
            b, x, kernel_ids, axis, w, ignore_index if valid is None else None, reduction if whole else "none", eps
        )
        if fused is not NotImplemented and _overflowed(b, fused, eps):
            fused = NotImplemented
        if fused is not NotImplemented and whole:
            return fused
    if fused is not NotImplemented:
        losses = fused
    elif from_logits and eps == 0.0:
        nll = b.sparse_nll(x, safe, axis)
        losses = nll if w is None else nll * b.take(w, safe)
    else:
        logp = _log_probs(b, x, axis, from_logits)
        picked = -b.squeeze(b.take_along_axis(logp, b.expand_dims(safe, axis), axis), axis)
        wy = None if w is None else b.take(w, safe)
        losses = picked if wy is None else picked * wy
        if eps > 0.0:
            # Scaled by ε/C before the sum: C log-probabilities near -3e38 would overflow it in float32.
            # One pass over the (*S, C) log-probabilities: the C weights are scaled, not the products.
            scale = -eps / c
            neg = logp * (scale if w is None else _class_shape(b, w * scale, len(b.shape(logp)), axis))
            losses = (1.0 - eps) * losses + b.sum(neg, axis)
    if valid is not None:
        losses = b.where(valid, losses, float("nan"))
    if keep is not None and (fused is NotImplemented or valid is not None):  # the kernel gave them 0 itself
        losses = b.where(keep, losses, 0.0)
    if reduction != "mean":
        return _reduce(b, losses, None, reduction)
    if w is None:
        counted = b.cast(keep, dtype) if keep is not None else _ones(b, losses)
        return _reduce(b, losses, counted if isinstance(counted, float) else b.sum(counted), reduction)
    else:
        counted = b.take(w, safe)
        if keep is not None:
            counted = b.where(keep, counted, 0.0)
    return _reduce(b, losses, b.sum(counted), reduction)


def _dense_loss(p: Prepared, from_logits: bool, eps: float, class_weight: Any, reduction: str) -> Any:
    b, spec = p.backend, p.spec
    dtype = _compute_dtype(b, p.logits)
    x = b.cast(p.logits, dtype)
    t = b.cast(p.labels, dtype)
    axis = spec.axis
    c = spec.num_classes
    if c is None:
        raise classes_unknown(axis, "the dense loss")
    w = _class_weight(b, class_weight, x, c, dtype, "multiclass")
    ts = t if eps == 0.0 else (1.0 - eps) * t + eps / c
    logp = _log_probs(b, x, axis, from_logits)
    ndim = len(b.shape(x))
    tw = ts if w is None else ts * _class_shape(b, w, ndim, axis)
    if from_logits:
        # A -inf log-probability (a masked class) gives the term 0: a zero target there adds 0 (masked
        # classes stay finite) and its gradient is 0. Everywhere else the target's gradient is the
        # natives' -w_c p_c, zero targets included (distillation through sparse teacher rows). Target
        # mass on a masked class makes the element's loss infinite, as in the natives, with no gradient.
        losses = _dense_plain(b, tw, logp, axis)
        if losses is not None:
            return _dense_reduce(b, losses, t, w, ndim, axis, reduction)
        impossible = logp == float("-inf")
        losses = -b.sum(tw * b.where(impossible, 0.0, logp), axis)
        lost = b.stop_gradient(b.sum(b.where(impossible, tw, 0.0), axis))
        none_lost = lost == 0
        losses = b.where(none_lost, losses, b.where(none_lost, 1.0, lost) * float("inf"))
    else:
        losses = -b.sum(tw * logp, axis)  # clipped probabilities: no -inf
    return _dense_reduce(b, losses, t, w, ndim, axis, reduction)


def _dense_plain(b: Backend, tw: Any, logp: Any, axis: int) -> Any:
    """The dense losses ``-Σ_c tw_c p_c`` as they are, where that is the masked formula's result: concrete
    arrays in host memory whose losses are all finite; else ``None`` (the caller masks).

    A -inf log-probability makes its element's plain loss NaN (a zero target) or infinite, so finite
    losses mean there is none: the masked formula's ``where`` selects every ``p_c`` then, and its result
    and gradients (``-tw_c`` for ``p_c``, ``-w_c p_c`` for the targets) are the plain product's, bit for
    bit. The test is one reduction of the ``S`` losses and one read, free in host memory; on a device
    (a sync) or while tracing (no value to read) the caller masks unconditionally. Costs one pass over
    ``(*S, C)`` more than the masked formula where some loss is not finite (a -inf or NaN logit)."""
    if b.is_tracing(tw) or b.is_tracing(logp) or not (b.on_host(tw) and b.on_host(logp)):
        return None
    with _quiet(b):  # NumPy's 0·(-inf) and overflow: a test, not a warning
        losses = -b.sum(tw * logp, axis)
        shape = b.shape(losses)
        if None in shape or 0 in shape:
            return None  # nothing to read: the masked formula takes it
        finite = b.to_bool(b.isfinite(b.sum(losses)))
    return losses if finite else None


def _quiet(b: Backend) -> Any:
    """NumPy's floating-point warnings off (``np.errstate``) for NumPy arrays; nothing for the others."""
    return np.errstate(invalid="ignore", over="ignore") if b.name == "numpy" else contextlib.nullcontext()


def _dense_reduce(b: Backend, losses: Any, t: Any, w: Any, ndim: int, axis: int, reduction: str) -> Any:
    """The reduction of the dense ``losses`` (shape ``S``); the mean over ``D``: the element count, or
    ``Σ_i Σ_c w_c t_ic`` with class weights ``w`` (``t`` the targets before smoothing)."""
    if reduction != "mean":
        return _reduce(b, losses, None, reduction)
    if w is None:
        denom = _ones(b, losses)
        denom = denom if isinstance(denom, float) else b.sum(denom)
    else:
        denom = b.sum(t * _class_shape(b, w, ndim, axis))
    return _reduce(b, losses, denom, reduction)


def _binary_loss(p: Prepared, from_logits: bool, eps: float, class_weight: Any, reduction: str) -> Any:
    b, spec = p.backend, p.spec
    dtype = _compute_dtype(b, p.logits)
    z = b.cast(p.logits, dtype)
    multilabel = spec.task == "multilabel"
    if not multilabel and len(b.shape(z)) > 1:
        z = b.squeeze(z, spec.axis)  # (*S, 1) logits: one per element, like the labels
    t = b.cast(p.labels, dtype)
    ts = t if eps == 0.0 else t * (1.0 - eps) + eps / 2.0
    n = spec.num_classes if multilabel else 2
    w = _class_weight(b, class_weight, z, n, dtype, spec.task)
    if from_logits:
        pos = b.softplus(-z)  # -log sigmoid(z)
        neg = b.softplus(z)  # -log (1 - sigmoid(z))
    else:
        q = b.clip(z, EPSILON, 1.0 - EPSILON)
        pos = -b.log(q)
        neg = -b.log(1.0 - q)
    if multilabel:
        losses = ts * pos + (1.0 - ts) * neg
        if w is not None:
            losses = losses * _class_shape(b, w, len(b.shape(z)), spec.axis)
        losses = b.sum(losses, spec.axis) / float(n) if n else b.sum(losses, spec.axis)
        count = None
    elif w is None:
        losses = ts * pos + (1.0 - ts) * neg
        count = None
    else:
        w0, w1 = b.reshape(w[:1], ()), b.reshape(w[1:], ())
        losses = w1 * ts * pos + w0 * (1.0 - ts) * neg
        count = b.sum(w0 * (1.0 - t) + w1 * t)
    if reduction != "mean":
        return _reduce(b, losses, None, reduction)
    if count is None:
        count = _ones(b, losses)
        count = count if isinstance(count, float) else b.sum(count)
    return _reduce(b, losses, count, reduction)


def _compute(
    p: Prepared, *, from_logits: bool, eps: float, class_weight: Any, ignore_index: int | None, reduction: str
) -> Any:
    fmt = p.spec.label_format
    if fmt == "sparse":
        return _sparse_loss(p, from_logits, eps, class_weight, ignore_index, reduction)
    if fmt == "dense" and p.spec.task == "multiclass":
        return _dense_loss(p, from_logits, eps, class_weight, reduction)
    return _binary_loss(p, from_logits, eps, class_weight, reduction)



def _sparse_plan(
    b: Backend, logits: Any, labels: Any, task: str, axis: int, want: str | None, weight: Any, ignore_index: int | None,
    label_smoothing: float, reduction: str,
) -> Any:
    """What the general path decides for a sparse loss on checked integer ids, for these shapes, dtypes
    and arguments: ``(squeeze axis or None, C, class axis, logits cast or None, number of ids,
    ignore_index as the ids can match it, weights cast or None, whether the backend's fused kernel
    takes the call, ε)``; ``None`` for any other format, or where the general path has more to say (an
    error, an empty batch, smoothing the kernel does not take, or, without the fused kernel, any call
    but the plain mean: the general path composes it)."""
    try:
        eps = _check_args(label_smoothing, reduction, True)
        ignore_index = validate_ignore_index(ignore_index)
        spec = _infer(b, logits, labels, task, axis)
    except LabelkitError:
        return None  # the general path raises it, with its message
    if spec.label_format != "sparse" or want == "dense" or spec.num_classes is None:
        return None
    shape: tuple[Any, ...] = b.shape(logits)  # sizes (int | None); all ints past the check below
    if dtype_kind(b.dtype_name(labels)) not in ("i", "u") or None in shape or 0 in shape:
        return None  # float ids are checked for being whole; an empty batch's mean is 0, not 0/0
    if b.on_host(logits) != b.on_host(labels):
        return None  # ids in host memory with logits on a device: the kernel takes one device (the key has both)
    dtype = _compute_dtype(b, logits)
    wcast = None
    if weight is not None:
        try:
            _class_weight(b, weight, logits, spec.num_classes, dtype, "multiclass")
        except LabelkitError:
            return None
        wcast = None if b.dtype_name(weight) == dtype else dtype
    ignore = effective_ignore_index(b, ignore_index, b.dtype_name(labels))
    fused = (eps == 0.0 or b.sparse_ce_smooths) and type(b).sparse_ce is not Backend.sparse_ce  # see _sparse_loss
    if not fused and (weight is not None or eps != 0.0 or reduction != "mean" or ignore is not None):
        return None  # the general path composes the loss
    cast = None if b.dtype_name(logits) == dtype else dtype
    return (
        spec.axis if spec.squeeze else None, spec.num_classes, spec.axis, cast, math.prod(shape) // shape[spec.axis],
        ignore, wcast, fused, eps,
    )


def _sparse_fast(
    logits: Any, labels: Any, task: str, axis: int, want: str | None, check_values: Any, weight: Any,
    ignore_index: int | None, label_smoothing: float, reduction: str,
) -> Any:
    """A sparse loss on concrete arrays from a plan (see ``labelkit/_fast.py``): ids that are all class
    ids or ``ignore_index`` (read once, or checked by the kernel itself) go to the backend's fused kernel
    with the weights, ``ignore_index`` and the reduction (one ``F.cross_entropy`` on PyTorch), or,
    without one, to the fused plain mean, as in ``_sparse_loss`` after its checks. ``MISS`` where the
    general path must answer: an id out of range (its error or NaN), or a mean whose denominator may be
    0 (every id ignored, weights not all > 0), which the general path makes 0."""
    found = _sparse_lookup(logits, labels, task, axis, want, weight, ignore_index, label_smoothing, reduction)
    if found is None:
        return MISS
    return _sparse_apply(found[0], found[2], logits, labels, check_values, weight, reduction)


def _sparse_lookup(
    logits: Any, labels: Any, task: str, axis: int, want: str | None, weight: Any, ignore_index: int | None,
    label_smoothing: float, reduction: str,
) -> tuple[Backend, Any, Any] | None:
    """``(backend, the arrays' eager key, plan)`` for a sparse loss on concrete arrays (the plan of
    ``_sparse_plan``, remembered under the key, the weights' key and the arguments); ``None`` while
    tracing, for mixed or unknown array types, or where no plan applies (the general path)."""
    b = backend_of_pair(logits, labels)
    akey = None if b is None else b.eager_key(logits, labels)
    if b is None or akey is None:
        return None
    wkey = None
    if weight is not None:
        # Weights of the logits' framework only: a list or a NumPy array is converted by the general path.
        wkey = b.eager_key(weight) if type(weight) is type(logits) else None
        if wkey is None:
            return None
    key = ("sparse", b, akey, task, axis, want, wkey, ignore_index, label_smoothing, reduction)
    p = remembered(key, MISS)
    if p is MISS:
        p = plan(
            key, _sparse_plan, b, logits, labels, task, axis, want, weight, ignore_index, label_smoothing, reduction
        )
    return None if p is None else (b, akey, p)


def _sparse_apply(b: Backend, p: Any, logits: Any, labels: Any, check_values: Any, weight: Any, reduction: str) -> Any:
    """``_sparse_fast`` once the plan ``p`` of these arrays' shapes, dtypes and arguments is known (a
    caller that remembers its last plan, ``labelkit.torch.CrossEntropyLoss``, calls this directly):
    the one read of the ids and the kernel, or ``MISS``."""
    squeeze_axis, c, class_axis, cast, size, ignore, wcast, fused, eps = p
    ids = labels if squeeze_axis is None else b.squeeze(labels, squeeze_axis)
    on_host = b.on_host(ids)
    if not on_host and (check_values is False or checks_on_device(b, check_values)):
        # Ids on a device are not read unless asked (check_values=True): unchecked, or checked on the
        # device with the verdict read at the next call (``labelkit/_pending.py``), ``_sparse_loss``
        # sanitises them there, element by element (a NaN mean with the valid elements' gradient, which
        # a fused mean cannot give).
        return MISS
    x = logits if cast is None else b.cast(logits, cast)
    if not fused:
        # One read of the ids: free in host memory; on a device, the sync the checks promise.
        return b.sparse_nll_mean(x, ids, class_axis) if counted_ids(b, ids, c, size, None) == size else MISS
    w = weight if wcast is None else b.cast(weight, wcast)
    if ignore is not None and on_host and b.sparse_ce_checks_ids:
        # The kernel checks the ids in host memory itself (every id but ignore_index in [0, C)): no range
        # check here, and no read of the ids or the weights. A mean is Σ l_i / D, and x / 0 is ±inf or
        # NaN: the kernel's mean is finite exactly when D ≠ 0 (no element counted, or weights summing to
        # 0), unless the logits or the sum are not finite themselves. So the one value of the result is
        # read (host memory: no sync; in a PyTorch training step far cheaper than a list of 128 ids or a
        # NumPy test of the weights), and a result that is not finite goes the general way, which makes
        # D = 0 give 0 and gives the rest as they are.
        try:
            out = _kernel(b, x, ids, class_axis, w, ignore, reduction, eps)
        except (IndexError, RuntimeError):
            return MISS  # an id out of range: the general path's error, or its NaN
        # ``tolist`` of a 0-d tensor: a float read in place (PyTorch's ``item`` is an aten op and warns
        # on a tensor that requires grad).
        if out is NotImplemented or (reduction == "mean" and not math.isfinite(out.tolist())):
            return MISS
        return MISS if _overflowed(b, out, eps) else out
    if reduction == "mean" and weight is not None and not all_positive(b, weight):
        return MISS  # D = Σ w[y_i] may be 0
    # One read of the ids: free in host memory; on a device, the sync the checks promise.
    kept = counted_ids(b, ids, c, size, ignore)
    if kept is None or (reduction == "mean" and kept == 0):
        return MISS  # an id out of range; or every element ignored, whose mean the general path makes 0
    out = _kernel(b, x, ids, class_axis, w, ignore, reduction, eps)
    return MISS if out is NotImplemented or _overflowed(b, out, eps) else out


def _kernel(b: Backend, x: Any, ids: Any, axis: int, w: Any, ignore: int | None, reduction: str, eps: float) -> Any:
    """``b.sparse_ce``, with ``label_smoothing`` passed only when ε > 0: a plug-in backend written before
    the argument existed keeps working for every call without smoothing."""
    if eps:
        return b.sparse_ce(x, ids, axis, w, ignore, reduction, label_smoothing=eps)
    return b.sparse_ce(x, ids, axis, w, ignore, reduction)


def _overflowed(b: Backend, out: Any, eps: float) -> bool:
    """Whether a smoothed result of ``b.sparse_ce`` on host arrays is not finite. PyTorch's kernel sums
    the C log-probabilities before it scales them by ε/C, which overflows to -inf for float32 logits
    near ±3e38, where labelkit's loss (scaled first) stays finite: the composed loss answers then (and
    for logits that are not finite themselves, with the same result). One read, free in host memory; a
    kernel that may overflow serves host arrays only (``Backend.sparse_ce``)."""
    if not eps or b.is_tracing(out) or not b.on_host(out):
        return False
    return b.to_bool(b.any(~b.isfinite(out)))


def _fast_args(
    from_logits: Any, axis: Any, task: Any, ignore_index: Any, label_smoothing: Any, reduction: Any, check_values: Any
) -> bool:
    """Whether the arguments are of the plain types the eager plan takes (anything else goes the general
    way, which checks them and says what is wrong)."""
    return (
        from_logits is True and type(axis) is int and type(task) is str
        and (ignore_index is None or type(ignore_index) is int) and type(label_smoothing) in (int, float)
        and 0 <= label_smoothing <= 1 and type(reduction) is str and plain_check(check_values)
    )


def _run(
    logits: Any,
    labels: Any,
    *,
    task: str,
    want: str | None,
    from_logits: Any,
    axis: int,
    label_smoothing: Any,
    class_weight: Any,
    ignore_index: Any,
    reduction: Any,
    check_values: Any,
    fast: bool = True,
) -> Any:
    """The body every public loss shares: argument checks, dispatch and inference, the format the
    caller requires (``want``: ``"sparse"``, ``"dense"`` or ``None`` for any), then the loss.
    ``fast=False`` skips the eager plan (a caller whose plan has just answered ``MISS``)."""
    if fast and _fast.ENABLED and _fast_args(
        from_logits, axis, task, ignore_index, label_smoothing, reduction, check_values
    ):
        out = _sparse_fast(
            logits, labels, task, axis, want, check_values, class_weight, ignore_index, label_smoothing, reduction
        )
        if out is not MISS:
            return out
    eps = _check_args(label_smoothing, reduction, from_logits)
    ignore_index = validate_ignore_index(ignore_index)
    p = prepare(
        logits, labels, task=task, axis=axis, ignore_index=ignore_index, check_values=check_values, want=want
    )
    if want is not None and p.spec.label_format != want:
        b = p.backend
        lshape, yshape = b.shape(p.logits), b.shape(p.raw_labels)
        if want == "sparse":
            raise ShapeMismatchError(
                f"labels have shape {fmt_shape(yshape)}, the logits' own shape: they are one-hot or "
                f"probability rows, but a sparse loss was asked for. Use lk.categorical_crossentropy, or "
                f"lk.to_sparse(labels) to get class ids."
            )
        raise ShapeMismatchError(
            f"labels have shape {fmt_shape(yshape)} but logits have shape {fmt_shape(lshape)} and a dense loss "
            f"was asked for. These labels are class ids (sparse). Use lk.sparse_categorical_crossentropy, or "
            f"lk.one_hot(labels, like=logits) to get shape {fmt_shape(lshape)}."
        )
    # (``prepare`` refused an ``ignore_index`` with labels that hold no class ids.)
    # Labels whose width is read at run time (rule 6): the loss of the reading the graph selects.
    return decided(p, lambda q: _compute(
        q, from_logits=bool(from_logits), eps=eps, class_weight=class_weight, ignore_index=ignore_index,
        reduction=reduction,
    ))


def cross_entropy(
    logits: Any,
    labels: Any,
    *,
    task: Task = "auto",
    from_logits: bool = True,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    check_values: CheckValues = "auto",
) -> Any:
    """Cross-entropy for any label format, with the same result on every backend.

    The format is inferred from shapes and dtypes (see ``lk.infer``): sparse ids ``S`` or ``S + (1,)``
    give the softmax cross-entropy with integer labels (through the framework's fused kernel), rows of
    the logits' shape give the categorical cross-entropy, and one logit per element gives the sigmoid
    (binary) cross-entropy; ``task="multilabel"`` gives one sigmoid per class.

    With ``p = log_softmax(z)`` and ``t' = (1-ε) t + ε/C``, an element's multiclass loss is
    ``l_i = -Σ_c w_c t'_c p_c``; binary: ``l_i = w_1 t' softplus(-z) + w_0 (1-t') softplus(z)`` with
    ``t' = t (1-ε) + ε/2``. ``"mean"`` divides by ``D``: the number of non-ignored elements, or
    ``Σ_i Σ_c w_c t_ic`` with class weights (multiclass and binary), negative too; ``D = 0`` gives 0.

    Args:
      logits: float array of shape ``(*S, C)`` (class axis at ``axis``); ``(*S, 1)`` or ``(N,)`` for
        binary. float16/bfloat16 are computed in float32.
      labels: sparse ids of shape ``S`` or ``S + (1,)`` (any integer or bool dtype, or integral
        floats); one-hot, probability or multi-hot rows of shape ``(*S, C)``; binary targets of shape
        ``S`` or the logits' shape.
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      from_logits: ``False`` when the inputs are probabilities (rows are renormalised, then clipped to
        ``[1e-7, 1 - 1e-7]``, as in Keras).
      axis: the class axis (``1`` for channels-first ``(N, C, H, W)``).
      label_smoothing: ε in ``[0, 1]``.
      class_weight: C weights (2 for binary: ``[w_neg, w_pos]``): a list, a NumPy array or an array
        of the logits' framework.
      ignore_index: a sparse id whose elements give 0 and are left out of the mean. Labels that hold
        no ids (dense rows, binary targets) take only PyTorch's default ``-100``, which changes nothing.
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one loss per element, shape ``S``).
      check_values: ``"auto"``, ``True`` or ``False`` (see ``lk.validate``).

    Returns:
      A scalar (or shape ``S`` for ``"none"``) of the logits' framework, on their device; float32, or
      float64 for float64 logits.

    Raises:
      ShapeMismatchError: the labels do not fit the logits.
      LabelValueError: invalid label values (while values are checked).
      ArgumentError: a keyword argument out of range (a ``ValueError``), or an ``ignore_index`` other
        than ``-100`` with labels that hold no class ids.

    >>> import numpy as np, labelkit as lk
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype="float32")
    >>> float(lk.cross_entropy(logits, np.array([[0], [2]])))  # column labels (N, 1)
    0.6690...
    >>> float(lk.cross_entropy(logits, lk.one_hot(np.array([0, 2]), 3)))  # the same with one-hot rows
    0.6690...
    """
    return _run(
        logits, labels, task=task, want=None, from_logits=from_logits, axis=axis, label_smoothing=label_smoothing,
        class_weight=class_weight, ignore_index=ignore_index, reduction=reduction, check_values=check_values,
    )


def sparse_categorical_crossentropy(
    logits: Any,
    labels: Any,
    *,
    from_logits: bool = True,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    check_values: CheckValues = "auto",
) -> Any:
    """Softmax cross-entropy with class-id labels of shape ``S`` or ``S + (1,)``, as in Keras.

    Takes the arguments of ``lk.cross_entropy``; labels must be sparse ids.

    Raises:
      ShapeMismatchError: the labels are rows of the logits' shape (the fix names
        ``lk.categorical_crossentropy``).

    >>> import numpy as np, labelkit as lk
    >>> float(lk.sparse_categorical_crossentropy(np.zeros((2, 4), "float32"), np.array([1, 3])))
    1.386...
    """
    return _run(
        logits, labels, task="multiclass", want="sparse", from_logits=from_logits, axis=axis,
        label_smoothing=label_smoothing, class_weight=class_weight, ignore_index=ignore_index, reduction=reduction,
        check_values=check_values,
    )


def categorical_crossentropy(
    logits: Any,
    labels: Any,
    *,
    from_logits: bool = True,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    reduction: Reduction = "mean",
    check_values: CheckValues = "auto",
) -> Any:
    """Softmax cross-entropy with one-hot or probability rows of the logits' shape, as in Keras.

    Takes the arguments of ``lk.cross_entropy``; labels must be dense rows.

    Raises:
      ShapeMismatchError: the labels are class ids (the fix names ``lk.sparse_categorical_crossentropy``).

    >>> import numpy as np, labelkit as lk
    >>> float(lk.categorical_crossentropy(np.zeros((1, 4), "float32"), np.array([[0.5, 0.5, 0, 0]])))
    1.386...
    """
    return _run(
        logits, labels, task="multiclass", want="dense", from_logits=from_logits, axis=axis,
        label_smoothing=label_smoothing, class_weight=class_weight, ignore_index=None, reduction=reduction,
        check_values=check_values,
    )


def binary_crossentropy(
    logits: Any,
    labels: Any,
    *,
    from_logits: bool = True,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    reduction: Reduction = "mean",
    check_values: CheckValues = "auto",
) -> Any:
    """Sigmoid cross-entropy: binary with one logit per element, multilabel (elementwise) when C > 1.

    Takes the arguments of ``lk.cross_entropy``. Binary ``class_weight`` is ``[w_neg, w_pos]``;
    multilabel ``class_weight`` has one weight per class.

    >>> import numpy as np, labelkit as lk
    >>> float(lk.binary_crossentropy(np.zeros(4, "float32"), np.array([0, 1, 1, 0])))
    0.693...
    """
    _, shape = _shape_of(logits)
    task = "binary"
    if shape is not None and len(shape) >= 2:
        ax = axis % len(shape) if -len(shape) <= axis < len(shape) else axis
        c = shape[ax] if isinstance(ax, numbers.Integral) and 0 <= ax < len(shape) else None  # np.int64 too
        if c is not None and c != 1:
            task = "multilabel"
    return _run(
        logits, labels, task=task, want=None, from_logits=from_logits, axis=axis, label_smoothing=label_smoothing,
        class_weight=class_weight, ignore_index=None, reduction=reduction, check_values=check_values,
    )


def _shape_of(x: Any) -> tuple[Backend | None, tuple[Any, ...] | None]:
    b = get_backend(x)
    if b is None:
        try:
            return None, tuple(np.shape(x))
        except Exception:
            return None, None
    return b, b.shape(x)


_EXPLAIN = {
    SPARSE: (
        "The labels are class ids ({fmt}), so this is a softmax cross-entropy with integer labels over "
        "{c} classes on axis {axis}{squeezed}. It never builds a one-hot matrix: each framework's fused "
        "kernel reads the id directly."
    ),
    CATEGORICAL: (
        "The labels are rows of the logits' shape (one-hot or probabilities), so this is a softmax "
        "categorical cross-entropy over {c} classes on axis {axis}. Rows must be ≥ 0 and sum to 1."
    ),
    BINARY: (
        "{what}, so this is a sigmoid (binary) cross-entropy{per}. Targets must lie in [0, 1]."
    ),
}


@dataclass(frozen=True)
class LossChoice:
    """The loss a pair of logits and labels calls for (see ``lk.select_loss``).

    Attributes:
      name: ``"sparse_categorical_crossentropy"``, ``"categorical_crossentropy"`` or
        ``"binary_crossentropy"``.
      spec: the inferred ``Spec``.
      from_logits: whether the model outputs logits (``True``) or probabilities.
    """

    name: str
    spec: Spec
    from_logits: bool = True
    _logits_ndim: int = field(default=2, repr=False, compare=False)

    def native(self, **kwargs: Any) -> Any:
        """The framework's own loss, configured for these shapes; ``None`` on NumPy.

        PyTorch: ``torch.nn.CrossEntropyLoss`` (class axis at dim 1, as there) or
        ``BCEWithLogitsLoss``/``BCELoss``; TensorFlow: ``keras.losses.SparseCategoricalCrossentropy``,
        ``CategoricalCrossentropy`` or ``BinaryCrossentropy``; JAX: the matching ``optax`` function.
        ``kwargs`` go to the constructor (PyTorch, Keras). Feed it ``.prepare(labels)``.

        Raises:
          ArgumentError: ``from_logits=False`` where the native loss takes logits only (PyTorch's
            ``CrossEntropyLoss``, every ``optax`` loss).
        """
        import importlib

        backend = self.spec.backend
        if not self.from_logits and (backend == "jax" or (backend == "torch" and self.name != BINARY)):
            # CrossEntropyLoss and every optax loss take logits: fed probabilities they are silently wrong.
            own = "torch.nn.CrossEntropyLoss takes" if backend == "torch" else "optax's cross-entropies take"
            raise ArgumentError(
                f"from_logits=False: {own} logits, and {backend} has no native {self.name} over "
                f"probabilities. Call this LossChoice itself (labelkit's loss takes probabilities), or pass "
                f"logits with from_logits=True."
            )
        if backend == "torch":
            nn = importlib.import_module("torch").nn
            if self.name == BINARY:
                return nn.BCEWithLogitsLoss(**kwargs) if self.from_logits else nn.BCELoss(**kwargs)
            return nn.CrossEntropyLoss(**kwargs)
        last = self.spec.axis == self._logits_ndim - 1
        if backend == "tensorflow":
            keras = importlib.import_module("keras")
            # A channels-first class axis goes as a non-negative index: Keras' TF backend fails on e.g.
            # axis=-3, and SparseCategoricalCrossentropy itself refuses any axis but the last, saying so.
            axis = {} if last else {"axis": self.spec.axis}
            if self.name == SPARSE:
                return keras.losses.SparseCategoricalCrossentropy(from_logits=self.from_logits, **axis, **kwargs)
            if self.name == CATEGORICAL:
                return keras.losses.CategoricalCrossentropy(from_logits=self.from_logits, **axis, **kwargs)
            return keras.losses.BinaryCrossentropy(from_logits=self.from_logits, **kwargs)
        if backend == "jax":
            optax = importlib.import_module("optax")
            if self.name == BINARY:
                return optax.sigmoid_binary_cross_entropy
            fn = optax.softmax_cross_entropy_with_integer_labels if self.name == SPARSE else optax.softmax_cross_entropy
            # optax's default axis is -1: a channels-first class axis would be read wrongly, or not at all.
            return fn if last else functools.partial(fn, axis=self.spec.axis)
        return None

    def prepare(self, labels: Any) -> Any:
        """The labels in the layout ``.native()`` expects.

        Sparse: ids of the batch shape (the size-1 axis dropped), int64 on PyTorch. Dense: the rows,
        as they are. Binary: targets of the logits' shape, as floats.
        """
        b = get_backend(labels)
        if b is None:
            b, arrs = _resolve_labels(labels)
            labels = arrs
        spec = self.spec
        if self.name == SPARSE:
            if spec.squeeze:
                labels = b.squeeze(labels, spec.axis)
            if b.name == "torch":
                labels = b.cast(labels, "int64")
            return labels
        if self.name == BINARY:
            y = labels
            if spec.task == "binary":
                rank = len(b.shape(y))
                target_rank = self._logits_ndim
                if rank < target_rank:
                    y = b.expand_dims(y, spec.axis)
                elif rank > target_rank:
                    y = b.squeeze(y, spec.axis)
            dtype = "float32" if dtype_kind(b.dtype_name(y)) != "f" else b.dtype_name(y)
            return b.cast(y, dtype)
        return labels

    def __call__(self, logits: Any, labels: Any, **kwargs: Any) -> Any:
        """labelkit's own loss for this choice (the arguments of ``lk.cross_entropy``)."""
        kwargs.setdefault("from_logits", self.from_logits)
        kwargs.setdefault("axis", self.spec.axis)
        if self.name == SPARSE:
            return sparse_categorical_crossentropy(logits, labels, **kwargs)
        if self.name == CATEGORICAL:
            return categorical_crossentropy(logits, labels, **kwargs)
        return cross_entropy(logits, labels, task=self.spec.task, **kwargs)

    def explain(self) -> str:
        """A short paragraph: why this loss, and what it expects."""
        s = self.spec
        if self.name == BINARY:
            what = (
                "The logits have one value per element"
                if s.task == "binary"
                else f"task='multilabel': each of the {s.num_classes} classes is its own yes/no"
            )
            per = "" if s.task == "binary" else " per class, averaged over the classes"
            text = _EXPLAIN[BINARY].format(what=what, per=per)
        else:
            squeezed = "; their size-1 axis is dropped" if s.squeeze else ""
            fmt = "shape S + (1,)" if s.squeeze else "shape S"
            text = _EXPLAIN[self.name].format(c=s.num_classes, axis=s.axis, squeezed=squeezed, fmt=fmt)
        if not self.from_logits:
            text += " The inputs are probabilities (from_logits=False): they are clipped to [1e-7, 1 - 1e-7]."
        return f"{self.name}: {text}"


def _resolve_labels(labels: Any) -> tuple[Backend, Any]:
    from labelkit._dispatch import resolve

    b, arrs = resolve({"labels": labels}, "labels")
    return b, arrs["labels"]


def select_loss(
    logits: Any, labels: Any, *, task: Task = "auto", from_logits: bool = True, axis: int = -1
) -> LossChoice:
    """The loss these shapes call for, with the framework's own version and labelkit's.

    Args:
      logits: float array of shape ``(*S, C)``.
      labels: labels in any supported format.
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      from_logits: whether ``logits`` are logits (``True``) or probabilities.
      axis: the class axis.

    Returns:
      A ``LossChoice`` with ``.name``, ``.spec``, ``.native()``, ``.prepare(labels)``, ``__call__`` and
      ``.explain()``.

    Raises:
      ShapeMismatchError: the labels do not fit the logits; or multiclass labels whose size at the class
        axis is unknown while tracing (``Spec.deferred``, e.g. TF ``(None, None)`` labels): they may be
        class ids or rows, which call for different losses, so none is chosen (a native sparse loss would
        fail at run time on rows). ``lk.cross_entropy`` reads either at run time.

    >>> import numpy as np, labelkit as lk
    >>> lk.select_loss(np.zeros((32, 1000)), np.zeros((32, 1), "int64")).name
    'sparse_categorical_crossentropy'
    """
    from labelkit._ops import infer

    if not isinstance(from_logits, (bool, np.bool_)):
        raise ArgumentError(f"from_logits: expected True or False, got {from_logits!r}.")
    spec = infer(logits, labels, task=task, axis=axis)
    if spec.deferred and spec.task == "multiclass":
        # Binary targets and multi-hot rows have one loss whatever their width; ids and rows have two.
        yshape = list(_shape_of(labels)[1] or ())
        ids = fmt_shape(tuple(yshape[: spec.axis] + yshape[spec.axis + 1 :]))
        rows = fmt_shape(tuple(yshape[: spec.axis] + [spec.num_classes] + yshape[spec.axis + 1 :]))
        raise ShapeMismatchError(
            f"labels have shape {fmt_shape(tuple(yshape))}, whose size on the class axis {spec.axis} is unknown "
            f"while tracing: they may be class ids (size 1, {SPARSE}) or one-hot/probability rows (size "
            f"{spec.num_classes if spec.num_classes is not None else 'C'}, {CATEGORICAL}), so no one loss can be "
            f"chosen. Give the labels a static shape: e.g. tf.TensorSpec({ids}, tf.int64) for class ids or "
            f"{rows} for rows (lk.cross_entropy reads either at run time)."
        )
    if spec.label_format == "sparse":
        name = SPARSE
    elif spec.label_format == "dense" and spec.task == "multiclass":
        name = CATEGORICAL
    else:
        name = BINARY
    _, shape = _shape_of(logits)
    return LossChoice(name, spec, bool(from_logits), len(shape) if shape else 2)
