"""Inference, validation and the label operations: ``infer``, ``validate``, ``one_hot``, ``squeeze``,
``to_sparse`` and ``align``. Every rule is written here once, over the backends' primitives."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from labelkit import _fast
from labelkit._checks import (
    check_ignore_index_format,
    check_labels,
    checks_on_device,
    should_check,
    validate_ignore_index,
)
from labelkit._dispatch import resolve
from labelkit._fast import MISS, backend_of_pair, ids_in_range, plain_check, plan
from labelkit._spec import (
    AlignTo,
    ArgumentError,
    CheckValues,
    Spec,
    Task,
    classes_unknown,
    dtype_kind,
    fmt_shape,
    infer_from_shapes,
    normalise_axis,
)
from labelkit.backends import Backend
from labelkit.errors import LabelkitError, ShapeMismatchError

__all__ = ["Prepared", "align", "decided", "infer", "one_hot", "prepare", "squeeze", "to_sparse", "validate"]


@dataclass
class Prepared:
    """One call's backend, spec and arrays, with the labels squeezed to the element shape."""

    backend: Backend
    spec: Spec
    logits: Any
    labels: Any  # sparse: ids of shape B; binary: targets of shape B; dense: the logits' shape
    raw_labels: Any
    checked: str  # "eager", "graph", "device" (verdict read at the next call: computed as unchecked) or ""
    # Labels whose width is read at run time (``spec.deferred``, multiclass): their size at the class
    # axis, and the ``Prepared`` of each reading (``"sparse"``, ``"dense"``), built inside a branch.
    width: Any = None
    reading: Callable[[str], Prepared] | None = None


def _dtype_name(dtype: Any) -> str:
    """A dtype name from a string, a NumPy/JAX/TensorFlow dtype, a torch dtype or a Python type."""
    if isinstance(dtype, str) and dtype == "bfloat16":  # not a NumPy dtype; every framework has it
        return dtype
    name = None if isinstance(dtype, str) else getattr(dtype, "name", None)  # strings are checked below
    if isinstance(name, str):
        return name
    text = str(dtype)
    if text.startswith("torch."):
        return text.rpartition(".")[2]
    import numpy as np

    try:
        found: str = np.dtype(dtype).name
        return found
    except TypeError:
        raise ArgumentError(f"dtype: cannot read {dtype!r} as a dtype. Pass e.g. dtype='float32'.") from None


# Eager calls repeat the same shapes step after step: their ``Spec`` is remembered, keyed by everything
# the inference reads. Only successes are kept (errors are re-raised with their message each time), and
# nothing while tracing (symbolic shapes; and a trace runs once anyway). Reads and single stores of a
# ``dict`` are atomic, so no lock is needed; the cache is emptied when it grows past ``_SPEC_CACHE_MAX``.
_SPEC_CACHE: dict[tuple[Any, ...], Spec] = {}
_SPEC_CACHE_MAX = 4096


MAX_CLASSES = 2**31 - 1  # the depth every framework's one-hot takes (tf.one_hot: int32); beyond it, shapes overflow


