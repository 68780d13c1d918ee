"""The TensorFlow backend. It never imports TensorFlow: the dispatcher passes ``sys.modules["tensorflow"]``."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
from labelkit.backends import Backend

__all__ = ["TensorflowBackend"]

# The id dtypes tf.one_hot takes as they are (no eager cast op, ~40 µs on a CPU, before it).
_ONE_HOT_IDS = frozenset({"uint8", "int8", "int32", "int64"})


def _leave_to_itself(tf: Any) -> None:
    """Tells autograph not to convert labelkit's code, as it is told for Keras' own.

    labelkit builds graphs through the backends' primitives (``cond``, ``guard``) and never branches on
    a tensor in Python, so the conversion ``tf.function`` applies to every function it calls only cost
    trace time; and autograph's cache of converted functions once handed a traced call the converted code
    of another primitive (an intermittent ``TypeError`` in the suite). TensorFlow is already imported
    when a backend is made; this reads one of its modules.
    """
    try:
        config: Any = sys.modules.get("tensorflow.python.autograph.core.config") or importlib.import_module(
            "tensorflow.python.autograph.core.config"
        )
        rules = tuple(config.CONVERSION_RULES)
        if not any(isinstance(r, config.DoNotConvert) and r.matches("labelkit") for r in rules):
            config.CONVERSION_RULES = (config.DoNotConvert("labelkit"), *rules)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - a TensorFlow without it converts
        pass


class TensorflowBackend(Backend):
    name = "tensorflow"
    modules = ("tensorflow", "tf_keras")
    sparse_ce_smooths = True  # its eager expression scales the log-probabilities before summing them
    one_hot_reads_ids = False  # tf.one_hot gives zero rows out of range

    def __init__(self, module: Any) -> None:
        self.tf = module
        _leave_to_itself(module)

    def owns(self, x: Any) -> bool:
        tf = self.tf
        return isinstance(x, (tf.Tensor, tf.Variable))

    def is_tracing(self, x: Any) -> bool:
        if not self.tf.executing_eagerly():
            return True
        return not hasattr(x, "numpy")

    def eager_key(self, x: Any, y: Any = None) -> Any:
        if not hasattr(x, "numpy") or not self.tf.executing_eagerly():
            return None
        # An eager tensor's TensorShape is fully known, and hashable.
        if y is None:
            return x.shape, x.dtype
        return (x.shape, x.dtype, y.shape, y.dtype) if hasattr(y, "numpy") else None

    def on_host(self, x: Any) -> bool:
        return "CPU" in x.device

    def to_list(self, x: Any) -> list[Any]:
        # np.asarray reads the tensor's buffer; x.numpy() would copy it first (~10 µs between two eager ops).
        values: list[Any] = np.asarray(x).ravel().tolist()
        return values

    def shape(self, x: Any) -> tuple[int | None, ...]:
        shape = x.shape
        if shape.rank is None:
            return None  # type: ignore[return-value]  # unknown rank; labelkit/ reports it
        return tuple(shape.as_list())

    def dtype_name(self, x: Any) -> str:
        name: str = x.dtype.name
        return name

    def dtype(self, name: str) -> Any:
        return self.tf.dtypes.as_dtype(name)

    def default_int(self) -> str:
        return "int64"

    def asarray(self, obj: Any, like: Any) -> Any:
        return self.tf.convert_to_tensor(obj)

    def to_numpy(self, x: Any) -> np.ndarray:
        if x.dtype == self.tf.bfloat16:
            x = self.tf.cast(x, self.tf.float32)
        return np.asarray(x.numpy())

    def cast(self, x: Any, dtype: str) -> Any:
        return self.tf.cast(x, dtype)

    def arange(self, n: int, like: Any) -> Any:
        return self.tf.range(n, dtype=self.tf.int64)

    def zeros(self, shape: tuple[int, ...], dtype: str, like: Any) -> Any:
        return self.tf.zeros(shape, dtype=dtype)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        tf = self.tf
        # tf.where wants both branches as tensors of one dtype; Python scalars take the other's.
        if not isinstance(a, (tf.Tensor, tf.Variable)):
            a = tf.cast(a, b.dtype)
        elif not isinstance(b, (tf.Tensor, tf.Variable)):
            b = tf.cast(b, a.dtype)
        return tf.where(cond, a, b)

    def isfinite(self, x: Any) -> Any:
        return self.tf.math.is_finite(x)

    def floor(self, x: Any) -> Any:
        return self.tf.math.floor(x)

    def abs(self, x: Any) -> Any:
        return self.tf.math.abs(x)

    def log(self, x: Any) -> Any:
        return self.tf.math.log(x)

    def exp(self, x: Any) -> Any:
        return self.tf.math.exp(x)

    def log1p(self, x: Any) -> Any:
        return self.tf.math.log1p(x)

    def softplus(self, x: Any) -> Any:
        return self.tf.math.softplus(x)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.tf.maximum(a, self.tf.cast(b, a.dtype))

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        # convert_to_tensor with the dtype, not cast: tf.cast(1 - 1e-7, float64) rounds through float32.
        tf = self.tf
        return tf.clip_by_value(x, tf.convert_to_tensor(lo, dtype=x.dtype), tf.convert_to_tensor(hi, dtype=x.dtype))

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return self.tf.reshape(x, shape)

    def moveaxis(self, x: Any, source: int, dest: int) -> Any:
        nd = x.shape.rank
        perm = [a for a in range(nd) if a != source % nd]
        perm.insert(dest % nd, source % nd)
        return self.tf.transpose(x, perm)

    def squeeze(self, x: Any, axis: int) -> Any:
        return self.tf.squeeze(x, axis=axis)

    def expand_dims(self, x: Any, axis: int) -> Any:
        return self.tf.expand_dims(x, axis)

    def sum(self, x: Any, axis: int | None = None) -> Any:
        return self.tf.reduce_sum(x, axis=axis)

    def max(self, x: Any, axis: int | None = None) -> Any:
        return self.tf.reduce_max(x, axis=axis)

    def min(self, x: Any, axis: int | None = None) -> Any:
        return self.tf.reduce_min(x, axis=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        return self.tf.argmax(x, axis=axis, output_type=self.tf.int64)

    def any(self, x: Any) -> Any:
        return self.tf.reduce_any(x)

    def to_bool(self, x: Any) -> bool:
        return bool(x)

    def logsumexp(self, x: Any, axis: int) -> Any:
        return self.tf.reduce_logsumexp(x, axis=axis)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return self.tf.nn.log_softmax(x, axis=axis)

    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        return self.tf.experimental.numpy.take_along_axis(x, idx, axis=axis)

    def stop_gradient(self, x: Any) -> Any:
        return self.tf.stop_gradient(x)

    def take(self, x: Any, idx: Any) -> Any:
        return self.tf.gather(x, idx)

    def sparse_nll(self, logits: Any, ids: Any, axis: int) -> Any:
        tf = self.tf
        nd = logits.shape.rank
        if axis != nd - 1:
            logits = self.moveaxis(logits, axis, -1)
        if ids.dtype not in (tf.int32, tf.int64):  # the kernel's id dtypes; a cast is an eager op of its own
            ids = tf.cast(ids, tf.int64)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=logits)

    def sparse_nll_mean(self, logits: Any, ids: Any, axis: int) -> Any:
        return self.tf.reduce_mean(self.sparse_nll(logits, ids, axis))  # one eager op, not a sum and a division

    def sparse_ce(
        self, logits: Any, ids: Any, axis: int, weight: Any, ignore_index: int | None, reduction: str,
        label_smoothing: float = 0.0,
    ) -> Any:
        # The masked expression a TensorFlow user writes, in as few eager ops as it takes: the fused sparse
        # kernel on the ids with ignored ones set to 0 (TF's CPU kernel raises on an id outside [0, C)),
        # the gathered weights, a select (not a product: an ignored element's loss may be inf) and the
        # sums. Eager calls only: a traced program keeps the general path's composition (whose plain loss,
        # without weights or an ignored id, is the kernel and its reduction: the first lines here).
        tf = self.tf
        if weight is None and ignore_index is None and not label_smoothing:
            nll = self.sparse_nll(logits, ids, axis)
            return tf.reduce_mean(nll) if reduction == "mean" else tf.reduce_sum(nll) if reduction == "sum" else nll
        if not tf.executing_eagerly():
            return NotImplemented
        if ids.dtype != tf.int64 and (
            ids.dtype != tf.int32 or (ignore_index is not None and not -(2**31) <= ignore_index < 2**31)
        ):
            # int64, as labelkit compares ids: TF converts the scalar to the ids' dtype, and int32 ids
            # compared with 2**40 would see 0 (the scalar wrapped), ignoring every class-0 id.
            ids = tf.cast(ids, tf.int64)
        keep = None
        if ignore_index is not None:
            keep = tf.not_equal(ids, ignore_index)
            ids = tf.where(keep, ids, tf.zeros_like(ids))
        wy = None if weight is None else tf.gather(weight, ids)
        if label_smoothing:
            # One log_softmax, the gathered term and the ε/C-scaled sum (scaled before it is summed).
            nd = logits.shape.rank
            if axis != nd - 1:
                logits = self.moveaxis(logits, axis, -1)
            logp = tf.nn.log_softmax(logits)
            picked = -tf.gather(logp, ids[..., None], batch_dims=nd - 1)[..., 0]
            scale = -label_smoothing / logits.shape[-1]
            spread = tf.reduce_sum(logp * (scale if weight is None else weight * scale), -1)
            nll = (1.0 - label_smoothing) * (picked if wy is None else picked * wy) + spread
        else:
            nll = self.sparse_nll(logits, ids, axis)
            if wy is not None:
                nll = nll * wy
        if keep is not None:
            nll = tf.where(keep, nll, tf.zeros_like(nll))
        if reduction == "none":
            return nll
        if reduction == "sum":
            return tf.reduce_sum(nll)
        if wy is not None:
            denom = tf.reduce_sum(wy if keep is None else tf.where(keep, wy, tf.zeros_like(wy)))
        elif keep is not None:
            denom = tf.cast(tf.math.count_nonzero(keep), nll.dtype)
        else:
            return tf.reduce_mean(nll)
        return tf.reduce_sum(nll) / denom

    def top_k_hit(self, x: Any, target: Any, axis: int, k: int) -> Any:
        # tf.math.in_top_k counts the classes strictly greater than the target's logit, G (a scan that
        # stops past k), and answers [G < k] on rows free of NaN and infinities (False on the others). It
        # is labelkit's [G + E_before < k] where no class ties the target: sure where it says no (on a
        # finite row), or where the classes at least as large as the target, G + E + 1, are at most k.
        # Non-finite rows are flagged by their sum (one pass; an overflowing sum flags a finite row too).
        tf = self.tf
        if x.dtype in (tf.float16, tf.bfloat16):
            x = tf.cast(x, tf.float32)  # exact
        elif x.dtype != tf.float32:  # in_top_k takes float32 only; float64 would round
            return NotImplemented
        if target.dtype not in (tf.int32, tf.int64):
            target = tf.cast(target, tf.int64)
        if axis != x.shape.rank - 1:
            x = self.moveaxis(x, axis, -1)
        c = x.shape[-1]
        if c is None or k >= 2**24:  # classes unknown while tracing; counts a float32 sum would round
            return NotImplemented
        rows = tf.reshape(x, (-1, c))
        ids = tf.reshape(target, (-1,))
        hit = tf.math.in_top_k(ids, rows, k)
        xt = tf.gather(rows, ids, axis=1, batch_dims=1)
        finite = tf.math.is_finite(tf.reduce_sum(rows, 1))
        inside = tf.where(hit)[:, 0] if tf.executing_eagerly() else None
        if inside is not None and 8 * inside.shape[0] <= rows.shape[0]:
            # Eager (labelkit asks on host only), few targets in (an untrained model, many classes): ties
            # matter only where the kernel says in, and are counted on those rows only.
            part = tf.gather(rows, inside) >= tf.gather(xt, inside)[:, None]
            few = tf.reduce_sum(tf.cast(part, tf.float32), 1) <= k
            sure = finite & tf.tensor_scatter_nd_update(~hit, inside[:, None], few)
        else:
            at_least = tf.reduce_sum(tf.cast(rows >= xt[:, None], tf.float32), 1)  # G + E + 1, exact below 2**24
            sure = finite & (~hit | (at_least <= k))
        shape = tf.shape(target)
        return tf.reshape(hit, shape), tf.reshape(sure, shape)

    def one_hot(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        if dtype == "bool":  # tf.one_hot has no bool output
            return super().one_hot(ids, num_classes, axis, dtype)
        if ids.dtype.name not in _ONE_HOT_IDS:
            ids = self.tf.cast(ids, self.tf.int64)
        # tf.one_hot gives an all-zero row for an id outside [0, depth), negative ones included.
        return self.tf.one_hot(ids, num_classes, axis=axis, dtype=dtype)

    def one_hot_in_range(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        if dtype == "bool":
            return super().one_hot_in_range(ids, num_classes, axis, dtype)
        return self.one_hot(ids, num_classes, axis, dtype)  # any id dtype tf.one_hot takes, without a cast

    def assert_all(self, cond: Any, message: str) -> Any:
        return self.tf.debugging.Assert(self.tf.reduce_all(cond), [message])

    def runtime_shape(self, x: Any) -> Any:
        return self.tf.shape(x, out_type=self.tf.int64)

    def cond(self, pred: Any, true_fn: Any, false_fn: Any) -> Any:
        return self.tf.cond(pred, true_fn, false_fn)

    def guard(self, x: Any, cond: Any, parts: tuple[Any, ...]) -> Any:
        # The dependency orders the assertion before everything computed from x (the cond's branches),
        # which would otherwise fail first with the framework's own message. XLA compiles Assert to nothing.
        tf = self.tf
        check = tf.debugging.Assert(cond, list(parts), summarize=16)
        with tf.control_dependencies([check]):
            return tf.identity(x)

    def ensure_dim(self, x: Any, axis: int, size: int) -> Any:
        shape: list[int | None] = [None] * x.shape.rank
        shape[axis] = size
        return self.tf.ensure_shape(x, shape)
