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
from typing import Any

import keras
import numpy as np

from labelkit._checks import validate_ignore_index
from labelkit._dispatch import get_backend
from labelkit._distributed import valid_mask
from labelkit._losses import _check_args, cross_entropy
from labelkit._spec import ArgumentError, check_task

__all__ = ["CrossEntropy"]

try:  # Keras ≥ 3.6 keeps tensor masks through this helper (its own losses use it).
    from keras.src.backend.common.masking import set_keras_mask as _set_keras_mask
except ImportError:  # pragma: no cover - older Keras 3 read the attribute directly

    def _set_keras_mask(x: Any, mask: Any) -> None:
        try:
            x._keras_mask = mask
        except AttributeError:
            pass


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
    ``lk.cross_entropy(reduction="mean")``, which divides by ``Σ_i w[y_i]``.

    Args:
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      from_logits: ``True`` when the model outputs logits (no softmax/sigmoid layer); ``False`` for
        probabilities.
      axis: the class axis of ``y_pred``.
      label_smoothing: ε in ``[0, 1]``.
      class_weight: C weights (``[w_neg, w_pos]`` for binary), a list or a 1-D array; stored as a list.
      ignore_index: a sparse class id whose elements give 0 and are left out of the mean.
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
        task: str = "auto",
        from_logits: bool = True,
        axis: int = -1,
        label_smoothing: float = 0.0,
        class_weight: Any = None,
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cross_entropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        check_task(task)
        label_smoothing = _check_args(label_smoothing, "none", from_logits)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ArgumentError(f"axis: expected an int, got {type(axis).__name__}. Pass e.g. axis=-1 or axis=1.")
        self.task = task
        self.from_logits = bool(from_logits)
        self.axis = int(axis)
        self.label_smoothing = label_smoothing
        self.class_weight = _weights_as_list(class_weight)
        self.ignore_index = validate_ignore_index(ignore_index)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        kw = {"task": self.task, "axis": self.axis}
        losses = cross_entropy(
            y_pred,
            y_true,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
            class_weight=self.class_weight,
            ignore_index=self.ignore_index,
            reduction="none",
            **kw,
        )
        if self.ignore_index is not None:
            mask = valid_mask(y_pred, y_true, ignore_index=self.ignore_index, **kw)
            if mask is not None:
                # The mask Keras' ignore_class attaches: the mean divides by the valid count.
                _set_keras_mask(losses, mask)
        return losses

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "task": self.task,
                "from_logits": self.from_logits,
                "axis": self.axis,
                "label_smoothing": self.label_smoothing,
                "class_weight": self.class_weight,
                "ignore_index": self.ignore_index,
                "dtype": self.dtype,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CrossEntropy:
        return cls(**config)