def _num_classes_arg(num_classes: Any) -> int:
    """A positive int (a NumPy integer too, as ``labels.max() + 1`` gives) up to ``MAX_CLASSES``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ArgumentError(f"num_classes: expected a positive int or None, got {num_classes!r}.")
    if int(num_classes) > MAX_CLASSES:
        raise ArgumentError(
            f"num_classes: {num_classes} is more classes than any framework's one-hot takes; expected at most "
            f"{MAX_CLASSES} (int32). Pass the number of classes of the model's output."
        )
    return int(num_classes)


def _infer(backend: Backend, logits: Any, labels: Any, task: str, axis: int) -> Spec:
    lshape, yshape = backend.shape(logits), backend.shape(labels)
    ydtype, ldtype = backend.dtype_name(labels), backend.dtype_name(logits)
    # ``type(...) is`` keeps True (== 1) and unhashable values out of the key.
    cacheable = type(axis) is int and type(task) is str and not backend.is_tracing(logits)
    if cacheable:
        key = (backend.name, lshape, yshape, ydtype, ldtype, task, axis)
        spec = _SPEC_CACHE.get(key)
        if spec is not None:
            return spec
    spec = infer_from_shapes(
        lshape, yshape, labels_dtype=ydtype, logits_dtype=ldtype, task=task, axis=axis, backend=backend.name
    )
    if spec.deferred:
        _require_branch(backend, spec, lshape, yshape, labels)
    if cacheable:
        if len(_SPEC_CACHE) >= _SPEC_CACHE_MAX:
            _SPEC_CACHE.clear()
        _SPEC_CACHE[key] = spec
    return spec


def _squeeze_labels(backend: Backend, spec: Spec, logits: Any, labels: Any) -> Any:
    if spec.squeeze and spec.label_format in ("sparse", "binary"):
        return backend.squeeze(labels, spec.axis)
    return labels


def _require_branch(backend: Backend, spec: Spec, lshape: Any, yshape: Any, labels: Any) -> None:
    """Labels of unknown width need a framework that branches on a run-time shape (TensorFlow). Elsewhere
    (JAX's symbolic dims) a ``ShapeMismatchError`` asks for a static shape: never a guess (rule 6)."""
    if backend.runtime_shape(labels) is not None:
        return
    ax = spec.axis
    if spec.num_classes is None:
        raise ShapeMismatchError(
            f"logits have shape {fmt_shape(lshape)} and labels {fmt_shape(yshape)}: the number of classes "
            f"(axis {ax}) is unknown while tracing, and {backend.name} cannot branch on a run-time shape. "
            f"Give the logits a static number of classes (e.g. jax.export with logits of shape (b, 1000))."
        )
    full = tuple(lshape)
    column = full[:ax] + (1,) + full[ax + 1 :]
    if spec.task == "multiclass":
        expected = (
            f"class ids of shape {fmt_shape(full[:ax] + full[ax + 1 :])} or {fmt_shape(column)}, or rows of "
            f"shape {fmt_shape(full)}"
        )
        why = f"labelkit never guesses whether they hold class ids (size 1) or rows (size {spec.num_classes})"
    else:
        expected = fmt_shape(column if spec.task == "binary" else full)
        why = "a size that differs would be broadcast"
    raise ShapeMismatchError(
        f"labels have shape {fmt_shape(yshape)}, whose size on the class axis {ax} is unknown while tracing, "
        f"and {backend.name} cannot branch on a run-time shape: {why}. Give the labels a static shape: "
        f"{expected}."
    )


def _first_entry(b: Backend, labels: Any, axis: int) -> Any:
    """The labels without their class axis of size 1, read by a reduction rather than a squeeze: XLA
    compiles both branches of a run-time choice for the actual shapes, and a squeeze of the rows' branch
    would not compile."""
    if dtype_kind(b.dtype_name(labels)) == "b":
        labels = b.cast(labels, "uint8")  # no max of bools in TensorFlow
        return b.cast(b.max(labels, axis), "bool")
    return b.max(labels, axis)


def _read_width(
    b: Backend, spec: Spec, logits: Any, labels: Any, mode: str, ignore_index: int | None, want: str | None,
    reason: str = "", fix: str = "pass class ids of shape (N,) or (N, 1), or rows with one column per class.",
) -> Prepared:
    """Labels whose size at the class axis is unknown while tracing (SPEC "Inference", rule 6), read
    when the graph runs: size 1 as class ids (binary targets), size C as rows; any other size stops the
    graph with an assertion naming both shapes. ``want`` (``"sparse"``, ``"dense"``) allows one reading
    only, for ``reason``. Returns the ``Prepared`` of the one reading allowed, or, where both are
    (multiclass), one whose ``reading`` builds either inside the branch ``decided`` takes."""
    ax = spec.axis
    c = spec.num_classes
    yshape, zshape = b.runtime_shape(labels), b.runtime_shape(logits)
    width = yshape[ax]
    if spec.task == "binary":
        want, reason = "binary", "binary targets have one column"
    elif spec.task == "multilabel":
        want, reason = "dense", "multi-hot rows have one column per class"
    elif want is None and ignore_index is not None and ignore_index != -100:
        # Rows hold no ids to ignore (an ArgumentError when their width is static).
        want, reason = "sparse", f"ignore_index={ignore_index} was given, and only class ids hold ids to ignore"
    classes = zshape[ax] if c is None else c
    c_txt = "C" if c is None else str(c)
    if want in ("sparse", "binary"):
        ok = width == 1
        expected = f"size 1 on axis {ax} ({reason})"
    elif want == "dense":
        ok = width == classes
        expected = f"size {c_txt} on axis {ax}, one column per class ({reason})"
    else:
        ok = (width == 1) | (width == classes)
        expected = (
            f"labels whose size on axis {ax} is unknown while tracing are read when the graph runs: size 1 "
            f"as class ids, size {c_txt} as one-hot/probability rows; any other size is an error"
        )
    labels = b.guard(labels, ok, (
        "labelkit ShapeMismatchError: labels have shape", yshape, "but logits have shape", zshape,
        f"(class axis {ax}); expected {expected}. Fix: {fix}",
    ))

    def reading(fmt: str) -> Prepared:
        s = replace(spec, label_format=fmt, squeeze=fmt != "dense", deferred=False)
        y = labels if fmt == "dense" else _first_entry(b, labels, ax)
        check_labels(b, s, y, mode=mode, ignore_index=ignore_index)
        return Prepared(b, s, logits, y, labels, mode)

    if want is not None:
        # One reading: its shape is pinned as well (XLA compiles the guard's assertion out). A squeeze of
        # ids, or a width fixed to C: an error wherever the size differs, never a broadcast.
        s = replace(spec, label_format=want, squeeze=want != "dense", deferred=False)
        if want != "dense":
            y = b.squeeze(labels, ax)
        else:
            y = labels if c is None else b.ensure_dim(labels, ax, c)
        check_labels(b, s, y, mode=mode, ignore_index=ignore_index)
        return Prepared(b, s, logits, y, labels, mode)
    return Prepared(b, spec, logits, labels, labels, mode, width=b.runtime_shape(labels)[ax], reading=reading)


def decided(p: Prepared, fn: Callable[[Prepared], Any]) -> Any:
    """``fn(p)``; for labels whose width is read at run time, ``fn`` of the reading it selects (both are
    traced; the graph runs one): class ids where it is 1, rows where it is C."""
    if p.reading is None:
        return fn(p)
    reading = p.reading
    return p.backend.cond(p.width == 1, lambda: fn(reading("sparse")), lambda: fn(reading("dense")))


def prepare(
    logits: Any,
    labels: Any,
    *,
    task: str = "auto",
    axis: int = -1,
    num_classes: int | None = None,
    ignore_index: Any = None,
    check_values: Any = "auto",
    want: str | None = None,
    defer: bool = True,
) -> Prepared:
    """Dispatch, inference, squeezing and value checks shared by every function that takes logits.

    ``defer=False``: labels on a device are checked at once, not at the next call (``lk.validate``).
    ``want`` (``"sparse"``, ``"dense"``): the format a fixed-format loss takes. It only decides labels
    whose width is read at run time (checked there); the caller refuses a static mismatch itself. Such
    labels, where both formats are allowed, give a ``Prepared`` to be used through ``decided``.

    Raises:
      ArgumentError: an ``ignore_index`` (other than PyTorch's ``-100``) with labels that hold no class
        ids — the one place this rule lives (SPEC "Loss semantics"); not for labels whose width is read
        at run time and may still be ids, and not where the labels' format differs from ``want``.
    """
    backend, arrs = resolve({"logits": logits, "labels": labels}, "logits")
    logits, labels = arrs["logits"], arrs["labels"]
    spec = _infer(backend, logits, labels, task, axis)
    ignore_index = validate_ignore_index(ignore_index)
    if num_classes is not None:
        num_classes = _num_classes_arg(num_classes)
        if spec.num_classes is None:
            spec = replace(spec, num_classes=num_classes)
        elif spec.task != "binary" and num_classes != spec.num_classes:
            raise ShapeMismatchError(
                f"num_classes={num_classes} but the logits have {spec.num_classes} classes on axis "
                f"{spec.axis}; expected them to agree. Drop num_classes, or give the model {num_classes} outputs."
            )
    mode = should_check(backend, check_values, logits, labels, defer=defer)
    if spec.deferred:
        if want is None:
            p = _read_width(backend, spec, logits, labels, mode, ignore_index, None)
        else:
            asked, other = ("sparse", "categorical") if want == "sparse" else ("dense", "sparse_categorical")
            p = _read_width(
                backend, spec, logits, labels, mode, ignore_index, want, f"a {asked} loss was asked for",
                f"use lk.{other}_crossentropy for the other format, or lk.cross_entropy, which reads either.",
            )
        check_ignore_index_format(backend, p.spec, labels, ignore_index)  # a reading pinned by the task or want
        return p
    if want is None or spec.label_format == want:
        # (A format other than ``want``: the caller's more specific error comes first.)
        check_ignore_index_format(backend, spec, labels, ignore_index)
    y = _squeeze_labels(backend, spec, logits, labels)
    check_labels(backend, spec, y, mode=mode, ignore_index=ignore_index)
    return Prepared(backend, spec, logits, y, labels, mode)


def infer(logits: Any, labels: Any, *, task: Task = "auto", axis: int = -1) -> Spec:
    """Infers the task and label format from shapes and dtypes only.

    Works on concrete arrays and while tracing (JAX tracers, ``tf.function`` with ``None`` dims,
    ``torch.compile``), because no value is read. Labels whose size at the class axis is unknown while
    tracing are never guessed from their dtype: on TensorFlow they are read when the graph runs
    (``Spec.deferred``: class ids where the size is 1, rows where it is C); a framework that cannot
    branch on a run-time shape (``jax.export``'s symbolic dims) raises ``ShapeMismatchError``.

    Args:
      logits: float array of shape ``(*S, C)`` with the class axis at ``axis``; ``(N,)`` or
        ``(*S, 1)`` for binary.
      labels: sparse ids of shape ``S`` or ``S + (1,)``; rows of shape ``(*S, C)``; binary targets of
        shape ``S`` or the logits' shape.
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"`` (the only way to get
        multilabel: shapes cannot tell one-hot from multi-hot rows).
      axis: the logits' class axis (``1`` for channels-first ``(N, C, H, W)``).

    Returns:
      A ``Spec``; identical on every backend but for ``Spec.backend``.

    Raises:
      ShapeMismatchError: the shapes do not fit; the message lists the shapes the logits accept.
      BackendError: an argument is not an array, or two frameworks are mixed.

    >>> import numpy as np, labelkit as lk
    >>> spec = lk.infer(np.zeros((32, 1000), "float32"), np.zeros((32, 1), "int64"))
    >>> spec.task, spec.label_format, spec.num_classes, spec.squeeze
    ('multiclass', 'sparse', 1000, True)
    """
    backend, arrs = resolve({"logits": logits, "labels": labels}, "logits")
    return _infer(backend, arrs["logits"], arrs["labels"], task, axis)


def validate(
    logits: Any,
    labels: Any,
    *,
    task: Task = "auto",
    axis: int = -1,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    check_values: CheckValues = "auto",
) -> Spec:
    """Inference plus value checks; raises on bad input.

    Args:
      logits: float array of shape ``(*S, C)`` (see ``infer``).
      labels: labels in any supported format (see ``infer``).
      task: see ``infer``.
      axis: the logits' class axis.
      num_classes: the number of classes, when the logits' class axis is unknown while tracing; when
        known, it must agree with it.
      ignore_index: a sparse id that marks elements to leave out (never out of range).
      check_values: ``"auto"`` checks concrete arrays and skips while tracing; ``True`` forces the
        checks (eagerly, or as in-graph asserts in TensorFlow); ``False`` skips them.

    Returns:
      The ``Spec``.

    Raises:
      ShapeMismatchError: the shapes do not fit.
      LabelValueError: ids out of range or not whole, rows that are not one-hot or do not sum to 1,
        binary targets outside [0, 1], NaN or Inf in the labels.

    >>> import numpy as np, labelkit as lk
    >>> lk.validate(np.zeros((2, 5)), np.array([1, 7]))
    Traceback (most recent call last):
    ...
    labelkit.errors.LabelValueError: labels[1] is 7, outside the valid class ids 0..4 for 5 classes. ...
    """
    p = prepare(
        logits,
        labels,
        task=task,
        axis=axis,
        num_classes=num_classes,
        ignore_index=ignore_index,
        check_values=check_values,
        defer=False,  # validating is the point of the call: its verdict now, a sync on a GPU
    )
    if p.reading is not None and p.checked:
        # Labels whose width is read at run time: each reading's in-graph checks, in its own branch.
        decided(p, lambda q: p.width)
    return p.spec


def _check_out_dtype(b: Backend, name: str, what: str) -> None:
    """An output dtype must be a real number type the backend has (else its cast fails in its own words)."""
    ok = dtype_kind(name) in ("b", "i", "u", "f")
    if ok:
        try:
            b.dtype(name)
        except Exception:
            ok = False
    if not ok:
        source = "dtype" if what == "dtype" else "like's dtype"
        raise ArgumentError(
            f"{what}: {source} {name} is not a real number type of {b.name}; expected e.g. float32, int64 or "
            f"bool for one-hot rows. Pass dtype='float32'."
        )


def _one_hot_core(
    b: Backend, ids: Any, c: int, out_axis: int, dtype: str, ignore_index: int | None, *, checked: bool = False
) -> Any:
    """One-hot rows; ``checked``: the value checks have just passed, so every id but an ignored one lies
    in ``[0, c)``."""
    # Every cast, reshape and mask below is skipped where it would not change anything: on tiny eager
    # inputs each framework op costs more than the arithmetic.
    name = b.dtype_name(ids)
    if dtype_kind(name) != "f":
        if checked and ignore_index is None:
            return b.one_hot_in_range(ids, c, out_axis, dtype)
        if name != b.default_int():  # compare in the default int: uint8 ids == 300 would wrap
            ids = b.cast(ids, b.default_int())
        if ignore_index is not None and 0 <= ignore_index < c:
            ids = b.where(ids == ignore_index, -1, ids)  # -1 matches no class: an all-zero row
        # The backend's one-hot (the framework's own op where it gives zero rows out of range, as here).
        return b.one_hot(ids, c, out_axis, dtype)
    if name in ("float16", "bfloat16"):
        ids, name = b.cast(ids, "float32"), "float32"
    classes = b.arange(c, ids)
    if b.dtype_name(classes) != name:
        classes = b.cast(classes, name)
    trailing = len(b.shape(ids)) - out_axis  # axes after the class axis in the output
    if trailing:
        classes = b.reshape(classes, (c,) + (1,) * trailing)
    ex = b.expand_dims(ids, out_axis)
    hot = ex == classes
    if ignore_index is not None and 0 <= ignore_index < c:  # an ignored id outside [0, C) matches no class
        hot = hot & (ex != ignore_index)
    return b.cast(hot, dtype)


def one_hot(
    labels: Any,
    num_classes: int | None = None,
    *,
    like: Any = None,
    axis: int = -1,
    dtype: Any = None,
    ignore_index: int | None = None,
    check_values: CheckValues = "auto",
) -> Any:
    """One-hot rows from sparse class ids.

    Never raises or wraps on an id out of range when checks are skipped: such an id (and an
    ``ignore_index`` id) gives an all-zero row.

    Args:
      labels: integer (or bool, or integral float) class ids of shape ``S``; column ids ``S + (1,)``
        of rank ≥ 2 lose their trailing size-1 axis (``(1,)`` stays a batch of one).
      num_classes: C; taken from ``like.shape[axis]`` when not given.
      like: logits of shape ``(*S, C)``; the output then has exactly their shape, framework and device.
      axis: where the class axis goes in the output (and the class axis of ``like``).
      dtype: the output dtype; default ``like``'s dtype, else float32.
      ignore_index: an id that gives an all-zero row.
      check_values: see ``validate``.

    Returns:
      An array of shape ``(*S, C)`` (class axis at ``axis``) in the labels' framework, or in ``like``'s
      framework and on its device.

    Raises:
      LabelValueError: an id outside ``[0, C)`` (other than ``ignore_index``) while values are checked.
      ShapeMismatchError: the labels do not fit ``like``.
      ArgumentError: neither ``num_classes`` nor ``like`` is given.

    >>> import numpy as np, labelkit as lk
    >>> lk.one_hot(np.array([[2], [0]]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    if (
        like is None and ignore_index is None and _fast.ENABLED and type(num_classes) is int and type(axis) is int
        and plain_check(check_values)
    ):
        out = _one_hot_fast(labels, num_classes, axis, dtype, check_values)
        if out is not MISS:
            return out
    ignore_index = validate_ignore_index(ignore_index)
    if like is not None:
        b, arrs = resolve({"like": like, "labels": labels}, "like")
        like, labels = arrs["like"], arrs["labels"]
        lshape = b.shape(like)
        if lshape is None or len(lshape) < 1:
            raise ShapeMismatchError(
                f"like: expected logits of shape (*S, C), got shape {fmt_shape(lshape)}. Pass the logits."
            )
        ax = normalise_axis(axis, len(lshape), "like")
        c_like = lshape[ax]
        if num_classes is not None:
            num_classes = _num_classes_arg(num_classes)
        if num_classes is not None and c_like is not None and num_classes != c_like:
            raise ShapeMismatchError(
                f"num_classes={num_classes} but like has {c_like} classes on axis {ax}; expected them to "
                f"agree. Drop num_classes to use like's."
            )
        c = num_classes if num_classes is not None else c_like
        if c is None:
            raise ArgumentError(
                "num_classes: like's class axis is unknown while tracing; pass num_classes explicitly."
            )
        if len(lshape) == 1 and c == 1:
            # like (1,): one example's single logit; its id () or (1,) gives a row of like's shape (1,).
            if b.shape(labels) not in ((), (1,)):
                raise ShapeMismatchError(
                    f"labels have shape {fmt_shape(b.shape(labels))} but like has shape (1,): one example's "
                    f"logits; expected one class id of shape () or (1,). Pass the logits of the whole batch as like."
                )
            spec = Spec("multiclass", "sparse", 1, 0, b.shape(labels) == (1,), b.name)
        else:
            spec = infer_from_shapes(
                # "multiclass", not "auto": rank-1 like (C,) is one example's C logits, not N binary logits.
                lshape, b.shape(labels), labels_dtype=b.dtype_name(labels),
                task="multiclass" if c != 1 else "binary", axis=ax, backend=b.name,
            )
        if spec.deferred:
            # A width unknown while tracing (rule 6): checked to be 1 (class ids) when the graph runs.
            _require_branch(b, spec, lshape, b.shape(labels), labels)
            labels = _read_width(b, spec, like, labels, "", None, "sparse", "lk.one_hot takes class ids").labels
            spec = replace(spec, squeeze=False, deferred=False)
        if spec.label_format == "dense":
            raise ShapeMismatchError(
                f"labels already have like's shape {fmt_shape(lshape)}: they look one-hot (or probability) "
                f"rows, not class ids. Use them as they are, or lk.to_sparse(labels) for ids."
            )
        ids = b.squeeze(labels, ax) if spec.squeeze else labels
        out_dtype = _dtype_name(dtype) if dtype is not None else b.dtype_name(like)
        out_axis = ax
    else:
        b, arrs = resolve({"labels": labels}, "labels")
        labels = arrs["labels"]
        if num_classes is None:
            raise ArgumentError(
                "num_classes: not given, and there is no like= to read it from; expected one of them. "
                "Pass lk.one_hot(labels, like=logits) or lk.one_hot(labels, num_classes)."
            )
        c = num_classes = _num_classes_arg(num_classes)
        shape = b.shape(labels)
        if shape is None:
            raise ShapeMismatchError("labels: the rank is unknown while tracing; give the input a shape.")
        if len(shape) >= 2 and shape[-1] == 1:
            labels = b.squeeze(labels, len(shape) - 1)
            shape = shape[:-1]
        kind = dtype_kind(b.dtype_name(labels))
        if kind in ("c", "O"):
            raise ArgumentError(
                f"labels: dtype {b.dtype_name(labels)} cannot hold class ids; expected integers. "
                f"Convert them, e.g. labels.astype('int64')."
            )
        out_axis = normalise_axis(axis, len(shape) + 1, "the output")
        spec = Spec("multiclass", "sparse", c, out_axis, False, b.name)
        ids = labels
        out_dtype = _dtype_name(dtype) if dtype is not None else "float32"
    _check_out_dtype(b, out_dtype, "dtype" if dtype is not None else "like")
    mode = should_check(b, check_values, ids)
    if mode:
        check_labels(b, Spec("multiclass", "sparse", c, out_axis, False, b.name), ids, mode=mode,
                     ignore_index=ignore_index)
    out = _one_hot_core(b, ids, c, out_axis, out_dtype, ignore_index, checked=mode == "eager")
    # Built where the ids are (their checks read them there), returned on like's device.
    return out if like is None else b.asarray(out, like)


def _one_hot_plan(b: Backend, labels: Any, num_classes: int, axis: int, dtype: Any) -> Any:
    """What ``one_hot`` below decides for integer ids of this shape and these arguments, without ``like``:
    ``(squeeze axis or None, output class axis, output dtype, number of ids)``; ``None`` for anything else."""
    try:
        _num_classes_arg(num_classes)
        shape = b.shape(labels)
        if shape is None or None in shape or dtype_kind(b.dtype_name(labels)) not in ("i", "u"):
            return None
        squeeze_axis = None
        if len(shape) >= 2 and shape[-1] == 1:
            squeeze_axis, shape = len(shape) - 1, shape[:-1]
        out_axis = normalise_axis(axis, len(shape) + 1, "the output")
        out_dtype = _dtype_name(dtype) if dtype is not None else "float32"
        _check_out_dtype(b, out_dtype, "dtype" if dtype is not None else "like")
    except LabelkitError:
        return None  # the general path raises it, with its message
    return squeeze_axis, out_axis, out_dtype, math.prod(cast("tuple[int, ...]", shape))  # no None: ruled out above


def _one_hot_fast(labels: Any, num_classes: int, axis: int, dtype: Any, check_values: Any) -> Any:
    """``one_hot(labels, num_classes, axis=axis, dtype=dtype)`` on concrete integer ids, from a plan
    (see ``labelkit/_fast.py``); ``MISS`` where the general path must answer."""
    b = backend_of_pair(labels)
    key = None if b is None else b.eager_key(labels)
    if b is None or key is None:
        return MISS
    try:
        p = plan(("one_hot", b, key, num_classes, axis, dtype), _one_hot_plan, b, labels, num_classes, axis, dtype)
    except TypeError:  # an unhashable dtype argument
        return MISS
    if p is None:
        return MISS
    squeeze_axis, out_axis, out_dtype, size = p
    ids = labels if squeeze_axis is None else b.squeeze(labels, squeeze_axis)
    if checks_on_device(b, check_values) and not b.on_host(ids):
        return MISS  # "auto": ids on a device are checked there, by the general path (no read)
    if check_values is False and not (b.one_hot_reads_ids and b.on_host(ids)):
        in_range = False  # no read: the framework's one-hot gives zero rows, or the ids are on a device
    else:
        # One read of the ids: free in host memory; on a device, the sync the checks promise.
        in_range = ids_in_range(b, ids, num_classes, size)
    if in_range:
        return b.one_hot_in_range(ids, num_classes, out_axis, out_dtype)
    if check_values is not False:
        return MISS  # an id out of range: the general path names it
    if b.dtype_name(ids) != b.default_int():
        ids = b.cast(ids, b.default_int())
    return b.one_hot(ids, num_classes, out_axis, out_dtype)


def squeeze(labels: Any, like: Any) -> Any:
    """Drops the size-1 class axis of column labels, so that ``labels.shape == B``.

    Never squeezes any other axis: a batch of one stays a batch of one.

    Args:
      labels: sparse ids of shape ``B`` or column ids with a size-1 axis at the class axis; binary
        targets of shape ``B`` or the logits' shape.
      like: the logits, of shape ``(*S, C)`` (class axis last).

    Returns:
      The labels with shape ``B``, in ``like``'s framework.

    Raises:
      ShapeMismatchError: the labels do not fit ``like``, or are dense rows (use ``to_sparse``).

    >>> import numpy as np, labelkit as lk
    >>> lk.squeeze(np.array([[3]]), like=np.zeros((1, 5))).shape
    (1,)
    """
    b, arrs = resolve({"like": like, "labels": labels}, "like")
    like, labels = arrs["like"], arrs["labels"]
    spec = _infer(b, like, labels, "auto", -1)
    if spec.deferred:  # a width unknown while tracing: checked to be 1 when the graph runs
        return _read_width(b, spec, like, labels, "", None, "sparse", "lk.squeeze drops a size-1 axis").labels
    if spec.label_format == "dense":
        raise ShapeMismatchError(
            f"labels have like's shape {fmt_shape(b.shape(labels))}: they are one-hot or probability rows, "
            f"and there is no size-1 axis to drop. Use lk.to_sparse(labels) to get class ids."
        )
    return _squeeze_labels(b, spec, like, labels)


def to_sparse(labels: Any, *, axis: int = -1, check_values: CheckValues = "auto") -> Any:
    """Class ids from one-hot or probability rows (their argmax; the first one on ties).

    Args:
      labels: rows of shape ``(*S, C)`` with the class axis at ``axis``.
      axis: the class axis.
      check_values: see ``validate``; checked rows must be one-hot or sum to 1.

    Returns:
      Integer ids of shape ``S``: int64, or int32 on JAX without x64.

    Raises:
      LabelValueError: a row is not one-hot and does not sum to 1 (while values are checked).

    >>> import numpy as np, labelkit as lk
    >>> lk.to_sparse(np.array([[0.1, 0.9], [1.0, 0.0]]))
    array([1, 0])
    """
    b, arrs = resolve({"labels": labels}, "labels")
    labels = arrs["labels"]
    shape = b.shape(labels)
    if shape is None or len(shape) == 0:
        raise ShapeMismatchError(
            f"labels: expected rows of shape (*S, C), got shape {fmt_shape(shape)}. Pass one-hot or "
            f"probability rows, not class ids."
        )
    ax = normalise_axis(axis, len(shape), "labels")
    kind = dtype_kind(b.dtype_name(labels))
    if kind in ("c", "O"):
        raise ArgumentError(
            f"labels: dtype {b.dtype_name(labels)} is not a real number type; expected rows of numbers."
        )
    if shape[ax] == 0:  # no class to pick (every framework's argmax fails on it)
        raise ShapeMismatchError(
            f"labels: rows of shape {fmt_shape(shape)} have no classes on axis {ax}; expected at least one. "
            f"Pass one-hot or probability rows with the class axis at axis."
        )
    spec = Spec("multiclass", "dense", shape[ax], ax, False, b.name)
    check_labels(b, spec, labels, mode=should_check(b, check_values, labels))
    return b.cast(b.argmax(labels, ax), b.default_int())


def align(
    logits: Any,
    labels: Any,
    *,
    to: AlignTo,
    task: Task = "auto",
    axis: int = -1,
    ignore_index: int | None = None,
    check_values: CheckValues = "auto",
) -> Any:
    """Labels in the layout a loss expects.

    Args:
      logits: float array of shape ``(*S, C)``.
      labels: labels in any supported format.
      to: ``"sparse"`` (integer ids of shape ``S``; binary targets of shape ``S``) or ``"one_hot"``
        (rows of the logits' shape and dtype).
      task: see ``infer``.
      axis: the logits' class axis.
      ignore_index: sparse ids to leave out; they become all-zero rows with ``to="one_hot"``.
      check_values: see ``validate``.

    Returns:
      The labels in the logits' framework, on their device.

    Raises:
      ShapeMismatchError: the labels do not fit the logits, or multi-hot rows were asked to be sparse.
      ArgumentError: ``to`` is neither ``"sparse"`` nor ``"one_hot"``.

    >>> import numpy as np, labelkit as lk
    >>> lk.align(np.zeros((2, 3)), np.array([[2], [0]]), to="sparse")
    array([2, 0])
    """
    if to not in ("sparse", "one_hot"):
        raise ArgumentError(f"to: expected 'sparse' or 'one_hot', got {to!r}.")
    p = prepare(logits, labels, task=task, axis=axis, ignore_index=ignore_index, check_values=check_values)
    # Built where the labels are (their checks read them there), returned on the logits' device.
    return decided(p, lambda q: q.backend.asarray(_aligned(q, to, ignore_index), q.logits))


def _aligned(p: Prepared, to: str, ignore_index: int | None) -> Any:
    """``align``'s result, where the labels are."""
    b, spec = p.backend, p.spec
    if to == "sparse":
        if spec.label_format == "sparse":
            # The ids losses take (torch wants int64): the default int, whatever dtype they came in.
            return b.cast(p.labels, b.default_int()) if b.dtype_name(p.labels) != b.default_int() else p.labels
        if spec.label_format == "binary":
            return p.labels
        if spec.task == "multilabel":
            raise ShapeMismatchError(
                "labels: multi-hot rows (task='multilabel') have no single class id per element; expected "
                "to='one_hot', which keeps them as they are."
            )
        return b.cast(b.argmax(p.labels, spec.axis), b.default_int())
    dtype = b.dtype_name(p.logits)
    if spec.label_format == "sparse":
        if spec.num_classes is None:
            raise classes_unknown(spec.axis, "one-hot rows")
        return _one_hot_core(
            b, p.labels, spec.num_classes, spec.axis,
            dtype, validate_ignore_index(ignore_index),
            checked=p.checked == "eager",
        )
    if spec.label_format == "binary":
        y = p.labels
        if len(b.shape(p.logits)) > 1:
            y = b.expand_dims(y, spec.axis)
        return b.cast(y, dtype)
    return b.cast(p.labels, dtype)
