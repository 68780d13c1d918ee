"""Static inference of the task and label format, from shapes and dtypes only.

Nothing here reads a value, so the same rules hold on concrete arrays, on JAX tracers, inside
``tf.function`` (where dims may be ``None``) and under ``torch.compile``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from labelkit.errors import BackendError, LabelkitError, ShapeMismatchError

__all__ = ["TASKS", "ArgumentError", "Spec", "dtype_kind", "error_code", "fmt_shape", "infer_from_shapes"]

TASKS = ("auto", "multiclass", "binary", "multilabel")

# The values the public arguments take, as types a user's checker reads: ``lk.cross_entropy(logits, labels,
# reduction="avg")`` is an error before it runs. The functions still check them when called (ArgumentError).
Task = Literal["auto", "multiclass", "binary", "multilabel"]
Reduction = Literal["mean", "sum", "none"]
CheckValues = Literal["auto"] | bool
AlignTo = Literal["sparse", "one_hot"]
Shape = tuple[Any, ...]


class ArgumentError(LabelkitError, ValueError):
    """A keyword argument (not an array) has a value labelkit does not accept."""


@dataclass(frozen=True)
class Spec:
    """What labelkit inferred about a pair of logits and labels.

    Attributes:
      task: ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      label_format: ``"sparse"`` (class ids), ``"dense"`` (one-hot or probability rows, and multi-hot
        rows for multilabel) or ``"binary"`` (one 0/1 target per logit).
      num_classes: C; 2 for binary; ``None`` when the class axis is unknown while tracing.
      axis: the logits' class axis, normalised to be ≥ 0 (for rank-1 binary logits, 1: where a
        size-1 class axis would stand).
      squeeze: the labels carry a size-1 axis at the class axis that is dropped (sparse) or matched
        (binary labels shaped like their logits).
      backend: the name of the backend that served the call.
      deferred: the labels' size at the class axis is unknown while tracing (a ``None`` dim of a
        ``tf.function``), so it is read when the graph runs (SPEC "Inference", rule 6). Multiclass:
        class ids where it is 1, rows where it is C, a run-time error for any other size;
        ``label_format`` and ``squeeze`` describe the reading of ids (``"sparse"``, ``True``), which
        fails at run time on rows rather than broadcast them. Binary and multilabel: the one size the
        task allows (1, C) is checked when the graph runs. Never guessed from the dtype.
    """

    task: Task
    label_format: str
    num_classes: int | None
    axis: int
    squeeze: bool
    backend: str
    deferred: bool = False

    def __str__(self) -> str:
        classes = "? classes" if self.num_classes is None else f"{self.num_classes} classes"
        if self.deferred and self.task == "multiclass":
            c = "C" if self.num_classes is None else self.num_classes
            fmt = (
                f"sparse class ids (width 1) or one-hot/probability rows (width {c}), read from the labels' "
                f"width at run time"
            )
            return f"{self.task}: {fmt}; {classes} on axis {self.axis}; backend {self.backend}"
        fmt = {
            "sparse": "sparse class ids",
            "dense": "one-hot/probability rows" if self.task == "multiclass" else "multi-hot rows",
            "binary": "binary targets",
        }[self.label_format]
        extra = ", squeezed from a size-1 axis" if self.squeeze and self.label_format == "sparse" else ""
        if self.deferred:
            extra += ", their width checked at run time"
        return f"{self.task}: {fmt}{extra}; {classes} on axis {self.axis}; backend {self.backend}"


_E = TypeVar("_E", bound=Exception)


def _coded(err: _E, code: str) -> _E:
    """Tags ``err`` with a short diagnosis code (read by ``lk.diagnose``); the message is unchanged."""
    err.code = code  # type: ignore[attr-defined]
    return err


def error_code(err: BaseException) -> str:
    """The diagnosis code the inference tagged ``err`` with (``"shape_mismatch"`` when untagged)."""
    return getattr(err, "code", "shape_mismatch")


def classes_unknown(axis: int, needs: str) -> ArgumentError:
    """The error for a computation that needs the number of classes where the logits' class axis is
    unknown while tracing (a ``None`` or symbolic dim); ``needs`` says what needs it."""
    return ArgumentError(
        f"logits: the number of classes (axis {axis}) is unknown while tracing (a None or symbolic dim), and "
        f"{needs} needs it. Give the logits a static number of classes, e.g. tf.TensorSpec((None, 1000)), or "
        f"jax.export with logits of shape (b, 1000)."
    )


def fmt_shape(shape: Shape | None) -> str:
    if shape is None:
        return "(unknown rank)"
    inner = ", ".join("None" if d is None else str(int(d)) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def dtype_kind(name: str) -> str:
    """``"b"`` bool, ``"i"`` signed int, ``"u"`` unsigned int, ``"f"`` float, ``"c"`` complex, ``"O"`` other."""
    if name == "bool":
        return "b"
    if name.startswith("int"):
        return "i"
    if name.startswith("uint"):
        return "u"
    if name.startswith(("float", "bfloat")) or name in ("half", "double"):
        return "f"
    if name.startswith("complex"):
        return "c"
    return "O"


def _dims_match(a: Any, b: Any) -> bool:
    return a is None or b is None or a == b


def _shape_match(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(_dims_match(x, y) for x, y in zip(a, b))


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ArgumentError(
            f"task: expected one of {', '.join(repr(t) for t in TASKS)}, got {task!r}. "
            f"Leave task='auto' to infer it from the shapes."
        )
    return task


def normalise_axis(axis: Any, ndim: int, what: str = "logits") -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):  # NumPy integers are ints too
        raise ArgumentError(f"axis: expected an int, got {type(axis).__name__}. Pass e.g. axis=-1 or axis=1.")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise _coded(ArgumentError(
            f"axis: {axis} is out of range for {what} of rank {ndim}; expected {-ndim} <= axis < {ndim}. "
            f"Use axis=-1 for channels-last or axis=1 for channels-first logits."
        ), "axis_out_of_range")
    return int(axis) % ndim


def _check_label_dtype(fmt: str, labels_dtype: str | None) -> None:
    if labels_dtype is None:
        return
    kind = dtype_kind(labels_dtype)
    if kind in ("c", "O"):
        raise _coded(BackendError(
            f"labels: dtype {labels_dtype} is not a real number type; expected "
            f"{'integer class ids' if fmt == 'sparse' else 'real numbers'}. Convert the labels, e.g. "
            f"to int64 class ids or float32 rows."
        ), "labels_dtype")


def infer_from_shapes(
    logits_shape: Shape | None,
    labels_shape: Shape | None,
    *,
    labels_dtype: str | None = None,
    logits_dtype: str | None = None,
    task: str = "auto",
    axis: int = -1,
    backend: str = "numpy",
) -> Spec:
    """The inference rules of SPEC "Inference", on shapes (``None`` for unknown dims) and dtype names."""
    check_task(task)
    if logits_shape is None or labels_shape is None:
        which = "logits" if logits_shape is None else "labels"
        raise _coded(ShapeMismatchError(
            f"{which}: the rank is unknown while tracing; labelkit needs at least the rank. Give the "
            f"tf.function an input_signature with a shape such as (None, 1000)."
        ), "unknown_rank")
    if logits_dtype is not None and dtype_kind(logits_dtype) not in ("f",):
        if dtype_kind(logits_dtype) in ("c", "O"):
            raise _coded(BackendError(
                f"logits: dtype {logits_dtype} is not a real floating type; expected float logits. "
                f"Cast them, e.g. logits.astype('float32')."
            ), "logits_dtype")
    ndim = len(logits_shape)
    if ndim == 0:
        raise _coded(ShapeMismatchError(
            "logits: got a scalar (shape ()); expected shape (*S, C) with a class axis, or (N,) for "
            "binary logits. Add a batch axis, e.g. logits[None] (and labels[None] for a scalar label)."
        ), "scalar_logits")
    lab = tuple(labels_shape)
    if ndim == 1 and task in ("auto", "binary"):
        # One logit per example.
        batch = tuple(logits_shape)
        if _shape_match(lab, batch):
            spec = Spec("binary", "binary", 2, 1, False, backend)
        elif _shape_match(lab, batch + (1,)):
            spec = Spec("binary", "binary", 2, 1, True, backend, deferred=lab[1] is None)
        else:
            raise _mismatch(logits_shape, lab, 0, "binary", [batch, batch + (1,)])
        _check_label_dtype("binary", labels_dtype)
        return spec

    ax = normalise_axis(axis, ndim)
    c = logits_shape[ax]
    batch = tuple(logits_shape[:ax]) + tuple(logits_shape[ax + 1 :])
    column = tuple(logits_shape[:ax]) + (1,) + tuple(logits_shape[ax + 1 :])
    full = tuple(logits_shape)

    if task == "auto":
        task_ = "binary" if c == 1 else "multiclass"
    else:
        task_ = task
    if task_ == "binary":
        if c is not None and c != 1:
            raise _coded(ShapeMismatchError(
                f"logits: task='binary' needs one logit per example (a class axis of size 1, or rank-1 "
                f"logits), got shape {fmt_shape(logits_shape)} with {c} classes on axis {ax}. For one "
                f"sigmoid per class pass task='multilabel'; for a softmax, task='multiclass'."
            ), "task_mismatch")
        if _shape_match(lab, batch):
            spec = Spec("binary", "binary", 2, ax, False, backend)
        elif _shape_match(lab, full):
            # A label width unknown while tracing is checked to be 1 when the graph runs: never broadcast.
            spec = Spec("binary", "binary", 2, ax, True, backend, deferred=lab[ax] is None)
        else:
            raise _mismatch(logits_shape, lab, ax, "binary", [batch, full])
        _check_label_dtype("binary", labels_dtype)
        return spec
    if task_ == "multilabel":
        if not _shape_match(lab, full):
            raise _mismatch(logits_shape, lab, ax, "multilabel", [full])
        _check_label_dtype("dense", labels_dtype)
        # A label width unknown while tracing is checked to be C when the graph runs (never broadcast).
        return Spec("multilabel", "dense", c, ax, False, backend, deferred=lab[ax] is None)

    # multiclass
    if c is not None and c < 2:
        raise _coded(ShapeMismatchError(
            f"logits: task='multiclass' needs at least 2 classes on axis {ax}, got shape "
            f"{fmt_shape(logits_shape)}. With one logit per example use task='binary' (or leave task='auto')."
        ), "too_few_classes")
    if _shape_match(lab, batch) and len(lab) != ndim:
        _check_label_dtype("sparse", labels_dtype)
        return Spec("multiclass", "sparse", c, ax, False, backend)
    rest_ok = len(lab) == ndim and all(_dims_match(lab[i], logits_shape[i]) for i in range(ndim) if i != ax)
    if rest_ok:
        lc = lab[ax]
        if lc is None:
            # Unknown while tracing (rule 6): never guessed from the dtype (Keras casts every label to
            # float), never broadcast. Read when the graph runs: ids where it is 1, rows where it is C.
            _check_label_dtype("dense", labels_dtype)
            return Spec("multiclass", "sparse", c, ax, True, backend, deferred=True)
        if lc == 1:
            fmt = "sparse"
        elif c is not None:
            fmt = "dense" if lc == c else ""
        else:
            fmt = "dense"  # the logits' class axis is unknown; the labels tell C
        if fmt:
            _check_label_dtype(fmt, labels_dtype)
            num = c if c is not None or fmt == "sparse" else lc
            return Spec("multiclass", fmt, num, ax, fmt == "sparse", backend)
    raise _mismatch(logits_shape, lab, ax, "multiclass", [batch, column, full])


def _mismatch(logits_shape: Shape, lab: Shape, ax: int, task: str, accepted: list[Shape]) -> ShapeMismatchError:
    accepted_txt = " or ".join(fmt_shape(s) for s in dict.fromkeys(accepted))
    head = (
        f"labels have shape {fmt_shape(lab)} but logits have shape {fmt_shape(logits_shape)} "
        f"(task {task!r}, class axis {ax}); these logits accept labels of shape {accepted_txt}."
    )
    code, fix = _nearest_fix(logits_shape, lab, ax, task)
    return _coded(ShapeMismatchError(f"{head} {fix}"), code)


def _nearest_fix(logits_shape: Shape, lab: Shape, ax: int, task: str) -> tuple[str, str]:
    """The diagnosis code and the one fix that most likely applies to a shape mismatch."""
    ndim = len(logits_shape)
    # One example's logits (C,) with a scalar id: per-example code, e.g. inside jax.vmap.
    if ndim == 1 and len(lab) == 0 and task == "binary":
        return "single_example", (
            f"Rank-1 logits are read as one binary logit per example; for one example's {logits_shape[0]} "
            f"class logits with a scalar class id (e.g. inside jax.vmap) pass task='multiclass'."
        )
    # A batch size that differs.
    if lab and logits_shape and (ax != 0 or ndim == 1) and lab[0] is not None and logits_shape[0] is not None:
        if lab[0] != logits_shape[0] and len(lab) in (ndim - 1, ndim, ndim + (ndim == 1)):
            return "batch_mismatch", (
                f"The batch sizes differ: {lab[0]} labels vs {logits_shape[0]} logits. Pass the labels "
                f"of the same batch as the logits."
            )
    # Column ids whose size-1 axis trails, while the class axis is not last ((N, T, 1) vs (N, C, T)).
    batch = tuple(logits_shape[:ax]) + tuple(logits_shape[ax + 1 :])
    if ax != ndim - 1 and len(lab) == ndim and lab[-1] == 1 and _shape_match(lab[:-1], batch):
        return "extra_axis", (
            f"The labels are class ids with a trailing size-1 axis, but the class axis is {ax}: drop it, "
            f"e.g. labels.squeeze(-1)."
        )
    # The labels fit another class axis (channels-first vs channels-last).
    if task == "multiclass" and ndim >= 3:
        for k in range(ndim):
            if k == ax:
                continue
            b = tuple(logits_shape[:k]) + tuple(logits_shape[k + 1 :])
            col = tuple(logits_shape[:k]) + (1,) + tuple(logits_shape[k + 1 :])
            if _shape_match(lab, b) or _shape_match(lab, col):
                side = "channels-first" if k == 1 else ("channels-last" if k == ndim - 1 else f"axis {k}")
                return "wrong_axis", (
                    f"The labels fit a class axis at {k} ({side} logits): pass axis={k if k != ndim - 1 else -1}."
                )
    if ndim >= 2 and len(lab) == ndim and lab[ax] not in (1, None) and logits_shape[ax] is not None:
        return "class_count_mismatch", (
            f"The labels have {lab[ax]} columns but the logits have {logits_shape[ax]} "
            f"class{'es' if logits_shape[ax] != 1 else ''}: the class "
            f"counts differ. Make the model's last layer output {lab[ax]} units, or fix the labels."
        )
    if len(lab) == ndim + 1 and lab[-1] == 1:
        return "extra_axis", "The labels carry an extra size-1 axis: drop it, e.g. labels.squeeze(-1)."
    if task == "multilabel":
        return "ids_for_multilabel", (
            "Multi-hot labels have the logits' shape; convert class ids with lk.one_hot(labels, like=logits)."
        )
    if len(lab) > ndim:
        return "rank_mismatch", "The labels have more axes than the logits: check that they belong to these logits."
    return "shape_mismatch", "Check that the labels belong to these logits (batch and sequence axes must match)."
