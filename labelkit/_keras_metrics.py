"""Keras 3 metric: ``labelkit.keras.Accuracy``, the fraction right for any label format, in ``compile``.

Importing this module imports Keras (``import labelkit`` alone never does); ``labelkit.keras`` exposes
the class. It works on every Keras 3 backend — TensorFlow, JAX and PyTorch — because Keras hands
``update_state`` the backend's own tensors and ``lk.accuracy`` dispatches on them.

The state is two sums, ``total`` (elements right, weighted) and ``count`` (elements counted, weighted),
both created with ``aggregation="sum"``: under a ``tf.distribute`` strategy each replica adds its slice
and reading the metric sums the replicas' variables, so the result is the global fraction
``Σ right / Σ counted`` — never an average of per-replica fractions (which would weigh a replica with
many ignored elements like one with none).
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import ops

from labelkit._checks import should_check, validate_ignore_index
from labelkit._distributed import valid_mask
from labelkit._metrics import accuracy, check_metric_args
from labelkit._ops import infer
from labelkit._spec import ArgumentError, CheckValues, Task, check_task, fmt_shape

__all__ = ["Accuracy"]


def _check_values_arg(check_values: Any) -> Any:
    if check_values is True or check_values is False or (isinstance(check_values, str) and check_values == "auto"):
        return check_values
    # No backend: check_values is invalid here, so should_check raises before it would use one.
    should_check(None, check_values)  # type: ignore[arg-type]  # raises the ArgumentError of every labelkit function
    return check_values  # pragma: no cover - should_check raised


def _same_rank(weight: Any, ndim: int) -> Any:
    """Sample weights of shape ``(N,)``, ``(N, 1)``... brought to the rank of the per-element values."""
    while len(weight.shape) > ndim and weight.shape[-1] == 1:
        weight = ops.squeeze(weight, axis=-1)
    while len(weight.shape) < ndim:
        weight = ops.expand_dims(weight, axis=-1)
    return weight


@keras.saving.register_keras_serializable(package="labelkit")
class Accuracy(keras.metrics.Metric):
    """The fraction of elements predicted right, for any label format: ``compile(metrics=[Accuracy()])``.

    Each batch goes through ``lk.accuracy(y_pred, y_true, ..., reduction="none")``, so the labels are
    read exactly as ``labelkit.keras.CrossEntropy`` reads them: ``(N, 1)`` or ``(N,)`` class ids, one-hot
    or probability rows for a ``Dense(C)`` output, binary targets for ``Dense(1)``, multi-hot rows with
    ``task="multilabel"``. Keras' ``CategoricalAccuracy`` given ``(N, 1)`` ids compares the argmax of a
    one-column row (always 0) with the prediction and reports about ``1/C`` without a word; this metric
    reports the accuracy.

    ``result()`` is ``Σ_e s_e r_e / Σ_e s_e`` over every element ``e`` seen since the last reset, ``r_e`` the
    element's score (0 or 1; a multilabel element's fraction of classes right) and ``s_e`` its sample
    weight (1 without ``sample_weight``); elements whose id is ``ignore_index`` are left out. That is
    ``SparseCategoricalAccuracy``'s ``Σ s r / Σ s`` for one element per sample, and ``lk.accuracy`` over the
    concatenated batches when nothing is weighted.

    Args:
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      from_logits: ``True`` when the model outputs logits (a ``Dense`` layer without activation);
        ``False`` for probabilities (a sigmoid output: binary and multilabel then compare
        ``p > threshold``, as ``keras.metrics.BinaryAccuracy`` does); ``None`` (default): not said.
        A prediction of Keras' softmax or sigmoid that carries its logits (TensorFlow, PyTorch) is read
        through them unless ``from_logits=False``; any other prediction is taken as logits — but on Keras'
        JAX backend, whose arrays carry no logits, a sigmoid's probabilities cannot be told from logits,
        so there a binary or multilabel task with ``from_logits=None`` raises ``ArgumentError`` at the
        first update, asking for ``from_logits``. (Multiclass needs nothing: softmax keeps the ranking.)
        Why not guess from the values: probabilities lie in [0, 1], but so do the logits of a small or
        early batch, and a guess that flips between batches would be a silent wrong number; and a
        default of ``True`` (logits) scores every probability ``p > 0.5`` as ``sigmoid(p) > 0.5``,
        i.e. every prediction positive — the silent 0.516-for-0.3125 this replaces.
      axis: the class axis of ``y_pred``.
      top_k: multiclass: right when the class is among the ``top_k`` largest outputs.
      threshold: binary and multilabel: the probability above which a prediction is positive.
      ignore_index: a sparse class id whose elements are left out.
      check_values: ``"auto"`` (checked where the arrays are concrete: eager torch; skipped inside
        ``tf.function`` and ``jax.jit``, where a bad id scores NaN), ``True`` or ``False``.
      name: the metric's name (the key in ``history``).
      dtype: the dtype of the state (``keras.backend.floatx()`` by default).

    Raises:
      ArgumentError: an argument out of range (at construction; a ``ValueError``); on Keras' JAX
        backend, a binary or multilabel task without ``from_logits`` (at the first update).
      ShapeMismatchError: the labels do not fit the predictions (at the first update).

    >>> import numpy as np, keras, labelkit.keras
    >>> logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0]], dtype="float32")
    >>> m = labelkit.keras.Accuracy()
    >>> m.update_state(np.array([[0], [2], [2]]), logits)  # (N, 1) class ids
    >>> m.update_state(np.array([1]), logits[1:2])  # a second batch: one more right
    >>> float(m.result())  # 3 right of 4
    0.75
    """

    def __init__(
        self,
        task: Task = "auto",
        top_k: int = 1,
        from_logits: bool | None = None,
        axis: int = -1,
        threshold: float = 0.5,
        ignore_index: int | None = None,
        check_values: CheckValues = "auto",
        name: str = "accuracy",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        check_task(task)
        top_k, threshold = check_metric_args(top_k, threshold, True if from_logits is None else from_logits)
        if isinstance(axis, bool) or not isinstance(axis, (int, numbers.Integral)):
            raise ArgumentError(f"axis: expected an int, got {type(axis).__name__}. Pass e.g. axis=-1 or axis=1.")
        self.task = task
        self.top_k = top_k
        self.from_logits = None if from_logits is None else bool(from_logits)
        self.axis = int(axis)
        self.threshold = threshold
        self.ignore_index = validate_ignore_index(ignore_index)
        self.check_values = _check_values_arg(check_values)
        zeros = keras.initializers.Zeros()
        self.total = self.add_variable(shape=(), initializer=zeros, dtype=self.dtype, aggregation="sum", name="total")
        self.count = self.add_variable(shape=(), initializer=zeros, dtype=self.dtype, aggregation="sum", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Adds one batch: ``y_true`` labels in any format, ``y_pred`` of shape ``(*S, C)``, optional
        ``sample_weight`` broadcastable to ``S`` (e.g. ``(N,)``)."""
        from_logits = self.from_logits
        if from_logits is not False:
            kept = getattr(y_pred, "_keras_logits", None)  # Keras' softmax/sigmoid keeps its input here
            if kept is not None:
                y_pred, from_logits = kept, True
        kw: dict[str, Any] = {"task": self.task, "axis": self.axis}
        if from_logits is None:
            from_logits = self._logits_or_refuse(y_true, y_pred)
        per = accuracy(
            y_pred, y_true, from_logits=from_logits, top_k=self.top_k, threshold=self.threshold,
            ignore_index=self.ignore_index, reduction="none", check_values=self.check_values, **kw,
        )
        per = ops.cast(per, self.dtype)
        weight = None
        if self.ignore_index is not None:
            keep = valid_mask(y_pred, y_true, ignore_index=self.ignore_index, **kw)
            weight = None if keep is None else ops.cast(keep, self.dtype)
        if sample_weight is not None:
            sw = ops.convert_to_tensor(sample_weight, dtype=self.dtype)
            sw = ops.broadcast_to(_same_rank(sw, len(per.shape)), ops.shape(per))
            weight = sw if weight is None else weight * sw
        if weight is None:
            self.total.assign_add(ops.sum(per))
            self.count.assign_add(ops.sum(ops.ones_like(per)))
        else:
            self.total.assign_add(ops.sum(per * weight))
            self.count.assign_add(ops.sum(weight))

    def _logits_or_refuse(self, y_true: Any, y_pred: Any) -> bool:
        """``from_logits`` when it was not given and the prediction carries no logits: ``True`` (logits),
        but on Keras' JAX backend a binary or multilabel prediction may be a sigmoid's output, which
        nothing tells from logits there: ``ArgumentError`` (static: raised while tracing too)."""
        if keras.backend.backend() != "jax":
            return True
        spec = infer(y_pred, y_true, task=self.task, axis=self.axis)
        if spec.task == "multiclass":
            return True  # the ranking of logits and of their softmax is the same
        raise ArgumentError(
            f"from_logits: not given, and on Keras' JAX backend the predictions (shape "
            f"{fmt_shape(tuple(y_pred.shape))}, a {spec.task} task) do not say whether they are logits or a "
            f"sigmoid's probabilities (Keras attaches a sigmoid's logits on TensorFlow and PyTorch only). "
            f"Expected from_logits=True or False. Pass labelkit.keras.Accuracy(from_logits=False) for a "
            f"Dense(..., activation='sigmoid') output (as keras.metrics.BinaryAccuracy takes it), or "
            f"from_logits=True for a Dense layer without activation."
        )

    def result(self) -> Any:
        """``total / count``: the weighted fraction right over every counted element seen (0 before any)."""
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            {
                "task": self.task,
                "top_k": self.top_k,
                "from_logits": self.from_logits,
                "axis": self.axis,
                "threshold": self.threshold,
                "ignore_index": self.ignore_index,
                "check_values": self.check_values,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Accuracy:
        return cls(**config)
