"""The NumPy backend: the reference, and the float64 ground the other backends are tested against."""

from __future__ import annotations

from typing import Any

import numpy as np
from labelkit.backends import EYE_MAX, Backend, cached_identity

__all__ = ["NumpyBackend"]


_DTYPE_NAMES: dict[Any, str] = {}



def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore", over="ignore"):  # x - m of ±3e38 logits: -inf, exp(-inf) = 0
        out: np.ndarray = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _pick(logits: np.ndarray, ids: np.ndarray, axis: int) -> np.ndarray:
    """``logits`` at ``ids`` along ``axis`` (ids in range), shape = ``ids.shape``."""
    if logits.ndim == 2 and axis == 1:
        picked: np.ndarray = logits[np.arange(ids.shape[0]), ids]  # a third of take_along_axis's cost on small arrays
        return picked
    return np.take_along_axis(logits, np.expand_dims(ids, axis), axis=axis).squeeze(axis)


class NumpyBackend(Backend):
    name = "numpy"
    modules = ("numpy",)

    def __init__(self, module: Any = np) -> None:
        self.np = module

    def owns(self, x: Any) -> bool:
        return isinstance(x, (np.ndarray, np.generic))

    def is_tracing(self, x: Any) -> bool:
        return False

    def eager_key(self, x: Any, y: Any = None) -> Any:
        if type(x) is not np.ndarray or (y is not None and type(y) is not np.ndarray):
            return None  # NumPy scalars and subclasses: the general path
        return (x.shape, x.dtype) if y is None else (x.shape, x.dtype, y.shape, y.dtype)

    def on_host(self, x: Any) -> bool:
        return True

    def to_list(self, x: Any) -> list[Any]:
        values: list[Any] = x.tolist() if type(x) is np.ndarray and x.ndim == 1 else np.asarray(x).ravel().tolist()
        return values

    def shape(self, x: Any) -> tuple[int | None, ...]:
        return tuple(np.shape(x))

    def dtype_name(self, x: Any) -> str:
        dt = x.dtype if isinstance(x, np.ndarray) else np.asarray(x).dtype
        name = _DTYPE_NAMES.get(dt)
        if name is None:  # NumPy computes ``dtype.name`` in Python, every time: remember it
            name = _DTYPE_NAMES.setdefault(dt, dt.name)
        return name

    def dtype(self, name: str) -> Any:
        return np.dtype(name)

    def default_int(self) -> str:
        return "int64"

    def asarray(self, obj: Any, like: Any) -> Any:
        return np.asarray(obj)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def cast(self, x: Any, dtype: str) -> Any:
        return np.asarray(x).astype(dtype, copy=False)

    def arange(self, n: int, like: Any) -> Any:
        return np.arange(n)

    def zeros(self, shape: tuple[int, ...], dtype: str, like: Any) -> Any:
        return np.zeros(shape, dtype=dtype)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)

    def isfinite(self, x: Any) -> Any:
        return np.isfinite(x)

    def floor(self, x: Any) -> Any:
        return np.floor(x)

    def abs(self, x: Any) -> Any:
        return np.abs(x)

    def log(self, x: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def exp(self, x: Any) -> Any:
        with np.errstate(over="ignore"):
            return np.exp(x)

    def log1p(self, x: Any) -> Any:
        return np.log1p(x)

    def softplus(self, x: Any) -> Any:
        return np.logaddexp(0, x)

    def maximum(self, a: Any, b: Any) -> Any:
        return np.maximum(a, b)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return np.clip(x, lo, hi)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return np.reshape(x, shape)

    def moveaxis(self, x: Any, source: int, dest: int) -> Any:
        return np.moveaxis(x, source, dest)

    def squeeze(self, x: Any, axis: int) -> Any:
        return np.squeeze(x, axis=axis)

    def expand_dims(self, x: Any, axis: int) -> Any:
        return np.expand_dims(x, axis)

    def sum(self, x: Any, axis: int | None = None) -> Any:
        return np.sum(x, axis=axis)

    def max(self, x: Any, axis: int | None = None) -> Any:
        return np.max(x, axis=axis)

    def min(self, x: Any, axis: int | None = None) -> Any:
        return np.min(x, axis=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        return np.argmax(x, axis=axis).astype(np.int64)

    def any(self, x: Any) -> Any:
        return np.any(x)

    def to_bool(self, x: Any) -> bool:
        return bool(x)

    def logsumexp(self, x: Any, axis: int) -> Any:
        return np.squeeze(_logsumexp(x, axis), axis=axis)

    def log_softmax(self, x: Any, axis: int) -> Any:
        with np.errstate(invalid="ignore", over="ignore"):
            return x - _logsumexp(x, axis)

    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        return np.take_along_axis(x, idx, axis=axis)

    def stop_gradient(self, x: Any) -> Any:
        return x

    def take(self, x: Any, idx: Any) -> Any:
        return np.take(x, idx)

    def one_hot_in_range(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        # Rows of a small identity made once, as users write it (np.eye(C)[y]). Only where the gather
        # copies them (ids of rank ≥ 1: a 0-d index would return a view of the identity) and only for a
        # plain ndarray (a masked array's hidden ids passed the checks, and would index out of range).
        if (
            type(ids) is np.ndarray and ids.ndim >= 1 and axis == ids.ndim and num_classes <= EYE_MAX
            and dtype != "bfloat16" and ids.dtype.kind in "iu"
        ):
            eye = cached_identity(("numpy", num_classes, dtype), lambda: _read_only(np.eye(num_classes, dtype=dtype)))
            return eye[ids]
        return super().one_hot_in_range(ids, num_classes, axis, dtype)

    def sparse_nll(self, logits: Any, ids: Any, axis: int) -> Any:
        # logsumexp minus the gathered logit: no (*S, C) array of log-probabilities is kept.
        picked = _pick(logits, ids, axis)
        with np.errstate(invalid="ignore", over="ignore"):
            return np.squeeze(_logsumexp(logits, axis), axis=axis) - picked

    def sparse_nll_mean(self, logits: Any, ids: Any, axis: int) -> Any:
        # The plain formula, with the array methods (NumPy's function wrappers cost ~2 µs each on small
        # arrays); a row whose largest logit is ±inf makes it NaN, and only then the guarded one runs.
        with np.errstate(invalid="ignore", over="ignore"):
            m = logits.max(axis=axis, keepdims=True)
            lse = np.log(np.exp(logits - m).sum(axis=axis)) + m.squeeze(axis)
            total = (lse - _pick(logits, ids, axis)).sum()
        if total != total:  # NaN: an infinite or NaN logit somewhere
            total = self.sparse_nll(logits, ids, axis).sum()
        return total / float(ids.size)
