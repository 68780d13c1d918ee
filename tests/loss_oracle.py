"""A float64 NumPy oracle for the losses, written from SPEC.md "Loss semantics" alone.

Nothing here imports labelkit, and no code is shared with the backends: every element's loss and its
gradient are computed one element at a time, in float64, straight from SPEC's formulas.

Per element ``i`` of the batch shape ``S`` (``p = log_softmax(z)``, ``t`` the target row, ``w`` the class
weights, ``ε`` the label smoothing):

* multiclass: ``t' = (1-ε) t + ε/C`` and ``l_i = -Σ_c w_c t'_c p_c``; a term whose target is 0 adds 0;
* binary: ``t' = t (1-ε) + ε/2`` and ``l_i = w_1 t' softplus(-z) + w_0 (1-t') softplus(z)``
  (``max(z,0) - z t' + log(1 + exp(-|z|))`` without weights);
* multilabel: the mean over the C classes of ``w_c`` times the binary loss of each class;
* ``from_logits=False``: multiclass rows are divided by their sum, then everything is clipped to
  ``[1e-7, 1 - 1e-7]`` before the log;
* ignored elements give 0 and leave the mean; an id out of range (or not whole) gives NaN;
* ``"mean"``: ``Σ l_i / D`` with ``D`` the count of kept elements, or ``Σ_i Σ_c w_c t_ic`` with class weights
  (multiclass and binary); ``D = 0`` gives 0 with a zero gradient; any other ``D`` is used as it is,
  negative too (PyTorch's value).

Every function returns a :class:`Result`: the loss (a float64 scalar, or an array of shape ``S`` for
``reduction="none"``) and its gradient with respect to the input array (the gradient of ``Σ l_i`` for
``"none"``), of the input's shape.

``*_target_grad`` give the gradient with respect to dense targets instead (SPEC: the natives'
``-w_c (1-ε) p_c`` terms, 0 only where ``p_c = -inf``), the weighted mean's ``D`` included.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

EPSILON = 1e-7
NAN = float("nan")


class Result(NamedTuple):
    value: np.ndarray
    grad: np.ndarray


def loss_dtype(logits_dtype: str) -> str:
    """The dtype SPEC gives the loss: float64 for float64 logits, float32 for every other float."""
    return "float64" if logits_dtype == "float64" else "float32"


# --- one element ---------------------------------------------------------------------------------


def _softmax_row(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log_softmax, softmax) of one float64 row, with ``-inf`` entries giving ``-inf`` and 0."""
    m = max(float(v) for v in z)
    total = 0.0
    for v in z:
        total += math.exp(float(v) - m) if v != -math.inf else 0.0
    lse = m + math.log(total)
    logp = np.array([float(v) - lse if v != -math.inf else -math.inf for v in z])
    probs = np.array([math.exp(lp) if lp != -math.inf else 0.0 for lp in logp])
    return logp, probs


def _multiclass_element(
    x: np.ndarray, t: np.ndarray, w: np.ndarray, eps: float, from_logits: bool
) -> tuple[float, np.ndarray]:
    """``l_i = -Σ_c w_c t'_c p_c`` and its gradient with respect to the row ``x``."""
    c = x.shape[0]
    ts = (1.0 - eps) * t + eps / c
    if from_logits:
        logp, probs = _softmax_row(x)
        loss = 0.0
        for k in range(c):
            if ts[k] != 0.0:
                loss -= w[k] * ts[k] * logp[k]
        weight = sum(w[k] * ts[k] for k in range(c))
        grad = np.array([weight * probs[k] - w[k] * ts[k] for k in range(c)])
        return loss, grad
    s = float(np.sum(x))
    q = x / s
    loss = 0.0
    dq = np.zeros(c)
    for k in range(c):
        qk = min(max(q[k], EPSILON), 1.0 - EPSILON)
        if ts[k] != 0.0:
            loss -= w[k] * ts[k] * math.log(qk)
        inside = EPSILON < q[k] < 1.0 - EPSILON
        dq[k] = -w[k] * ts[k] / qk if inside else 0.0
    # q_k = x_k / s: dq_c/dx_k = (δ_ck - q_c) / s.
    back = float(np.dot(dq, q))
    grad = np.array([(dq[k] - back) / s for k in range(c)])
    return loss, grad


def _softplus(a: float) -> float:
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


def _sigmoid(a: float) -> float:
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _binary_element(
    x: float, t: float, w0: float, w1: float, eps: float, from_logits: bool, weighted: bool
) -> tuple[float, float]:
    """The binary loss of one logit (or probability) ``x`` with target ``t``, and ``dl/dx``."""
    ts = t * (1.0 - eps) + eps / 2.0
    if from_logits:
        if weighted:
            loss = w1 * ts * _softplus(-x) + w0 * (1.0 - ts) * _softplus(x)
        else:  # SPEC's own form
            loss = max(x, 0.0) - x * ts + math.log1p(math.exp(-abs(x)))
        grad = -w1 * ts * _sigmoid(-x) + w0 * (1.0 - ts) * _sigmoid(x)
        return loss, grad
    q = min(max(x, EPSILON), 1.0 - EPSILON)
    loss = -(w1 * ts * math.log(q) + w0 * (1.0 - ts) * math.log(1.0 - q))
    inside = EPSILON < x < 1.0 - EPSILON
    grad = (-w1 * ts / q + w0 * (1.0 - ts) / (1.0 - q)) if inside else 0.0
    return loss, grad


