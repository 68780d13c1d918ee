"""Value checks on labels: run on concrete arrays, skipped while tracing (``check_values="auto"``).

The happy path costs one reduction and one host read per rule; details (where, which value) are only
gathered once a rule has failed.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, cast

import numpy as np

from labelkit import _pending
from labelkit._spec import ArgumentError, Spec, dtype_kind, fmt_shape
from labelkit.backends import Backend
from labelkit.errors import LabelValueError

__all__ = [
    "check_ignore_index_format", "check_labels", "checks_on_device", "counted_ids", "effective_ignore_index",
    "label_validity", "should_check", "validate_ignore_index",
]

PROB_TOL = 1e-3


def validate_ignore_index(ignore_index: Any) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise ArgumentError(
            f"ignore_index: expected an int or None, got {type(ignore_index).__name__} {ignore_index!r}. "
            f"Pass e.g. ignore_index=-100."
        )
    return int(ignore_index)


# PyTorch's default ``ignore_index``, which it passes with dense rows too and which they ignore there.
TORCH_DEFAULT_IGNORE = -100


def check_ignore_index_format(b: Backend, spec: Spec, labels: Any, ignore_index: int | None) -> None:
    """Refuses an ``ignore_index`` with labels that hold no class ids (dense rows, multi-hot rows, binary
    targets): it would be silently without effect. PyTorch's default ``-100`` is let through, as PyTorch
    does. Labels whose width is read at run time (``spec.deferred``) may still turn out to be ids: they pass.

    Args:
      b: the labels' backend.
      spec: the labels' ``Spec`` after inference.
      labels: the labels as the user gave them (their shape is named in the message).
      ignore_index: the validated ``ignore_index`` or ``None``.

    Raises:
      ArgumentError: ``ignore_index`` is given (and not ``-100``) with labels that are not sparse ids.
    """
    if ignore_index is None or ignore_index == TORCH_DEFAULT_IGNORE or spec.label_format == "sparse":
        return
    if spec.deferred and spec.task == "multiclass":
        return  # ids or rows, decided by the labels' width when the graph runs: ids may match it
    shape = fmt_shape(b.shape(labels))
    fix = "to leave elements out, multiply the reduction='none' losses by a mask"
    if spec.label_format == "binary":
        what = f"binary targets of shape {shape}"
    elif spec.task == "multilabel":
        what = f"multi-hot rows of shape {shape}"
    else:
        what = f"one-hot or probability rows of shape {shape}"
        fix = f"to leave elements out, pass class ids (lk.to_sparse(labels)) with ignore_index={ignore_index}"
    raise ArgumentError(
        f"ignore_index={ignore_index} was given, but the labels are {what}: they hold no class ids to "
        f"compare with it, so it would change nothing (PyTorch raises here too). Drop ignore_index; {fix}."
    )


def effective_ignore_index(b: Backend, ignore_index: int | None, ids_dtype: str) -> int | None:
    """``ignore_index`` as ids of dtype ``ids_dtype`` can match it once compared in the default int:
    ``None`` when no id can equal it. That is one beyond the default int's range (2**40 on JAX without
    x64, 2**70 anywhere: no framework even compares with it), or a negative one for unsigned ids (the
    cast may wrap a huge id onto it: uint64 2**64-1 -> -1, which must stay out of range, not ignored)."""
    if ignore_index is None:
        return None
    bits = 64 if b.default_int() == "int64" else 32
    if not -(2 ** (bits - 1)) <= ignore_index < 2 ** (bits - 1):
        return None
    if dtype_kind(ids_dtype) == "u" and ignore_index < 0:
        return None
    if dtype_kind(ids_dtype) == "f" and not _exact_in_float(ignore_index, ids_dtype):
        return None  # float16 ids compare with 2**40 as with inf: an inf id would pass for ignored
    return ignore_index


# Significand bits and largest finite value of the float dtypes ids come in.
_FLOATS = {"float16": (11, 65504.0), "bfloat16": (8, 3.3895e38), "float32": (24, 3.4028e38)}


def _exact_in_float(value: int, dtype: str) -> bool:
    """Whether the integer ``value`` is exactly representable in the float dtype ``dtype``."""
    bits, top = _FLOATS.get(dtype, (53, 1.7976e308))
    a = abs(value)
    if a > top:
        return False
    while a and not a & 1:
        a >>= 1
    return a < 1 << bits


def checks_on_device(backend: Backend, check_values: Any) -> bool:
    """Whether ``check_values`` has arrays outside host memory checked on the device, their verdict read
    at the next call (``"auto"`` on a backend that ``defers_checks``): such ids are not read by a call."""
    return backend.defers_checks and type(check_values) is str and check_values == "auto"


def should_check(backend: Backend, check_values: Any, *arrays: Any, defer: bool = True) -> str:
    """``"eager"`` to check now, ``"device"`` to check on the device and read the verdict at the next
    call (``"auto"`` with the last of ``arrays``, the one checked, outside host memory on a backend that
    ``defers_checks``; not with ``defer=False``: ``lk.validate`` checks at once), ``"graph"`` for in-graph
    asserts (TF, forced), ``""`` to skip."""
    if check_values not in ("auto", True, False):
        raise ArgumentError(
            f"check_values: expected 'auto', True or False, got {check_values!r}. Leave it 'auto' to check "
            f"concrete arrays and skip while tracing."
        )
    if check_values is False:
        return ""
    tracing = any(a is not None and backend.is_tracing(a) for a in arrays)
    if not tracing:
        if defer and checks_on_device(backend, check_values) and not backend.on_host(arrays[-1]):
            return "device"  # a host read would stall the device's queue (SPEC "Checks on a GPU")
        return "eager"
    if check_values is True and backend.name == "tensorflow":
        return "graph"
    return ""


def _where(backend: Backend, mask: Any, values: Any) -> tuple[tuple[int, ...], Any]:
    m = backend.to_numpy(mask)
    idx = tuple(int(i) for i in np.argwhere(m)[0]) if m.ndim else ()
    v = backend.to_numpy(values)
    return idx, (v[idx] if v.ndim else v[()])


def _at(name: str, idx: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, idx))}]" if idx else name


def _fmt(v: Any) -> str:
    v = np.asarray(v)[()]
    return str(v)


class _Checker:
    def __init__(self, backend: Backend, mode: str, name: str, found: list[dict[str, Any]] | None = None) -> None:
        self.b, self.mode, self.name = backend, mode, name
        self.asserts: list[Any] = []
        self.found = found

    def fail_if(
        self, mask: Any, values: Any, message: Any, code: Any = "label_value", graph: str | None = None
    ) -> None:
        """Raises ``message(index, value)`` when any element of ``mask`` is set (or records it in ``found``).

        ``code`` is the diagnosis code, or a function of ``(index, value)`` returning it. ``graph`` is
        the message of the in-graph assert (TensorFlow), where no index or value can be read while tracing.
        """
        b = self.b
        if self.mode == "mask":  # label_validity: the rule's failures, element by element
            self.asserts.append(mask)
            return
        if self.mode == "graph":
            text = graph if graph is not None else message((), "<in graph>")
            self.asserts.append(b.assert_all(~mask, f"labelkit LabelValueError: {text}"))
            return
        if b.to_bool(b.any(mask)):
            idx, value = _where(b, mask, values)
            if self.found is None:
                raise LabelValueError(message(idx, value))
            self.found.append(
                {"code": code(idx, value) if callable(code) else code, "message": message(idx, value),
                 "index": idx, "value": np.asarray(value)[()].item()}
            )


def check_labels(
    backend: Backend,
    spec: Spec,
    labels: Any,
    *,
    mode: str,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    name: str = "labels",
    found: list[dict[str, Any]] | None = None,
) -> list[Any]:
    """Checks ``labels`` (already squeezed to the element shape for sparse/binary) against ``spec``.

    Returns the in-graph assert ops in graph mode (TensorFlow), each failing rule's bool mask in
    ``"mask"`` mode (see ``label_validity``), else an empty list. ``"device"`` mode computes those masks
    and leaves their verdict to the next labelkit call (``labelkit/_pending.py``): no host read. With ``found`` (a
    list, eager mode), every failing rule is appended to it as a dict (``code``, ``message``, ``index``,
    ``value``; ``lo``/``hi``/``num_classes`` for ids out of range) instead of raising on the first.

    Raises:
      LabelValueError: the first rule that fails, with where and which value (unless ``found`` is given).
    """
    if not mode:
        return []
    if mode == "device":
        masks = check_labels(
            backend, spec, labels, mode="mask", ignore_index=ignore_index, num_classes=num_classes, name=name
        )
        _pending.defer(backend, masks, lambda: check_labels(
            backend, spec, labels, mode="eager", ignore_index=ignore_index, num_classes=num_classes, name=name
        ))
        return []
    b = backend
    ck = _Checker(b, mode, name, found)
    kind = dtype_kind(b.dtype_name(labels))
    c = num_classes if num_classes is not None else spec.num_classes
    if mode == "eager" and spec.label_format == "dense" and spec.task == "multiclass" and _rows_clean(
        b, labels, spec.axis, kind
    ):
        return ck.asserts  # the happy path: two reductions and one read, no mask
    if kind == "f":
        ck.fail_if(
            ~b.isfinite(labels),
            labels,
            lambda i, v: (
                f"{_at(name, i)} is {_fmt(v)}; labels must be finite numbers. Remove or mask the NaN/Inf "
                f"entries before computing the loss."
            ),
            "label_not_finite",
            graph=(
                f"{name}: an entry is NaN or Inf (checked in graph); labels must be finite numbers. Remove or mask the "
                f"NaN/Inf entries before computing the loss."
            ),
        )
    if spec.label_format == "sparse":
        # Compare in the default int: narrow dtypes would wrap C or ignore_index (uint8 300 -> 44,
        # uint8 -100 -> 156 in torch) or refuse them (JAX, TensorFlow).
        narrow = kind in ("b", "i", "u") and b.dtype_name(labels) != b.default_int()
        ids = b.cast(labels, b.default_int()) if narrow else labels
        ignore_index = effective_ignore_index(b, ignore_index, b.dtype_name(labels))
        if kind == "f":
            ck.fail_if(
                b.floor(ids) != ids,
                ids,
                lambda i, v: (
                    f"{_at(name, i)} is {_fmt(v)}, which is not a whole number; sparse labels are class ids. "
                    f"Round or cast them deliberately (e.g. labels.round()), or pass one-hot/probability "
                    f"rows of the logits' shape for soft labels."
                ),
                "non_integral_ids",
                graph=(
                    f"{name}: a class id is not a whole number (checked in graph); sparse labels are "
                    f"class ids. Round or cast them deliberately (e.g. tf.round(labels)), or pass one-hot/"
                    f"probability rows of the logits' shape for soft labels."
                ),
            )
        if c is not None:
            # On ids in the default int: frameworks lack reductions for some dtypes (torch uint16-64).
            if mode == "eager" and kind in ("i", "u") and counted_ids(b, ids, c, None, ignore_index) is not None:
                return ck.asserts  # the happy path: one read, no mask
            bad = (ids < 0) | (ids >= c)
            if ignore_index is not None:
                bad = bad & (ids != ignore_index)
            if mode in ("graph", "mask"):
                ck.fail_if(
                    bad, ids, lambda i, v: f"{name}: a class id is outside [0, {c}) (checked in graph).",
                    graph=(
                        f"{name}: a class id is outside [0, {c}), the valid class ids 0..{c - 1} for {c} classes "
                        f"(checked in graph). If it marks padding, pass ignore_index=<that id>; else the logits "
                        f"need as many classes as the largest id + 1."
                    ),
                )
            elif b.to_bool(b.any(bad)):
                # The value as given (a uint64 id may have wrapped in ids); host reads take any dtype.
                idx, value = _where(b, bad, labels)
                text = _range_message(b, name, idx, value, labels, c, ignore_index)
                if found is None:
                    raise LabelValueError(text)
                lo, hi = _id_span(b, labels, ignore_index)
                found.append({"code": "id_out_of_range", "message": text, "index": idx, "value": int(value),
                              "lo": lo, "hi": hi, "num_classes": c,
                              "ignore_like": ignore_like(b.to_numpy(labels), int(value), c, ignore_index)})
        return ck.asserts
    if kind == "b":
        # Comparisons with numbers are not defined on bool tensors everywhere (TensorFlow).
        labels = b.cast(labels, "int32")
    elif kind == "u" and b.dtype_name(labels) != "uint8":
        # Nor on wide unsigned ones (torch uint16-64); float32 holds every value's sign and size.
        labels = b.cast(labels, "float32")
    if spec.label_format == "dense" and spec.task == "multiclass":
        ck.fail_if(
            labels < 0,
            labels,
            lambda i, v: (
                f"{_at(name, i)} is {_fmt(v)}; one-hot and probability rows must be ≥ 0. Pass "
                f"probabilities (e.g. a softmax), not logits, as labels."
            ),
            "negative_rows",
            graph=(
                f"{name}: a row has a negative entry (checked in graph); one-hot and probability rows must be ≥ 0. "
                f"Pass probabilities (e.g. a softmax), not logits, as labels."
            ),
        )
        sums = _row_sums(b, labels, spec.axis, kind)  # in float32 at least
        ck.fail_if(
            b.abs(sums - 1) > PROB_TOL,
            sums,
            lambda i, v: _row_message(name, i, v, spec.axis, kind),
            lambda i, v: _row_code(v, kind),
            graph=(
                f"{name}: a row does not sum to 1 along axis {spec.axis} (tolerance {PROB_TOL}; checked "
                f"in graph); expected one-hot or probability rows. Normalise the rows (labels / "
                f"reduce_sum(labels, axis, keepdims=True)), or pass task='multilabel' for several classes "
                f"per example."
            ),
        )
        return ck.asserts
    # binary and multilabel targets: values in [0, 1]
    ck.fail_if(
        (labels < 0) | (labels > 1),
        labels,
        lambda i, v: (
            f"{_at(name, i)} is {_fmt(v)}; {spec.task} targets must lie in [0, 1]. "
            + (
                "Class ids belong to a multiclass loss: give the logits one column per class."
                if spec.task == "binary"
                else "Multi-hot rows hold 0/1 (or probabilities) per class."
            )
        ),
        "target_out_of_range",
        graph=(
            f"{name}: a target is outside [0, 1] (checked in graph); {spec.task} targets must lie in [0, 1]. "
            + (
                "Class ids belong to a multiclass loss: give the logits one column per class."
                if spec.task == "binary"
                else "Multi-hot rows hold 0/1 (or probabilities) per class."
            )
        ),
    )
    return ck.asserts


def label_validity(
    backend: Backend, spec: Spec, labels: Any, *, ignore_index: int | None = None, num_classes: int | None = None
) -> Any:
    """Bool array of the element shape ``S``: where ``labels`` pass the value checks of ``check_labels``.

    The same rules, read element by element instead of raised: for code that cannot raise (JAX under
    ``jit``) and marks invalid elements instead (e.g. with a NaN loss). ``labels`` as ``check_labels``
    takes them: squeezed to ``S`` for sparse ids and binary targets, ``(*S, C)`` for rows. Elements
    whose id is ``ignore_index`` are valid. ``None`` when no rule applies (every element is valid).
    """
    b = backend
    failed = check_labels(b, spec, labels, mode="mask", ignore_index=ignore_index, num_classes=num_classes)
    bad = None
    for mask in failed:
        if spec.label_format == "dense" and len(b.shape(mask)) == len(b.shape(labels)):
            mask = b.sum(b.cast(mask, "int32"), axis=spec.axis) > 0  # a row fails where any of its entries does
        bad = mask if bad is None else bad | mask
    return None if bad is None else ~bad


def _row_sums(b: Backend, labels: Any, axis: int, kind: str) -> Any:
    """The sums of dense ``labels`` along ``axis``, in float32 at least: a float16/bfloat16 sum rounds a
    row that is 3e-3 off to exactly 1 (``labels`` of any dtype: bool and integer rows are cast)."""
    wide = kind != "f" or b.dtype_name(labels) in ("float16", "bfloat16")
    return b.sum(b.cast(labels, "float32") if wide else labels, axis=axis)


def _rows_clean(b: Backend, labels: Any, axis: int, kind: str) -> bool:
    """Whether concrete dense rows pass every value check of ``check_labels`` (finite, ≥ 0, each row
    summing to 1 within ``PROB_TOL``), from the smallest entry and the row sums, with one host read: no
    mask of comparisons over ``(*S, C)``. ``False`` only means "look closer": the caller then runs the
    full checks, which say where and which value.

    Sound without a finiteness test: with every entry ≥ 0, an infinite or NaN entry makes its row's sum
    infinite or NaN, which fails ``|sum - 1| <= PROB_TOL`` (NaN compares false, so a NaN that a
    framework's ``min`` skips is caught by the sums too).
    """
    shape = b.shape(labels)
    if shape is None or None in shape or 0 in shape:
        return False  # no min of an empty array; the full checks take it
    # NumPy's inf - inf in a sum: a failed test, not a warning.
    with np.errstate(invalid="ignore", over="ignore") if b.name == "numpy" else contextlib.nullcontext():
        sums = _row_sums(b, labels, axis, kind)
        failed = b.any(~(b.abs(sums - 1) <= PROB_TOL))  # set where some row fails (or is NaN)
        if kind in ("i", "f"):  # bool and unsigned entries are never negative
            failed = failed | ~(b.min(labels) >= 0)
        return not b.to_bool(failed)


def counted_ids(b: Backend, ids: Any, c: int, size: int | None, ignore_index: int | None) -> int | None:
    """How many integer ``ids`` are not ``ignore_index`` (as the ids can match it: see
    ``effective_ignore_index``), when every other id lies in ``[0, c)``; ``None`` when one does not, or
    where this cannot tell at the cost of one read ("look closer": the full check then says where). The
    one predicate for valid class ids: the eager check's happy path and the fast path's read (its count
    is the denominator of a mean, which the fast path needs to be > 0). ``size``: the number of ids,
    where the caller knows it.

    One read: a Python list for a small batch, else as ``_ids_in_range`` (a host copy for ids in host
    memory or at most 4096 ids on a device, else the device's min and max, where a batch with ignored
    ids goes the full way).
    """
    if ignore_index is None:
        n = _size(b, ids) if size is None else size
        return n if n is not None and _ids_in_range(b, ids, c, n) else None
    n = _size(b, ids) if size is None else size
    if n is None:
        return None
    if n == 0:
        return 0
    inside = 0 <= ignore_index < c  # ignored ids that are also class ids
    if n <= _LIST_MAX:
        values = b.to_list(ids)
        if min(values) >= 0 and max(values) < c:
            return n - values.count(ignore_index) if inside else n
        kept = [v for v in values if v != ignore_index]
        return len(kept) if not kept or (min(kept) >= 0 and max(kept) < c) else None
    if n <= _HOST_CHECK_MAX or b.on_host(ids):
        arr = b.to_numpy(ids)
        if arr.dtype.kind not in "iu":
            return None
        keep = arr != ignore_index  # NumPy 2 compares any dtype with any Python int exactly
        n_kept = int(np.count_nonzero(keep))
        return n_kept if n_kept == 0 or host_in_range(arr[keep], c) else None
    if inside:
        return None  # the ignored ids on a device would need counting: the full check
    return n if _ids_in_range(b, ids, c, n) else None


def _size(b: Backend, ids: Any) -> int | None:
    """The number of elements of ``ids``; ``None`` where a size is unknown."""
    shape = b.shape(ids)
    if shape is None or None in shape:
        return None
    return math.prod(cast("tuple[int, ...]", shape))


def _ids_in_range(b: Backend, ids: Any, c: int, size: int | None = None) -> bool:
    """Whether every integer id lies in ``[0, c)``, from their min and max (read as Python ints, so no
    narrow dtype wraps): no mask of comparisons. ``False`` only means "look closer": the caller then
    runs the full check, which knows about ``ignore_index`` and says where. ``size``: the number of
    ids, where the caller knows it."""
    if size is None:
        size = _size(b, ids)
        if size is None:
            return False
    if size == 0:
        return True  # no ids, nothing out of range
    if size <= _LIST_MAX:
        # A small batch: Python's min and max of the values read as a list. Cheaper than any array
        # reduction, and measured here to leave the framework's next op as fast as without it, where a
        # NumPy reduction between two TensorFlow or PyTorch ops slows the second by ~10-15 µs.
        values: list[int] = b.to_list(ids)
        return min(values) >= 0 and max(values) < c
    if size <= _HOST_CHECK_MAX or b.on_host(ids):
        # One copy to the host (none for CPU memory) and one NumPy reduction cost less than two framework
        # reductions (each an eager op dispatch, ~100 µs on TensorFlow and JAX, and a sync on a GPU).
        return host_in_range(b.to_numpy(ids), c)
    if b.dtype_name(ids) != b.default_int():  # torch has no min/max for uint16-64 on a GPU
        ids = b.cast(ids, b.default_int())
    lo, hi = b.span(ids)
    return lo >= 0 and hi < c


# Ids: up to this many, range checks read them as a Python list. Measured on this machine's CPU: a NumPy
# reduction between two TensorFlow or PyTorch ops slows the second by ~10-15 µs (in a PyTorch training
# step with 128 ids, ~9 % of the step; the list ~0.5 %); a list of 256 ids costs ~5 µs to read.
_LIST_MAX = 256
_HOST_CHECK_MAX = 4096  # ids (32 KiB of int64): up to this many, range checks read them on the host
_UNSIGNED = {np.dtype(f"int{8 * n}"): np.dtype(f"uint{8 * n}") for n in (1, 2, 4, 8)}


def host_in_range(arr: np.ndarray, c: int) -> bool:
    """Whether the integer ids ``arr`` all lie in ``[0, c)``: one reduction, of the ids read as unsigned
    (where a negative id becomes at least ``2**(bits-1)``, beyond any class the dtype could name), for
    the native signed dtypes; else two."""
    unsigned = _UNSIGNED.get(arr.dtype)
    if unsigned is not None and c <= 1 << (8 * arr.dtype.itemsize - 1):  # int8 -1 reads 255: too small for C=300
        return int(arr.view(unsigned).max()) < c
    return int(arr.min()) >= 0 and int(arr.max()) < c


def _row_code(total: Any, kind: str) -> str:
    t = float(total)
    if kind in ("i", "u", "b") and t.is_integer() and t > 1:
        return "not_one_hot"
    return "zero_row" if t == 0 else "probs_not_normalised"


def _row_message(name: str, idx: tuple[int, ...], total: Any, axis: int, kind: str) -> str:
    row = f"{name} row ({', '.join(map(str, idx))}{',' if len(idx) == 1 else ''})"
    t = float(total)
    if kind in ("i", "u", "b") and t.is_integer() and t > 1:
        return (
            f"{row} has {int(t)} ones along axis {axis}; a one-hot row has exactly one. For several "
            f"classes per example pass task='multilabel' (sigmoid per class)."
        )
    if t == 0:
        return (
            f"{row} is all zeros; expected a one-hot or probability row summing to 1. If the row marks "
            f"padding, pass sparse ids with ignore_index instead."
        )
    return (
        f"{row} sums to {t:.6g} along axis {axis}; expected a one-hot or probability row summing to 1 "
        f"(tolerance {PROB_TOL}). Normalise the rows (labels / labels.sum(axis, keepdims=True)), or pass "
        f"task='multilabel' for several classes per example."
    )


def _range_message(
    b: Backend, name: str, idx: tuple[int, ...], value: Any, ids: Any, c: int, ignore_index: int | None
) -> str:
    v = int(value)
    head = f"{_at(name, idx)} is {v}, outside the valid class ids 0..{c - 1} for {c} classes."
    if v == -100 and ignore_index is None:
        fix = "-100 is PyTorch's padding id: pass ignore_index=-100 to leave these elements out of the loss."
    elif v < 0:
        fix = (
            f"Negative ids are never wrapped around (optax would silently read -1 as class {c - 1}). If "
            f"{v} marks padding, pass ignore_index={v}."
        )
    elif (n := ignore_like(b.to_numpy(ids), v, c, ignore_index)) > 0:
        fix = (
            f"{n} element{'s hold' if n != 1 else ' holds'} {v}, and no other id is out of range: {v} is the "
            f"usual 'ignore' value of segmentation masks (PASCAL VOC, Cityscapes). Pass ignore_index={v} to leave "
            f"these elements out of the loss (if {v} is a real class, the logits need {v + 1} classes)."
        )
    else:
        lo, hi = _id_span(b, ids, ignore_index)
        if lo >= 1 and hi == c:
            fix = f"The ids run {lo}..{hi}: did they start at 1? Pass labels - 1."
        else:
            fix = (
                f"The largest id is {hi}: the logits need at least {hi + 1} classes (make the model output "
                f"{hi + 1} units), or the labels belong to another dataset."
            )
    return f"{head} {fix}"


IGNORE_VALUES = (255, -1, -100)  # the usual "ignore" ids: 255 in segmentation masks, -1 padding, PyTorch's -100


def ignore_like(arr: np.ndarray, value: int, c: int, ignore_index: int | None) -> int:
    """How many ids equal ``value`` when it looks like an "ignore" marker rather than a class: one of
    ``IGNORE_VALUES``, the only id out of ``[0, c)``, held by several elements (or by per-pixel/per-token
    labels of rank ≥ 2, as a mask). 0 when it does not look like one."""
    if value not in IGNORE_VALUES:
        return 0
    flat = np.asarray(arr).reshape(-1)
    if ignore_index is not None:
        flat = flat[flat != ignore_index]
    bad = flat[(flat < 0) | (flat >= c)]
    if bad.size == 0 or not bool(np.all(bad == value)):
        return 0
    return int(bad.size) if bad.size >= 2 or np.ndim(arr) >= 2 else 0


def _id_span(b: Backend, ids: Any, ignore_index: int | None) -> tuple[int, int]:
    """The smallest and largest id, ``ignore_index`` left out."""
    arr = b.to_numpy(ids)
    valid = arr if ignore_index is None else arr[arr != ignore_index]
    if valid.size == 0:
        return 0, 0
    valid = valid[np.isfinite(valid)] if valid.dtype.kind == "f" else valid
    return (int(valid.min()), int(valid.max())) if valid.size else (0, 0)
