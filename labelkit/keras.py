"""Keras 3 integration: ``labelkit.keras.CrossEntropy``, a loss for ``model.compile(loss=...)``.

Importing this module imports Keras (``import labelkit`` alone never does). The loss works on every
Keras 3 backend — TensorFlow, JAX and PyTorch: Keras hands ``call`` the backend's own tensors, and
labelkit dispatches on them.

Reduction is Keras' own. ``call`` returns one loss per element (``lk.cross_entropy(...,
reduction="none")``) and ``keras.losses.Loss`` applies ``sample_weight`` and ``reduction``; with
``ignore_index`` the per-element losses carry the same mask that Keras' ``ignore_class`` attaches, so the
``"sum_over_batch_size"`` mean divides by the number of non-ignored elements exactly as
``SparseCategoricalCrossentropy(ignore_class=...)`` does.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from typing import Any

import keras
import numpy as np

from labelkit import _pending
from labelkit._checks import label_validity, should_check, validate_ignore_index
from labelkit._dispatch import get_backend
from labelkit._distributed import valid_mask
from labelkit._losses import _check_args, cross_entropy
from labelkit._ops import prepare
from labelkit._spec import ArgumentError, CheckValues, Task, check_task, dtype_kind

__all__ = ["Accuracy", "CrossEntropy"]

try:  # Keras ≥ 3.6 keeps tensor masks through this helper (its own losses use it).
    from keras.src.backend.common.masking import set_keras_mask as _set_keras_mask
except ImportError:  # pragma: no cover - older Keras 3 read the attribute directly

    def _set_keras_mask(x: Any, mask: Any) -> None:
        try:
            x._keras_mask = mask
        except AttributeError:
            pass


SOFTMAX_WARNING = (
    "labelkit.keras.CrossEntropy received from_logits=True, but y_pred was produced by a softmax (or "
    "sigmoid) activation and thus does not hold logits. The loss reads the logits behind the activation "
    "instead (as Keras' own losses do), so nothing is applied twice. To silence this, drop the activation "
    "from the last layer, or pass from_logits=False."
)


def _integer_array(y: Any) -> bool:
    """Whether ``y`` is an array (of any backend) of integer class ids."""
    b = get_backend(y)
    return b is not None and dtype_kind(b.dtype_name(y)) in ("i", "u")


def _logits_behind(y_pred: Any) -> Any:
    """The logits Keras' softmax/sigmoid activations attach to their output (``_keras_logits``), or ``None``.

    Keras sets the attribute where the tensor type takes one: TensorFlow and PyTorch tensors; JAX arrays
    and tracers take no attributes.
    """
    return getattr(y_pred, "_keras_logits", None)


def _tf_mode() -> str:
    """How TensorFlow runs the code being built: ``"eager"``, ``"graph"``, or ``"xla"`` (compiled by
    XLA, where in-graph asserts are no-ops: ``tf.function(jit_compile=True)``, Keras' ``jit_compile=True``)."""
    tf = sys.modules["tensorflow"]
    if tf.executing_eagerly():
        return "eager"
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - a TensorFlow without it: in-graph asserts are safe anyway
        return "graph"
    return "xla" if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()) else "graph"


def _global_mean_factor(b: Any, losses: Any, mask: Any) -> Any:
    """Under a ``tf.distribute`` strategy with several replicas: the factor that turns this replica's
    mean into its share of the global mean, else ``None``.

    Keras divides each replica's loss by its own count of (non-ignored) elements, then by the number of
    replicas ``R``, and sums the replicas' gradients: an average of per-replica means. Multiplying the
    per-element losses by ``R * local count / global count`` (the count all-reduced over the replicas)
    makes that sum ``Σ_replicas Σ_i l_i / global count``: the mean over the global batch, as on one device.
    """
    if b.name != "tensorflow":
        return None
    tf = sys.modules["tensorflow"]
    if not tf.distribute.has_strategy():
        return None
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync <= 1:
        return None  # cross-replica context (a direct call in strategy.scope()), or one replica
    dtype = losses.dtype
    if mask is None:
        local = tf.cast(tf.size(losses), dtype)
    else:
        local = tf.reduce_sum(tf.cast(mask, dtype))
    total = ctx.all_reduce("sum", local)
    return tf.stop_gradient(tf.math.divide_no_nan(local * float(ctx.num_replicas_in_sync), total))


# How far from 1 the rows of a softmax's output may sum: float32 and wider, float16/bfloat16.
_SOFTMAX_TOL = {False: 1e-3, True: 1e-2}