# --- reductions ----------------------------------------------------------------------------------


def _reduce(losses: np.ndarray, grads: np.ndarray, denom: float, reduction: str) -> Result:
    if reduction == "none":
        return Result(losses, grads)
    total = float(np.sum(losses)) if losses.size else 0.0
    if reduction == "sum":
        return Result(np.float64(total), grads)
    if reduction != "mean":
        raise ValueError(reduction)
    if denom == 0.0 or losses.size == 0:
        return Result(np.float64(0.0), np.zeros_like(grads))
    return Result(np.float64(total / denom), grads / denom)


def _weights(class_weight: Any, n: int) -> tuple[np.ndarray, bool]:
    if class_weight is None:
        return np.ones(n), False
    w = np.asarray(class_weight, dtype=np.float64).reshape(-1)
    assert w.shape == (n,), (w.shape, n)
    return w, True


# --- the losses ----------------------------------------------------------------------------------


def multiclass(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    from_logits: bool = True,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    keep: Any = None,
    reduction: str = "mean",
) -> Result:
    """Softmax cross-entropy with target rows ``target`` (the logits' shape, class axis at ``axis``).

    ``keep`` (shape ``S``) marks the elements that count; the others give 0. A target row holding NaN
    (an invalid sparse id) gives a NaN loss.
    """
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)
    t = np.moveaxis(np.asarray(target, dtype=np.float64), axis, -1)
    s, c = x.shape[:-1], x.shape[-1]
    w, weighted = _weights(class_weight, c)
    keep = np.ones(s, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    losses = np.zeros(s)
    grads = np.zeros(x.shape)
    denom = 0.0
    for pos in np.ndindex(*s):
        if not keep[pos]:
            continue
        if np.isnan(t[pos]).any():
            losses[pos] = NAN
            grads[pos] = NAN
            denom += 1.0
            continue
        losses[pos], grads[pos] = _multiclass_element(x[pos], t[pos], w, label_smoothing, from_logits)
        denom += float(np.dot(w, t[pos])) if weighted else 1.0
    return _moved(_reduce(losses, grads, denom, reduction), axis)


def sparse(
    logits: Any,
    ids: Any,
    *,
    axis: int = -1,
    ignore_index: int | None = None,
    from_logits: bool = True,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    reduction: str = "mean",
) -> Result:
    """Softmax cross-entropy with class ids of shape ``S`` (already without a size-1 class axis).

    The target of id ``k`` is the one-hot row of ``k``; an id equal to ``ignore_index`` is left out; any
    other id outside ``[0, C)``, or not a whole number, gives NaN (never wraps around).
    """
    x = np.asarray(logits, dtype=np.float64)
    ids = np.asarray(ids)
    c = x.shape[axis]
    s = ids.shape
    target = np.zeros(s + (c,))
    keep = np.ones(s, dtype=bool)
    for pos in np.ndindex(*s):
        v = float(ids[pos])
        if ignore_index is not None and v == ignore_index:
            keep[pos] = False
        elif v == math.floor(v) and 0 <= v < c:
            target[pos + (int(v),)] = 1.0
        else:
            target[pos] = NAN
    return multiclass(
        x,
        np.moveaxis(target, -1, axis),
        axis=axis,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        class_weight=class_weight,
        keep=keep,
        reduction=reduction,
    )


def binary(
    logits: Any,
    targets: Any,
    *,
    from_logits: bool = True,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    reduction: str = "mean",
) -> Result:
    """Sigmoid cross-entropy with one logit per element: ``logits`` and ``targets`` both of shape ``S``.

    ``class_weight`` is ``[w_neg, w_pos]``; the weighted mean divides by ``Σ_i w_0 (1-t_i) + w_1 t_i``.
    """
    x = np.asarray(logits, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    assert x.shape == t.shape, (x.shape, t.shape)
    (w0, w1), weighted = _weights(class_weight, 2)
    losses = np.zeros(x.shape)
    grads = np.zeros(x.shape)
    denom = 0.0
    for pos in np.ndindex(*x.shape):
        losses[pos], grads[pos] = _binary_element(
            float(x[pos]), float(t[pos]), w0, w1, label_smoothing, from_logits, weighted
        )
        denom += w0 * (1.0 - t[pos]) + w1 * t[pos] if weighted else 1.0
    return _reduce(losses, grads, denom, reduction)


def multilabel(
    logits: Any,
    targets: Any,
    *,
    axis: int = -1,
    from_logits: bool = True,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    reduction: str = "mean",
) -> Result:
    """A sigmoid per class; ``l_i`` is the mean over the C classes of ``w_c`` times each class's loss.

    The mean over elements divides by their count, with or without class weights.
    """
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)
    t = np.moveaxis(np.asarray(targets, dtype=np.float64), axis, -1)
    s, c = x.shape[:-1], x.shape[-1]
    w, _ = _weights(class_weight, c)
    losses = np.zeros(s)
    grads = np.zeros(x.shape)
    for pos in np.ndindex(*s):
        total = 0.0
        for k in range(c):
            lk_, gk = _binary_element(float(x[pos][k]), float(t[pos][k]), 1.0, 1.0, label_smoothing, from_logits, False)
            total += w[k] * lk_
            grads[pos + (k,)] = w[k] * gk / c
        losses[pos] = total / c
    return _moved(_reduce(losses, grads, float(math.prod(s)), reduction), axis)


def _moved(result: Result, axis: int) -> Result:
    """The gradient back in the input's layout (class axis at ``axis``)."""
    return Result(result.value, np.moveaxis(result.grad, -1, axis))


# --- gradients with respect to dense targets -----------------------------------------------------


def _mean_target_grad(dl: np.ndarray, losses: np.ndarray, dd: np.ndarray, denom: float, reduction: str) -> np.ndarray:
    """The gradient of the reduced loss with respect to the targets, from ``dl`` (``dl_i/dt``, per
    element) and ``dd`` (``dD/dt``): the mean ``Σ l / D`` gives ``dl / D - Σ l / D² dD``."""
    if reduction != "mean":
        return dl
    if denom == 0.0 or losses.size == 0:
        return np.zeros_like(dl)
    return dl / denom - float(np.sum(losses)) / denom**2 * dd


def multiclass_target_grad(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    from_logits: bool = True,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    reduction: str = "mean",
) -> np.ndarray:
    """The gradient of the softmax cross-entropy with respect to the target rows (the logits' shape):
    ``dl_i/dt_c = -(1-ε) w_c p_c``, 0 where ``p_c = -inf``; with class weights the mean's ``D = Σ w·t``
    depends on the targets too."""
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)
    t = np.moveaxis(np.asarray(target, dtype=np.float64), axis, -1)
    s, c = x.shape[:-1], x.shape[-1]
    w, weighted = _weights(class_weight, c)
    eps = label_smoothing
    losses = np.zeros(s)
    dl = np.zeros(x.shape)
    dd = np.zeros(x.shape)
    denom = 0.0
    for pos in np.ndindex(*s):
        losses[pos], _ = _multiclass_element(x[pos], t[pos], w, eps, from_logits)
        if from_logits:
            logp, _ = _softmax_row(x[pos])
        else:
            q = x[pos] / float(np.sum(x[pos]))
            logp = np.array([math.log(min(max(v, EPSILON), 1.0 - EPSILON)) for v in q])
        dl[pos] = [-(1.0 - eps) * w[k] * logp[k] if logp[k] != -math.inf else 0.0 for k in range(c)]
        dd[pos] = w if weighted else 0.0
        denom += float(np.dot(w, t[pos])) if weighted else 1.0
    return np.moveaxis(_mean_target_grad(dl, losses, dd, denom, reduction), -1, axis)


