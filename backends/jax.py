"""The JAX backend. It never imports JAX: the dispatcher passes ``sys.modules["jax"]``."""

from __future__ import annotations

from typing import Any

import numpy as np
from labelkit.backends import Backend

__all__ = ["JaxBackend"]

_DTYPE_NAMES: dict[Any, str] = {}


class JaxBackend(Backend):
    name = "jax"
    modules = ("jax", "jaxlib")

    def __init__(self, module: Any) -> None:
        self.jax = module
        self.jnp = module.numpy
        self._tracer = module.core.Tracer

    def owns(self, x: Any) -> bool:
        # Tracers answer isinstance(x, jax.Array) but are not subclasses of it.
        return isinstance(x, (self.jax.Array, self._tracer))

    def is_tracing(self, x: Any) -> bool:
        return isinstance(x, self._tracer)

    def shape(self, x: Any) -> tuple[int | None, ...]:
        return tuple(x.shape)

    def dtype_name(self, x: Any) -> str:
        name = _DTYPE_NAMES.get(x.dtype)
        if name is None:  # NumPy computes ``dtype.name`` in Python, every time: remember it
            name = _DTYPE_NAMES.setdefault(x.dtype, np.dtype(x.dtype).name)
        return name

    def dtype(self, name: str) -> Any:
        return self.jnp.dtype(name)

    def default_int(self) -> str:
        return "int64" if self.jax.config.jax_enable_x64 else "int32"

    def asarray(self, obj: Any, like: Any) -> Any:
        out = self.jnp.asarray(obj)
        if not isinstance(like, self._tracer):
            devices = like.devices()
            if len(devices) == 1:
                out = self.jax.device_put(out, next(iter(devices)))
        return out

    def to_numpy(self, x: Any) -> np.ndarray:
        if x.dtype == self.jnp.bfloat16:
            x = x.astype(self.jnp.float32)
        return np.asarray(x)

    def cast(self, x: Any, dtype: str) -> Any:
        return x.astype(dtype)

    def arange(self, n: int, like: Any) -> Any:
        return self.jnp.arange(n)

    def zeros(self, shape: tuple[int, ...], dtype: str, like: Any) -> Any:
        return self.jnp.zeros(shape, dtype=dtype)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.jnp.where(cond, a, b)

    def isfinite(self, x: Any) -> Any:
        return self.jnp.isfinite(x)

    def floor(self, x: Any) -> Any:
        return self.jnp.floor(x)

    def abs(self, x: Any) -> Any:
        return self.jnp.abs(x)

    def log(self, x: Any) -> Any:
        return self.jnp.log(x)

    def exp(self, x: Any) -> Any:
        return self.jnp.exp(x)

    def log1p(self, x: Any) -> Any:
        return self.jnp.log1p(x)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.jnp.maximum(a, b)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return self.jnp.clip(x, lo, hi)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return self.jnp.reshape(x, shape)

    def moveaxis(self, x: Any, source: int, dest: int) -> Any:
        return self.jnp.moveaxis(x, source, dest)

    def squeeze(self, x: Any, axis: int) -> Any:
        return self.jnp.squeeze(x, axis=axis)

    def expand_dims(self, x: Any, axis: int) -> Any:
        return self.jnp.expand_dims(x, axis)

    def sum(self, x: Any, axis: int | None = None) -> Any:
        return self.jnp.sum(x, axis=axis)

    def max(self, x: Any, axis: int | None = None) -> Any:
        return self.jnp.max(x, axis=axis)

    def min(self, x: Any, axis: int | None = None) -> Any:
        return self.jnp.min(x, axis=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        return self.jnp.argmax(x, axis=axis).astype(self.default_int())

    def any(self, x: Any) -> Any:
        return self.jnp.any(x)

    def to_bool(self, x: Any) -> bool:
        return bool(x)

    def logsumexp(self, x: Any, axis: int) -> Any:
        return self.jax.nn.logsumexp(x, axis=axis)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return self.jax.nn.log_softmax(x, axis=axis)

    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        return self.jnp.take_along_axis(x, idx, axis=axis, mode="clip")

    def stop_gradient(self, x: Any) -> Any:
        return self.jax.lax.stop_gradient(x)

    def take(self, x: Any, idx: Any) -> Any:
        # With explicitly sharded ids (jax.make_mesh's default axis types), a gather from the
        # replicated class weights must be told its output sharding: the ids'.
        typeof = getattr(self.jax, "typeof", None)
        sharding = getattr(typeof(idx), "sharding", None) if typeof is not None else None
        if any(s is not None for s in getattr(sharding, "spec", ())):
            return x.at[idx].get(mode="clip", out_sharding=sharding)
        return self.jnp.take(x, idx, mode="clip")

    def sparse_nll_mean(self, logits: Any, ids: Any, axis: int) -> Any:
        return self.jnp.mean(self.sparse_nll(logits, ids, axis))  # one eager op, not a sum and a division

    def one_hot(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        # jax.nn.one_hot compares with arange, compiled: an id outside [0, C) gives an all-zero row.
        return self.jax.nn.one_hot(ids, num_classes, dtype=dtype, axis=axis)

    def sparse_nll(self, logits: Any, ids: Any, axis: int) -> Any:
        # logsumexp minus the gathered logit: no (*S, C) array of log-probabilities is kept.
        jnp = self.jnp
        picked = jnp.take_along_axis(logits, jnp.expand_dims(ids, axis), axis=axis, mode="clip")
        return self.jax.nn.logsumexp(logits, axis=axis) - jnp.squeeze(picked, axis=axis)