def _weights_as_list(class_weight: Any) -> list[float] | None:
    """``class_weight`` as a list of floats: what ``get_config`` can write to JSON."""
    if class_weight is None:
        return None
    b = get_backend(class_weight)
    arr = b.to_numpy(class_weight) if b is not None else class_weight
    try:
        arr = np.asarray(arr, dtype="float64")
    except (TypeError, ValueError):
        raise ArgumentError(
            f"class_weight: expected a sequence of numbers, got {type(class_weight).__name__}. Pass a list with "
            f"one weight per class."
        ) from None
    if arr.ndim != 1:
        raise ArgumentError(
            f"class_weight: expected one weight per class, shape (C,), got shape {arr.shape}. Pass a list with "
            f"one weight per class."
        )
    return [float(v) for v in arr]


@keras.saving.register_keras_serializable(package="labelkit")
class CrossEntropy(keras.losses.Loss):
    """Cross-entropy for any label format, as a Keras loss: ``model.compile(loss=CrossEntropy())``.

    The label format is inferred from shapes (``lk.cross_entropy``): a model with ``Dense(1000)``
    logits trains on ``(N, 1)`` or ``(N,)`` class ids, one-hot or probability rows ``(N, 1000)``, or
    binary targets for a ``Dense(1)`` output, with the same loss object.

    The per-element loss is ``lk.cross_entropy(y_pred, y_true, ..., reduction="none")``; Keras then
    applies ``sample_weight`` and ``reduction`` as for its own losses. With the default
    ``"sum_over_batch_size"``:

    * without ``ignore_index``: ``Σ_i s_i l_i / N`` (``s`` the sample weights, ``N`` the number of
      elements), which equals ``SparseCategoricalCrossentropy`` / ``CategoricalCrossentropy`` /
      ``BinaryCrossentropy`` where they apply;
    * with ``ignore_index``: ``Σ_i s_i l_i / (number of non-ignored elements)``, as
      ``SparseCategoricalCrossentropy(ignore_class=...)``; an all-ignored batch gives 0.

    ``class_weight`` multiplies each element's loss by ``w[y_i]`` (``Σ_c w_c t'_ic`` terms for rows),
    and the mean still divides by the element count, like ``model.fit(class_weight=...)`` and unlike
    ``lk.cross_entropy(reduction="mean")``, which divides by ``Σ_i w[y_i]``. Unlike
    ``fit(class_weight=...)``, which weights training batches only, it is part of the loss: ``evaluate``
    and the validation loss in ``fit`` are weighted too.

    Inside ``fit``/``evaluate`` the outcome is the same on every Keras backend, as far as each can raise:

    * **Label values** are checked by default (``check_values="auto"``): eagerly on PyTorch, as in-graph
      asserts in TensorFlow's graphs (a bad label stops ``fit`` with an ``InvalidArgumentError`` that
      carries labelkit's message, as Keras' own losses stop on CPU). Under XLA (``jit_compile=True``)
      asserts are dropped, and JAX's ``jit`` (and ``torch.compile``) cannot raise: there an element
      whose label fails a check gives a NaN loss (``keras.callbacks.TerminateOnNaN`` stops on it).
    * **A softmax (or sigmoid) output** — ``Dense(10, activation="softmax")`` — carries its logits in
      ``_keras_logits`` on TensorFlow and PyTorch: the loss reads them, with ``from_logits`` semantics,
      as Keras' own losses do (also under mixed precision, where Keras' float32 cast drops the
      attribute), and warns once when ``from_logits=True``: never a double softmax. Keras' JAX arrays
      carry no attributes; there ``from_logits=True`` with a prediction whose entries are all ≥ 0 and
      whose rows all sum to 1 gives a NaN loss (pass ``from_logits=False`` for a softmax output).
    * **Under a** ``tf.distribute`` **strategy** the mean (``"sum_over_batch_size"``, ``"mean"``) is over
      the global batch's non-ignored elements, as on one device: each replica's share is scaled by its
      count over the all-reduced global count (Keras alone averages the replicas' means).

    Args:
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      from_logits: ``True`` when the model outputs logits (no softmax/sigmoid layer); ``False`` for
        probabilities.
      axis: the class axis of ``y_pred``.
      label_smoothing: ε in ``[0, 1]``.
      class_weight: C weights (``[w_neg, w_pos]`` for binary), a list or a 1-D array; stored as a list.
      ignore_index: a sparse class id whose elements give 0 and are left out of the mean.
      check_values: ``"auto"`` checks the labels' values wherever the backend can raise (see above);
        ``True`` forces them as ``lk.cross_entropy`` does; ``False`` skips them (an id out of range
        still gives a NaN loss, never a silent number).
      reduction: Keras' ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
        ``"mean_with_sample_weight"``, ``"none"`` or ``None``.
      name: the loss's name.
      dtype: the dtype Keras computes the loss in (``keras.backend.floatx()`` by default).

    Call arguments:
      y_true: labels in any format: class ids of shape ``S`` or ``S + (1,)`` (e.g. ``(N,)``, ``(N, 1)``),
        rows of shape ``(*S, C)``, binary targets of shape ``S`` or ``(*S, 1)``.
      y_pred: float tensor of shape ``(*S, C)`` (class axis at ``axis``).
      sample_weight: optional weights broadcastable to ``S`` (e.g. ``(N,)``).

    Returns:
      A scalar float tensor of the Keras backend, or shape ``S`` with ``reduction="none"``.

    Raises:
      ShapeMismatchError: the labels do not fit the predictions (at the first call).
      ArgumentError: an argument out of range (at construction; a ``ValueError``).

    In a model: ``model.compile(optimizer="adam", loss=labelkit.keras.CrossEntropy())``, then
    ``model.fit(x, labels)`` with ``(N, 1)`` class ids for ``Dense(1000)`` logits.

    >>> import numpy as np, keras, labelkit.keras
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype="float32")
    >>> loss = labelkit.keras.CrossEntropy()
    >>> float(loss(np.array([[0], [2]]), logits))  # (N, 1) class ids
    0.6690...
    >>> float(loss(np.array([[1.0, 0, 0], [0, 0, 1.0]]), logits))  # one-hot rows: the same loss
    0.6690...
    >>> float(labelkit.keras.CrossEntropy(ignore_index=-1)(np.array([[0], [-1]]), logits))  # mean over 1
    0.2395...
    """

    def __init__(
        self,
        task: Task = "auto",
        from_logits: bool = True,
        axis: int = -1,
        label_smoothing: float = 0.0,
        class_weight: Any = None,
        ignore_index: int | None = None,
        check_values: CheckValues = "auto",
        reduction: str | None = "sum_over_batch_size",
        name: str = "cross_entropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        check_task(task)
        label_smoothing = _check_args(label_smoothing, "none", from_logits)
        if isinstance(axis, bool) or not isinstance(axis, (int, numbers.Integral)):
            raise ArgumentError(f"axis: expected an int, got {type(axis).__name__}. Pass e.g. axis=-1 or axis=1.")
        self.task = task
        self.from_logits = bool(from_logits)
        self.axis = int(axis)
        self.label_smoothing = label_smoothing
        self.class_weight = _weights_as_list(class_weight)
        self.ignore_index = validate_ignore_index(ignore_index)
        if check_values not in ("auto", True, False):
            raise ArgumentError(
                f"check_values: expected 'auto', True or False, got {check_values!r}. Leave it 'auto' to check "
                f"wherever the Keras backend can raise."
            )
        self.check_values = check_values
        self._warned = False
        self._behind = None  # the logits behind y_pred's activation, from __call__ to call
        self._ids = None  # integer labels as they came, from __call__ to call

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        # Keras converts y_pred to the loss's dtype before ``call``; the cast that mixed precision needs
        # drops ``_keras_logits``, so the logits behind an activation are read here, before it.
        self._behind = _logits_behind(y_pred)
        # Keras converts y_true to the loss's float dtype too. Integer class ids are kept as they are:
        # as floats, ids above 2**24 would round, and each call would check that every id is whole
        # and take the general path (a PyTorch fit step ~4 % slower than with Keras' own loss).
        self._ids = y_true if _integer_array(y_true) else None
        try:
            return super().__call__(y_true, y_pred, sample_weight=sample_weight)
        finally:
            self._behind = self._ids = None

    def call(self, y_true: Any, y_pred: Any) -> Any:
        if _pending.RECORDS:
            _pending.surface()  # device-side checks of earlier calls (labelkit/_pending.py)
        with _pending.holding():  # the loss, then the mask: one call, whose checks the next call reads
            return self._losses(y_true, y_pred)

    def _losses(self, y_true: Any, y_pred: Any) -> Any:
        if self._ids is not None:
            y_true = keras.ops.convert_to_tensor(self._ids)  # on Keras' device, in their integer dtype
        kw: dict[str, Any] = {"task": self.task, "axis": self.axis}
        from_logits = self.from_logits
        logits = self._behind
        if logits is None:
            logits = _logits_behind(y_pred)
        if logits is not None:
            # A softmax/sigmoid output: its logits, with from_logits semantics (Keras' own losses do so).
            if from_logits and not self._warned:
                warnings.warn(SOFTMAX_WARNING, stacklevel=2)
                self._warned = True
            y_pred, from_logits = logits, True
        b = get_backend(y_pred)
        check = self.check_values
        tf_mode = _tf_mode() if b is not None and b.name == "tensorflow" else ""
        if check == "auto" and tf_mode == "graph":
            check = True  # in-graph asserts: a bad label stops fit, as Keras' own losses do on CPU
        losses = cross_entropy(
            y_pred,
            y_true,
            from_logits=from_logits,
            label_smoothing=self.label_smoothing,
            class_weight=self.class_weight,
            ignore_index=self.ignore_index,
            reduction="none",
            check_values=check,
            **kw,
        )
        if check is not False and b is not None:
            # Checks that cannot raise: XLA drops asserts; JAX's jit and torch.compile skip them.
            unchecked = tf_mode == "xla" or (not tf_mode and not should_check(b, check, y_pred, y_true))
            if unchecked or b.name == "jax":
                losses = self._nan_where_invalid(b, y_true, y_pred, losses, unchecked, from_logits)
        mask = None
        if self.ignore_index is not None:
            mask = valid_mask(y_pred, y_true, ignore_index=self.ignore_index, **kw)
        if self.reduction in ("sum_over_batch_size", "mean"):
            factor = _global_mean_factor(b, losses, mask)
            if factor is not None:
                losses = losses * factor
        if mask is not None:
            # The mask Keras' ignore_class attaches: the mean divides by the valid count.
            _set_keras_mask(losses, mask)
        return losses

    def _nan_where_invalid(self, b: Any, y_true: Any, y_pred: Any, losses: Any, unchecked: bool,
                           from_logits: bool) -> Any:
        """Where the checks cannot raise, what raises elsewhere gives a NaN loss (JAX's ``jit``,
        ``torch.compile``, TensorFlow under XLA, which drops in-graph asserts).

        * ``unchecked``: labels that fail the value checks give NaN for their elements;
        * JAX, ``from_logits=True`` with a prediction that holds a softmax's output: NaN for the batch. Keras'
          JAX backend cannot attach ``_keras_logits`` to its arrays, so the softmax is told by its values:
          at least two rows, every entry strictly between 0 and 1 (a softmax of finite logits never gives
          exactly 0; hand-written, one-hot-like or ReLU logits hold zeros) and every row summing to 1
          (tolerance ``_SOFTMAX_TOL``), which logits of a batch of several rows practically never do.
        """
        p = prepare(y_pred, y_true, task=self.task, axis=self.axis, ignore_index=self.ignore_index,
                    check_values=False)
        bad = None
        if unchecked:
            valid = label_validity(b, p.spec, p.labels, ignore_index=self.ignore_index)
            bad = None if valid is None else ~valid
        if b.name == "jax" and from_logits and p.spec.task == "multiclass":
            x = b.cast(p.logits, "float32")
            tol = _SOFTMAX_TOL[b.dtype_name(p.logits) in ("float16", "bfloat16")]
            rows = b.abs(b.sum(x, axis=p.spec.axis) - 1.0)
            # A scalar, for the whole batch; counts rather than min/max, which an empty batch has not.
            outside = b.sum(b.cast((x <= 0.0) | (x >= 1.0), "int32"))
            several = b.sum(b.cast(rows >= 0.0, "int32")) >= 2  # rows: a batch of one is never taken for one
            softmax = (outside == 0) & (b.sum(b.cast(rows > tol, "int32")) == 0) & several
            bad = softmax if bad is None else bad | softmax
        return losses if bad is None else b.where(bad, float("nan"), losses)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            {
                "task": self.task,
                "from_logits": self.from_logits,
                "axis": self.axis,
                "label_smoothing": self.label_smoothing,
                "class_weight": self.class_weight,
                "ignore_index": self.ignore_index,
                "check_values": self.check_values,
                "dtype": self.dtype,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CrossEntropy:
        return cls(**config)


from labelkit._keras_metrics import Accuracy  # noqa: E402  (the metric: issue 15)