def binary_target_grad(
    logits: Any, targets: Any, *, label_smoothing: float = 0.0, class_weight: Any = None, reduction: str = "mean"
) -> np.ndarray:
    """The gradient of the sigmoid cross-entropy (logits) with respect to its targets (shape ``S``):
    ``dl/dt = (1-ε) (w_1 softplus(-z) - w_0 softplus(z))``; the weighted mean's ``dD/dt = w_1 - w_0``."""
    x = np.asarray(logits, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    (w0, w1), weighted = _weights(class_weight, 2)
    eps = label_smoothing
    losses = np.zeros(x.shape)
    dl = np.zeros(x.shape)
    denom = 0.0
    for pos in np.ndindex(*x.shape):
        z = float(x[pos])
        losses[pos], _ = _binary_element(z, float(t[pos]), w0, w1, eps, True, weighted)
        dl[pos] = (1.0 - eps) * (w1 * _softplus(-z) - w0 * _softplus(z))
        denom += w0 * (1.0 - t[pos]) + w1 * t[pos] if weighted else 1.0
    dd = np.full(x.shape, (w1 - w0) if weighted else 0.0)
    return _mean_target_grad(dl, losses, dd, denom, reduction)


def multilabel_target_grad(
    logits: Any, targets: Any, *, axis: int = -1, label_smoothing: float = 0.0, class_weight: Any = None,
    reduction: str = "mean",
) -> np.ndarray:
    """The gradient of the multilabel loss (logits) with respect to the multi-hot rows:
    ``dl_i/dt_c = (1-ε) w_c (softplus(-z_c) - softplus(z_c)) / C``; the mean divides by the count."""
    x = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)
    s, c = x.shape[:-1], x.shape[-1]
    w, _ = _weights(class_weight, c)
    dl = np.zeros(x.shape)
    for pos in np.ndindex(*x.shape):
        z = float(x[pos])
        dl[pos] = (1.0 - label_smoothing) * w[pos[-1]] * (_softplus(-z) - _softplus(z)) / c
    n = float(math.prod(s))
    return np.moveaxis(_mean_target_grad(dl, np.zeros(s), np.zeros(x.shape), n, reduction), -1, axis)
