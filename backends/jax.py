"""The JAX backend. It never imports JAX: the dispatcher passes ``sys.modules["jax"]``."""

from __future__ import annotations

from typing import Any

import numpy as np
from labelkit.backends import Backend

__all__ = ["JaxBackend"]

_DTYPE_NAMES: dict[Any, str] = {}


def _make_kernels(jax: Any) -> tuple[Any, Any, Any]:
    """The sparse kernels, as plain functions (for traced calls) and compiled ones (for eager calls).

    Called eagerly, each ``jnp`` op is one dispatch of its own (~30-100 µs on a CPU); one compiled call
    runs the whole kernel in one dispatch (~10 µs), with the same result. Inside a user's ``jit`` the
    plain functions are traced into the user's program.
    """
    jnp = jax.numpy

    def nll(logits: Any, ids: Any, axis: int) -> Any:
        # logsumexp minus the gathered logit: no (*S, C) array of log-probabilities is kept.
        picked = jnp.take_along_axis(logits, jnp.expand_dims(ids, axis), axis=axis, mode="clip")
        return jax.nn.logsumexp(logits, axis=axis) - jnp.squeeze(picked, axis=axis)

    def nll_mean(logits: Any, ids: Any, axis: int) -> Any:
        return jnp.mean(nll(logits, ids, axis))

    def one_hot(ids: Any, num_classes: int, axis: int, dtype: str, int_dtype: str) -> Any:
        # jax.nn.one_hot compares with an iota of the ids' dtype: uint8 ids against 300 classes would wrap.
        if ids.dtype != int_dtype:
            ids = ids.astype(int_dtype)
        return jax.nn.one_hot(ids, num_classes, dtype=dtype, axis=axis)

    return nll, nll_mean, one_hot


class JaxBackend(Backend):
    name = "jax"
    modules = ("jax", "jaxlib")
    one_hot_reads_ids = False  # jax.nn.one_hot gives zero rows out of range
    defers_checks = True  # on a GPU or TPU, checks start an asynchronous copy of their verdict

    def __init__(self, module: Any) -> None:
        self.jax = module
        self.jnp = module.numpy
        self._tracer = module.core.Tracer
        self._nll, self._nll_mean, self._one_hot = _make_kernels(module)
        self._nll_jit = module.jit(self._nll, static_argnums=(2,))
        self._nll_mean_jit = module.jit(self._nll_mean, static_argnums=(2,))
        self._one_hot_jit = module.jit(self._one_hot, static_argnums=(1, 2, 3, 4))

    def owns(self, x: Any) -> bool:
        # Tracers answer isinstance(x, jax.Array) but are not subclasses of it.
        return isinstance(x, (self.jax.Array, self._tracer))

    def is_tracing(self, x: Any) -> bool:
        return isinstance(x, self._tracer)

    def eager_key(self, x: Any, y: Any = None) -> Any:
        tracer = self._tracer
        if isinstance(x, tracer):
            return None
        if y is None:
            return x.shape, x.dtype
        return None if isinstance(y, tracer) else (x.shape, x.dtype, y.shape, y.dtype)

    def on_host(self, x: Any) -> bool:
        return all(d.platform == "cpu" for d in x.devices())

    def to_list(self, x: Any) -> list[Any]:
        values: list[Any] = np.asarray(x).ravel().tolist()
        return values

    def shape(self, x: Any) -> tuple[int | None, ...]:
        shape = x.shape
        for d in shape:
            if type(d) is not int:
                # jax.export's symbolic dims (``b``): unknown while tracing, as TensorFlow's None.
                return tuple(d if type(d) is int else None for d in shape)
        return tuple(shape)

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

    def softplus(self, x: Any) -> Any:
        return self.jax.nn.softplus(x)

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

    def read_later(self, flag: Any) -> Any:
        flag.copy_to_host_async()  # the read then waits for this array only, not the whole queue
        return flag

    def read_now(self, handle: Any) -> bool:
        return bool(self.jax.device_get(handle))  # an explicit transfer (transfer guards allow it)

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
        traced = isinstance(logits, self._tracer) or isinstance(ids, self._tracer)
        return (self._nll_mean if traced else self._nll_mean_jit)(logits, ids, axis)

    def one_hot(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        # jax.nn.one_hot compares with an iota: an id outside [0, C) gives an all-zero row.
        fn = self._one_hot if isinstance(ids, self._tracer) else self._one_hot_jit
        return fn(ids, num_classes, axis, dtype, self.default_int())

    def one_hot_in_range(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        return self.one_hot(ids, num_classes, axis, dtype)  # the kernel casts narrow ids itself, compiled

    def sparse_nll(self, logits: Any, ids: Any, axis: int) -> Any:
        traced = isinstance(logits, self._tracer) or isinstance(ids, self._tracer)
        return (self._nll if traced else self._nll_jit)(logits, ids, axis)
