"""``lk.diagnose``: every problem of a pair of logits and labels, each with the fix in the user's framework.

Diagnosis reuses the library's own rules: the static inference (``infer_from_shapes``, whose errors
carry a diagnosis ``code``) and the value checks (``check_labels`` in its collecting mode). Nothing is
re-decided here; this module only words the fixes for each framework and never raises on user data.
It imports no framework: the arrays it is given tell which one is loaded.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from labelkit._checks import check_labels, validate_ignore_index
from labelkit._dispatch import get_backend, resolve, unservable
from labelkit._pending import held
from labelkit._spec import (
    ArgumentError,
    Spec,
    Task,
    check_task,
    dtype_kind,
    error_code,
    fmt_shape,
    infer_from_shapes,
)
from labelkit.backends import Backend
from labelkit.errors import LabelkitError, LabelValueError

__all__ = ["FRAMEWORKS", "LOSSES", "Diagnosis", "Problem", "diagnose"]

SPARSE, CATEGORICAL, BINARY = "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"
LOSSES = (SPARSE, CATEGORICAL, BINARY)
DENSE = "dense"  # a loss that needs labels of the logits' shape, when which one is not known
FRAMEWORKS = ("numpy", "torch", "tensorflow", "keras", "jax")
_FRAMEWORK_ALIASES = {"pytorch": "torch", "tf": "tensorflow", "optax": "jax", "flax": "jax", "np": "numpy"}
_LOSS_ALIASES = {
    "sparse": SPARSE,
    "categorical": CATEGORICAL,
    "binary": BINARY,
    "sparsecategoricalcrossentropy": SPARSE,
    "categoricalcrossentropy": CATEGORICAL,
    "binarycrossentropy": BINARY,
}
_LOSS_WORDS = {
    SPARSE: "a sparse loss (class ids of the batch shape)",
    CATEGORICAL: "a dense loss (one-hot or probability rows of the logits' shape)",
    BINARY: "a sigmoid loss (targets of the logits' shape)",
    DENSE: "labels of the logits' shape",
}
_NAMES = {"numpy": "NumPy", "torch": "PyTorch", "tensorflow": "TensorFlow", "keras": "Keras", "jax": "JAX/optax"}

Shape = tuple[Any, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the labels (or the logits), and how to fix it.

    Attributes:
      code: a short stable identifier, e.g. ``"column_labels"``, ``"id_out_of_range"``, ``"wrong_loss"``.
      message: what was found and what was expected, in plain words.
      fix: the call to make, written for the user's framework.
      severity: ``"error"`` (the labels do not fit or hold invalid values) or ``"warning"`` (labelkit
        copes, but the framework's own loss would fail or silently compute something else; NaN logits).
    """

    code: str
    message: str
    fix: str
    severity: str = "error"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Diagnosis:
    """What ``lk.diagnose`` (or ``lk.explain``) found.

    Attributes:
      spec: the inferred ``Spec``, or ``None`` when the shapes do not fit (or were not known).
      problems: every ``Problem`` found, errors first.
      logits_shape, labels_shape: the shapes diagnosed (``None`` for unknown dims), or ``None``.
      logits_dtype, labels_dtype: dtype names, or ``None`` when not known.
      framework: whose words the fixes use: ``"numpy"``, ``"torch"``, ``"tensorflow"``, ``"keras"``, ``"jax"``.
      loss: the loss these labels call for (``"sparse_categorical_crossentropy"``,
        ``"categorical_crossentropy"``, ``"binary_crossentropy"``), or ``None``.
      native_call: that loss as the framework's own call, with the labels prepared for it.
      labelkit_call: the labelkit call that computes it for any label format.
      values_checked: whether the values were read (concrete arrays), not only shapes and dtypes.
      source: for ``lk.explain``, what the message was recognised as; else ``None``.
      message: for ``lk.explain``, the first line of the message read; else ``None``.
    """

    spec: Spec | None
    problems: tuple[Problem, ...]
    logits_shape: Shape | None = None
    labels_shape: Shape | None = None
    logits_dtype: str | None = None
    labels_dtype: str | None = None
    framework: str = "numpy"
    loss: str | None = None
    native_call: str | None = None
    labelkit_call: str | None = None
    values_checked: bool = False
    source: str | None = None
    message: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """``True`` when no problem is an error (warnings may remain)."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the problems, in order."""
        return tuple(p.code for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of everything in the diagnosis."""
        spec = None
        if self.spec is not None:
            s = self.spec
            spec = {
                "task": s.task, "label_format": s.label_format, "num_classes": s.num_classes, "axis": s.axis,
                "squeeze": s.squeeze, "backend": s.backend, "text": str(s),
            }
        return {
            "ok": self.ok,
            "framework": self.framework,
            "source": self.source,
            "message": self.message,
            "logits": {"shape": _shape_list(self.logits_shape), "dtype": self.logits_dtype},
            "labels": {"shape": _shape_list(self.labels_shape), "dtype": self.labels_dtype},
            "spec": spec,
            "loss": self.loss,
            "native_call": self.native_call,
            "labelkit_call": self.labelkit_call,
            "values_checked": self.values_checked,
            "problems": [p.to_dict() for p in self.problems],
        }

    def __str__(self) -> str:
        return self.report()

    def report(self, width: int = 100) -> str:
        """The readable report that ``str()`` gives (plain text, aligned, no colour)."""
        n_err = sum(p.severity == "error" for p in self.problems)
        n_warn = len(self.problems) - n_err
        if not self.problems:
            verdict = "OK: the labels fit the logits"
        else:
            parts = [f"{n_err} error{'s' * (n_err != 1)}"] if n_err else []
            parts += [f"{n_warn} warning{'s' * (n_warn != 1)}"] if n_warn else []
            verdict = ("problems found: " if n_err else "OK, with ") + ", ".join(parts)
        rows: list[tuple[str, str]] = []
        if self.message:
            rows.append(("message", self.message))
        if self.source:
            rows.append(("read as", self.source))
        if self.logits_shape is not None or self.labels_shape is not None:
            rows.append(("logits", _describe(self.logits_shape, self.logits_dtype)))
            rows.append(("labels", _describe(self.labels_shape, self.labels_dtype)))
        if self.spec is not None:
            rows.append(("inferred", _spec_text(self.spec)))
        if self.loss:
            rows.append(("loss", self.loss))
        if self.native_call and self.framework != "numpy":
            rows.append((self.framework, self.native_call))
        if self.labelkit_call:
            rows.append(("labelkit", self.labelkit_call))
        if self.spec is not None:
            rows.append(("values", "checked" if self.values_checked else "not checked (shapes and dtypes only)"))
        key_w = max([len(k) for k, _ in rows] + [8]) + 2
        lines = [f"labelkit diagnosis: {verdict}"]
        for k, v in rows:
            lines.append(_wrap(v, width, "  " + k.ljust(key_w), " " * (key_w + 2)))
        for p in self.problems:
            lines.append("")
            head = f"  {p.severity.upper():<8}{p.code}"
            lines.append(head)
            lines.append(_wrap(p.message, width, " " * 10, " " * 10))
            lines.append(_wrap(p.fix, width, "  fix:    ", " " * 10))
        return "\n".join(lines)


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    return textwrap.fill(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False,
                         break_long_words=False)


def _shape_list(shape: Shape | None) -> list[Any] | None:
    return None if shape is None else [None if d is None else int(d) for d in shape]


def _describe(shape: Shape | None, dtype: str | None) -> str:
    text = fmt_shape(shape) if shape is not None else "(unknown)"
    return f"{text} {dtype}" if dtype else text


def _spec_text(spec: Spec) -> str:
    text = str(spec)
    return text.rpartition("; backend")[0] if spec.backend == "none" else text


# --- reading the inputs ---------------------------------------------------------------------------


@dataclass
class _Input:
    shape: Shape | None
    dtype: str | None
    backend: Backend | None = None  # None: only a shape was given
    array: Any = None


def _as_shape(x: Any) -> Shape | bool | None:
    """``x`` as a shape (``None`` dims for unknown), ``False`` when ``x`` is not a shape."""
    if type(x).__name__ == "TensorShape" and hasattr(x, "as_list"):
        return None if x.rank is None else tuple(x.as_list())
    if not isinstance(x, tuple):
        return False
    dims: list[int | None] = []
    for d in x:
        if d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and int(d) == -1):
            dims.append(None)
        elif isinstance(d, (int, np.integer)) and not isinstance(d, bool) and int(d) >= 0:
            dims.append(int(d))
        else:
            return False
    return tuple(dims)


def _dtype_arg(name: str, dtype: Any) -> str | None:
    if dtype is None:
        return None
    from labelkit._ops import _dtype_name

    try:
        return _dtype_name(dtype)
    except ArgumentError:
        raise ArgumentError(f"{name}: cannot read {dtype!r} as a dtype. Pass e.g. {name}='int64'.") from None


def _read(x: Any, name: str, dtype: str | None) -> _Input | Problem:
    shape = _as_shape(x)
    if shape is not False:
        return _Input(shape, dtype)  # type: ignore[arg-type]
    backend = get_backend(x)
    if backend is None:
        if not isinstance(x, (list, int, float, bool, np.generic)):
            return Problem(
                "not_an_array",
                f"{name}: expected an array (NumPy, PyTorch, TensorFlow or JAX), a nested list of numbers, or a "
                f"shape such as (None, 1000); got {type(x).__name__}.",
                f"Pass the array itself (np.asarray({name})), or its shape: lk.diagnose({name}.shape, ...).",
            )
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            return Problem("not_an_array", f"{name}: could not read it as an array ({exc}).",
                           f"Pass a rectangular nested list or an array: np.asarray({name}).")
        backend = get_backend(x)
    assert backend is not None
    why = unservable(name, x, backend)  # masked entries, torch sparse and nested tensors
    if why is not None:
        return Problem("masked_values" if why.error is LabelValueError else "unsupported_array", why.found, why.fix)
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
        x = np.asarray(x)  # np.matrix and other subclasses: read as plain ndarrays
    if np.ndim(x) == 0 and isinstance(x, np.ndarray) and x.dtype == object:
        return Problem("not_an_array", f"{name}: got a NumPy object array; expected numbers.",
                       f"Convert it: np.asarray({name}, dtype=np.float32).")
    return _Input(backend.shape(x), backend.dtype_name(x), backend, x)


def _framework_arg(framework: str | None, inputs: list[_Input]) -> str:
    if framework is not None:
        f = _FRAMEWORK_ALIASES.get(str(framework).lower(), str(framework).lower())
        if f not in FRAMEWORKS:
            raise ArgumentError(
                f"framework: expected one of {', '.join(repr(f) for f in FRAMEWORKS)}, got {framework!r}. "
                f"It only chooses the wording of the fixes."
            )
        return f
    for i in inputs:
        if i.backend is not None and i.backend.name in FRAMEWORKS and i.backend.name != "numpy":
            return i.backend.name
    return "numpy"


def _loss_arg(loss: str | None) -> str | None:
    if loss is None:
        return None
    key = str(loss).replace("_", "").replace(" ", "").lower()
    if loss in LOSSES or loss == DENSE:
        return loss
    if key in _LOSS_ALIASES:
        return _LOSS_ALIASES[key]
    raise ArgumentError(
        f"loss: expected one of {', '.join(repr(n) for n in LOSSES)} (the loss you use), or 'dense' (a loss "
        f"that needs labels of the logits' shape), got {loss!r}."
    )


# --- the framework's words ------------------------------------------------------------------------


def _ax(axis: int, ndim: int) -> int:
    """``-1`` for the last axis, else the axis itself (how people write it)."""
    return -1 if axis == ndim - 1 else axis


def squeeze_expr(f: str, axis: int, what: str = "labels") -> str:
    if f == "tensorflow":
        return f"tf.squeeze({what}, axis={axis})"
    if f == "keras":
        return f"keras.ops.squeeze({what}, axis={axis})"
    return f"{what}.squeeze({axis})"


def _cast_expr(f: str, kind: str, what: str = "labels") -> str:
    """``what`` cast to the framework's id type (``kind="int"``) or float32 (``kind="float"``)."""
    if kind == "int":
        return {"torch": f"{what}.long()", "tensorflow": f"tf.cast({what}, tf.int64)",
                "keras": f"keras.ops.cast({what}, 'int32')", "jax": f"{what}.astype(jnp.int32)"}.get(
            f, f"{what}.astype(np.int64)")
    return {"torch": f"{what}.float()", "tensorflow": f"tf.cast({what}, tf.float32)",
            "keras": f"keras.ops.cast({what}, 'float32')", "jax": f"{what}.astype(jnp.float32)"}.get(
        f, f"{what}.astype(np.float32)")


def _moveaxis_expr(f: str, what: str, src: int, dst: int) -> str:
    if f == "torch":
        return f"{what}.movedim({src}, {dst})"
    if f in ("tensorflow", "keras"):
        return f"keras.ops.moveaxis({what}, {src}, {dst})"
    if f == "jax":
        return f"jnp.moveaxis({what}, {src}, {dst})"
    return f"np.moveaxis({what}, {src}, {dst})"


def _reshape_like_expr(f: str, what: str = "labels") -> str:
    if f == "tensorflow":
        return f"tf.reshape({what}, tf.shape(logits))"
    if f == "keras":
        return f"keras.ops.reshape({what}, logits.shape)"
    return f"{what}.reshape(logits.shape)"


def _layer_expr(f: str, units: Any) -> str:
    outputs = "1 output" if units == 1 else f"{units} outputs"
    return {
        "torch": f"a last layer with {outputs}, e.g. torch.nn.Linear(in_features, {units})",
        "tensorflow": f"a last layer with {outputs}, e.g. keras.layers.Dense({units})",
        "keras": f"a last layer with {outputs}, e.g. keras.layers.Dense({units})",
        "jax": f"a last layer with {outputs}, e.g. flax.nnx.Linear(in_features, {units}, rngs=rngs)",
    }.get(f, f"a last layer with {outputs}")


def _ignore_hint(f: str, value: int, lk_call: str | None = None) -> str:
    """The fix that leaves elements labelled ``value`` out; ``lk_call``: the labelkit call with it (default:
    ``lk.cross_entropy(logits, labels, ignore_index=value)``, which needs the class axis last)."""
    lk_call = lk_call or f"lk.cross_entropy(logits, labels, ignore_index={value})"
    if f == "torch":
        if value == -100:
            return (f"torch.nn.CrossEntropyLoss() already ignores -100 (its default ignore_index); with labelkit: "
                    f"{lk_call}")
        return f"torch.nn.CrossEntropyLoss(ignore_index={value}), or {lk_call}"
    if f in ("tensorflow", "keras"):
        return f"keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class={value}), or {lk_call}"
    if f == "jax":
        return f"{lk_call} (optax would read {value} as a class counted from the end)"
    return lk_call


def labelkit_call(spec: Spec, logits_ndim: int, ignore_index: int | None = None, labels_expr: str = "labels") -> str:
    """The labelkit call that computes the loss for ``spec``."""
    args = ["logits", labels_expr]
    if spec.task == "multilabel":
        args.append('task="multilabel"')
    if spec.task != "binary" and spec.axis != logits_ndim - 1:
        args.append(f"axis={spec.axis}")
    if ignore_index is not None and spec.label_format == "sparse":
        args.append(f"ignore_index={ignore_index}")
    return f"lk.cross_entropy({', '.join(args)})"


def native_call(
    f: str,
    spec: Spec,
    logits_ndim: int,
    labels_ndim: int,
    labels_dtype: str | None = None,
    *,
    labels_expr: str = "labels",
    ignore_index: int | None = None,
) -> str:
    """The framework's own loss call for ``spec``, with the labels prepared as that loss wants them."""
    name = loss_of(spec)
    kind = dtype_kind(labels_dtype) if labels_dtype else ""
    y, x = labels_expr, "logits"
    last = logits_ndim - 1
    if f == "numpy":
        return labelkit_call(spec, logits_ndim, ignore_index, labels_expr)
    if f == "torch":
        if name == SPARSE:
            if spec.squeeze:
                y = squeeze_expr(f, _ax(spec.axis, labels_ndim), y)
            if labels_dtype and labels_dtype not in ("int64", "uint8"):
                y = _cast_expr(f, "int", y)
            if logits_ndim > 2 and spec.axis != 1:
                x = _moveaxis_expr(f, x, _ax(spec.axis, logits_ndim), 1)
            arg = "" if ignore_index in (None, -100) else f"ignore_index={ignore_index}"
            return f"torch.nn.CrossEntropyLoss({arg})({x}, {y})"
        if name == CATEGORICAL:
            if kind and kind != "f":
                y = _cast_expr(f, "float", y)
            if logits_ndim > 2 and spec.axis != 1:
                x = _moveaxis_expr(f, x, _ax(spec.axis, logits_ndim), 1)
                y = _moveaxis_expr(f, y, _ax(spec.axis, logits_ndim), 1)
            return f"torch.nn.CrossEntropyLoss()({x}, {y})"
        if labels_ndim != logits_ndim:
            y = _reshape_like_expr(f, y)
        if kind and kind != "f":
            y = _cast_expr(f, "float", y)
        return f"torch.nn.BCEWithLogitsLoss()({x}, {y})"
    if f in ("tensorflow", "keras"):
        if name == SPARSE:
            if spec.axis != last:
                x = _moveaxis_expr(f, x, spec.axis, -1)
                if spec.squeeze:
                    y = squeeze_expr(f, spec.axis, y)
            arg = "" if ignore_index is None else f", ignore_class={ignore_index}"
            return f"keras.losses.SparseCategoricalCrossentropy(from_logits=True{arg})({y}, {x})"
        if name == CATEGORICAL:
            arg = "" if spec.axis == last else f", axis={spec.axis}"
            return f"keras.losses.CategoricalCrossentropy(from_logits=True{arg})({y}, {x})"
        return f"keras.losses.BinaryCrossentropy(from_logits=True)({y}, {x})"
    # jax / optax
    arg = "" if spec.task == "binary" or spec.axis == last else f", axis={spec.axis}"
    if name == SPARSE:
        if spec.squeeze:
            y = squeeze_expr(f, _ax(spec.axis, labels_ndim), y)
        if kind and kind not in ("i", "u"):
            y = _cast_expr(f, "int", y)
        return f"optax.softmax_cross_entropy_with_integer_labels({x}, {y}{arg})"
    if name == CATEGORICAL:
        return f"optax.softmax_cross_entropy({x}, {y}{arg})"
    if labels_ndim != logits_ndim:
        y = _reshape_like_expr(f, y)
    return f"optax.sigmoid_binary_cross_entropy({x}, {y})"


def loss_of(spec: Spec) -> str:
    """The loss a ``Spec`` calls for (what ``lk.select_loss`` chooses)."""
    if spec.label_format == "sparse":
        return SPARSE
    if spec.label_format == "dense" and spec.task == "multiclass":
        return CATEGORICAL
    return BINARY


def _native_loss_name(f: str, name: str) -> str:
    if name == DENSE:
        return {"torch": "a loss that needs the logits' shape", "jax": "optax.softmax_cross_entropy"}.get(
            f, "CategoricalCrossentropy or BinaryCrossentropy")
    return {
        "torch": {SPARSE: "torch.nn.CrossEntropyLoss", CATEGORICAL: "torch.nn.CrossEntropyLoss",
                  BINARY: "torch.nn.BCEWithLogitsLoss"},
        "jax": {SPARSE: "optax.softmax_cross_entropy_with_integer_labels", CATEGORICAL: "optax.softmax_cross_entropy",
                BINARY: "optax.sigmoid_binary_cross_entropy"},
        "numpy": {SPARSE: "lk.sparse_categorical_crossentropy", CATEGORICAL: "lk.categorical_crossentropy",
                  BINARY: "lk.binary_crossentropy"},
    }.get(f, {SPARSE: "keras.losses.SparseCategoricalCrossentropy", CATEGORICAL: "keras.losses.CategoricalCrossentropy",
              BINARY: "keras.losses.BinaryCrossentropy"})[name]


# --- the diagnosis --------------------------------------------------------------------------------


@dataclass
class _Ctx:
    f: str
    lshape: Shape
    yshape: Shape
    ldtype: str | None
    ydtype: str | None
    task: str
    axis: int
    ignore_index: int | None
    backend_name: str

    def infer(self, yshape: Shape | None = None, **kw: Any) -> Spec:
        args: dict[str, Any] = {"labels_dtype": self.ydtype, "logits_dtype": self.ldtype, "task": self.task,
                                "axis": self.axis, "backend": self.backend_name}
        args.update(kw)
        return infer_from_shapes(self.lshape, self.yshape if yshape is None else yshape, **args)

    def try_infer(self, yshape: Shape | None = None, **kw: Any) -> Spec | None:
        try:
            return self.infer(yshape, **kw)
        except LabelkitError:
            return None

    def call(self, spec: Spec, labels_expr: str = "labels", labels_ndim: int | None = None) -> str:
        return native_call(self.f, spec, len(self.lshape), len(self.yshape) if labels_ndim is None else labels_ndim,
                           self.ydtype, labels_expr=labels_expr, ignore_index=self.ignore_index)


def _shape_problem(ctx: _Ctx, exc: LabelkitError) -> Problem:
    """A problem from an inference error: the library's message, and the fix in the framework's words."""
    code = error_code(exc)
    message = str(exc)
    f, lshape, yshape = ctx.f, ctx.lshape, ctx.yshape
    ndim = len(lshape) if lshape is not None else 0
    fix = ""
    if code == "wrong_axis":
        for k in range(ndim):
            spec = ctx.try_infer(axis=k) if k != ctx.axis % max(ndim, 1) else None
            if spec is not None:
                fix = ctx.call(spec)
                if f != "numpy":
                    fix += f"  # labelkit: {labelkit_call(spec, ndim, ctx.ignore_index)}"
                break
    elif code == "extra_axis":
        squeezed = squeeze_expr(f, -1)
        spec = ctx.try_infer(yshape[:-1])
        fix = f"{ctx.call(spec, squeezed, len(yshape) - 1)}" if spec is not None else squeezed
    elif code == "class_count_mismatch":
        ax = ctx.axis % ndim
        k = yshape[ax]
        fix = f"Give the model {_layer_expr(f, k)}."
        if lshape[ax] == 1 and k == 2:
            fix += (f" Or keep one sigmoid output and pass the positive column: labels[..., 1] "
                    f"({_native_loss_name(f, BINARY)}).")
    elif code == "batch_mismatch":
        fix = ("Pass the labels of the same batch as the logits: batch the inputs and labels together (same "
               "batch_size and drop_remainder), and do not flatten or repeat the labels.")
    elif code == "ids_for_multilabel":
        fix = "lk.one_hot(labels, like=logits)  # multi-hot rows for a sigmoid per class"
    elif code == "task_mismatch":
        fix = "task='multilabel' (a sigmoid per class), or task='multiclass' (a softmax), or leave task='auto'"
    elif code == "too_few_classes":
        fix = f"task='binary' with one sigmoid output ({_native_loss_name(f, BINARY)}), or leave task='auto'"
    elif code == "single_example":
        fix = "task='multiclass'  # one example's class logits (C,) with a scalar id, e.g. inside jax.vmap"
    elif code == "scalar_logits":
        fix = "logits[None]  # add a batch axis"
    elif code == "unknown_rank":
        fix = "tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None,), tf.int64)])"
    elif code == "axis_out_of_range":
        fix = "axis=-1 (channels-last logits) or axis=1 (channels-first logits)"
    elif code == "labels_dtype":
        fix = _cast_expr(f, "int")
    elif code == "logits_dtype":
        fix = _cast_expr(f, "float", "logits")
    if not fix:
        ax = ctx.axis % ndim if ndim else 0
        batch = tuple(lshape[:ax]) + tuple(lshape[ax + 1 :]) if ndim > 1 else tuple(lshape)
        fix = (f"Labels for these logits have shape {fmt_shape(batch)} (class ids) or {fmt_shape(lshape)} "
               f"(rows): check that the labels belong to these logits.")
    return Problem(code, message, fix)


def _wrong_loss(ctx: _Ctx, spec: Spec, loss: str, want: str) -> Problem:
    f = ctx.f
    given = _native_loss_name(f, loss)
    yfmt = fmt_shape(ctx.yshape)
    what = {SPARSE: f"class ids (shape {yfmt})", CATEGORICAL: f"one-hot or probability rows (shape {yfmt})",
            BINARY: f"one target per logit (shape {yfmt})"}[want]
    if spec.task == "binary":
        what = f"binary targets for one logit per example (logits {fmt_shape(ctx.lshape)})"
    named = f"The loss ({given})" if loss == DENSE else f"{loss} ({given})"
    message = f"{named} expects {_LOSS_WORDS[loss]}, but these labels are {what}: they call for {want}."
    fix = ctx.call(spec)
    if loss in (CATEGORICAL, DENSE) and want == SPARSE:
        message += " A dense loss rejects class ids, or broadcasts them silently into a wrong loss."
        fix += "; or keep the dense loss with lk.one_hot(labels, like=logits)"
    elif loss == SPARSE and want == CATEGORICAL:
        fix += "; or keep the sparse loss with lk.to_sparse(labels)"
    elif loss == BINARY and want == SPARSE:
        fix += "; for a sigmoid per class (multilabel) use lk.one_hot(labels, like=logits)"
        if spec.squeeze:
            fix += f"; if the labels are 0/1 targets, give the model {_layer_expr(f, 1)}"
    elif want == BINARY and spec.task == "binary":
        message += " A softmax over a single logit is always 1, so its loss is always 0."
    if f in ("keras", "tensorflow"):
        fix += "; or, for any label format, model.compile(loss=labelkit.keras.CrossEntropy())"
    return Problem("wrong_loss", message, fix)


def _column_fix(ctx: _Ctx, spec: Spec) -> str:
    f, lnd = ctx.f, len(ctx.lshape)
    if f == "tensorflow" and spec.axis == lnd - 1:
        return (f"tf.nn.sparse_softmax_cross_entropy_with_logits(labels={squeeze_expr(f, -1)}, logits=logits)"
                f"  # keras.losses.SparseCategoricalCrossentropy takes them as they are")
    if f in ("tensorflow", "keras"):
        return f"{ctx.call(spec)}  # takes them as they are; for a dense loss: lk.one_hot(labels, like=logits)"
    return f"{ctx.call(spec)}  # or one-hot rows for a dense loss: lk.one_hot(labels, like=logits)"


def _accuracy_note(ctx: _Ctx, spec: Spec) -> str:
    """The accuracy trap of column labels (issue 15): ``(pred == labels)`` with predictions of the batch
    shape ``B`` broadcasts them against ``labels`` of shape ``B`` with a size-1 axis."""
    b = tuple(d for i, d in enumerate(ctx.lshape) if i != spec.axis)
    if len(b) == 1:
        n = "N" if b[0] is None else str(b[0])
        pair = f"({n},) against ({n}, 1) to ({n}, {n})"
    elif None not in b and None not in ctx.yshape:
        try:
            pair = f"{fmt_shape(b)} against {fmt_shape(ctx.yshape)} to {fmt_shape(np.broadcast_shapes(b, ctx.yshape))}"
        except ValueError:
            return ""
    else:
        pair = f"{fmt_shape(b)} against {fmt_shape(ctx.yshape)}"
    return (f" A hand-written accuracy is silently wrong on them: (logits.argmax({spec.axis}) == labels) broadcasts "
            f"{pair} and compares predictions with the wrong labels; lk.accuracy(logits, labels) reads them as ids.")


def _shape_warnings(ctx: _Ctx, spec: Spec, skip_column: bool) -> list[Problem]:
    f, out = ctx.f, []
    lnd, ynd = len(ctx.lshape), len(ctx.yshape)
    yfmt, lfmt = fmt_shape(ctx.yshape), fmt_shape(ctx.lshape)
    kind = dtype_kind(ctx.ydtype) if ctx.ydtype else ""
    if spec.label_format == "sparse" and spec.squeeze and not skip_column:
        out.append(Problem(
            "column_labels",
            f"labels {yfmt} are class ids with a size-1 axis (column labels) for logits {lfmt}. labelkit and "
            f"keras.losses.SparseCategoricalCrossentropy accept them, but a dense loss does not: Keras' "
            f"CategoricalCrossentropy raises (target.shape={yfmt}, output.shape={lfmt}), "
            f"tf.nn.softmax_cross_entropy_with_logits and optax.softmax_cross_entropy broadcast them silently "
            f"into a wrong loss, and torch.nn.CrossEntropyLoss raises '0D or 1D target tensor expected'."
            + _accuracy_note(ctx, spec),
            _column_fix(ctx, spec),
            "warning",
        ))
    if spec.task == "binary" and ynd != lnd:
        out.append(Problem(
            "binary_labels_shape",
            f"labels {yfmt} hold one binary target per example for logits {lfmt}. labelkit and Keras accept "
            f"this, but torch.nn.BCEWithLogitsLoss and tf.nn.sigmoid_cross_entropy_with_logits need the "
            f"logits' exact shape, and optax.sigmoid_binary_cross_entropy broadcasts it silently to "
            f"{fmt_shape((ctx.lshape[0], ctx.yshape[0]))}.",
            ctx.call(spec) if f in ("torch", "jax") else _reshape_like_expr(f),
            "warning",
        ))
    if spec.label_format == "sparse" and kind == "f":
        out.append(Problem(
            "float_ids",
            f"labels are class ids stored as {ctx.ydtype}. labelkit and Keras accept whole-number floats, but "
            f"torch.nn.CrossEntropyLoss, tf.nn.sparse_softmax_cross_entropy_with_logits and "
            f"optax.softmax_cross_entropy_with_integer_labels need an integer dtype.",
            _cast_expr(f, "int"),
            "warning",
        ))
    if f == "torch" and ctx.ydtype:
        if spec.label_format == "sparse" and ctx.ydtype not in ("int64", "uint8") and kind in ("i", "u", "b"):
            out.append(Problem(
                "labels_dtype",
                f"labels are class ids of dtype {ctx.ydtype}; torch.nn.CrossEntropyLoss needs int64 ('expected "
                f"target dtype to be Long or Byte').",
                _cast_expr(f, "int"),
                "warning",
            ))
        elif spec.label_format != "sparse" and kind in ("i", "u", "b"):
            out.append(Problem(
                "labels_dtype",
                f"labels are {ctx.ydtype} rows; torch's {_native_loss_name(f, loss_of(spec))} needs float targets "
                f"of the logits' dtype.",
                _cast_expr(f, "float"),
                "warning",
            ))
    if ctx.ldtype and dtype_kind(ctx.ldtype) in ("i", "u", "b"):
        swapped = " Did you swap logits and labels?" if kind == "f" else ""
        out.append(Problem(
            "logits_dtype",
            f"logits have dtype {ctx.ldtype}; expected floats (the model's raw outputs).{swapped}",
            _cast_expr(f, "float", "logits") if not swapped else "lk.diagnose(logits, labels)  # logits first",
            "warning",
        ))
    return out


def _unknown_width(ctx: _Ctx, spec: Spec) -> Problem:
    """Labels whose size at the class axis is unknown (SPEC "Inference", rule 6): read when the graph runs
    on TensorFlow, refused at trace time by every other framework. An error in the words of a framework
    that refuses them (PyTorch, JAX), else a warning."""
    f, yfmt, lfmt = ctx.f, fmt_shape(ctx.yshape), fmt_shape(ctx.lshape)
    ax = spec.axis
    c = spec.num_classes
    c_txt = "C" if c is None else str(c)
    if spec.task == "multiclass":
        read = (f"class ids where it is 1, one-hot/probability rows where it is {c_txt}, an error otherwise; "
                f"so no one loss can be named for them: a sparse loss fails on rows, a dense one on ids")
    elif spec.task == "binary":
        read = "binary targets, checked to be 1 wide"
    else:
        read = f"multi-hot rows, checked to be {c_txt} wide"
    message = (f"labels {yfmt} have an unknown size on the class axis {ax} for logits {lfmt}. On TensorFlow "
               f"(and Keras on TensorFlow) labelkit reads it when the graph runs: {read}. Elsewhere (PyTorch, "
               f"JAX) it must be static: labelkit raises a ShapeMismatchError at trace time.")
    batch = list(ctx.yshape)
    ids_shape = fmt_shape(tuple(batch[:ax] + batch[ax + 1:]))
    rows_shape = fmt_shape(tuple(batch[:ax] + [c] + batch[ax + 1:]))
    if f in ("tensorflow", "keras", "numpy"):
        if spec.task == "binary":
            example = f"tf.TensorSpec({ids_shape}, tf.float32)"
        elif spec.task == "multilabel":
            example = f"tf.TensorSpec({rows_shape}, tf.float32)"
        else:
            example = f"tf.TensorSpec({ids_shape}, tf.int64) (class ids) or {rows_shape} (rows)"
        fix = f"Give the labels a static shape, e.g. {example} in the input_signature (or the dataset's element_spec)."
    else:
        shapes = {"binary": ids_shape, "multilabel": rows_shape}.get(spec.task, f"{ids_shape} (class ids) or "
                                                                                  f"{rows_shape} (rows)")
        fix = f"Give the labels a static shape, e.g. {shapes}, when tracing or exporting."
    return Problem("unknown_label_width", message, fix, "error" if f in ("torch", "jax") else "warning")


def _value_problem(ctx: _Ctx, spec: Spec, item: dict[str, Any]) -> Problem:
    f, code, msg = ctx.f, item["code"], item["message"]
    ax = _ax(spec.axis, len(ctx.lshape))
    fix = ""
    if code == "id_out_of_range":
        v, lo, hi, c = item["value"], item["lo"], item["hi"], item["num_classes"]
        if v < 0 or item.get("ignore_like"):
            fix = _ignore_hint(f, v, labelkit_call(spec, len(ctx.lshape), v))
            if v >= 0:
                fix += f"  # {v} marks pixels/elements to ignore; if it is a real class, give the model {v + 1} outputs"
        elif lo >= 1 and hi == c:
            fix = "labels - 1  # the ids start at 1"
        else:
            fix = f"Give the model {_layer_expr(f, hi + 1)}, or check that the labels belong to this dataset."
    elif code == "non_integral_ids":
        fix = {"torch": "labels.round().long()", "tensorflow": "tf.cast(tf.round(labels), tf.int64)",
               "keras": "keras.ops.cast(keras.ops.round(labels), 'int32')",
               "jax": "jnp.round(labels).astype(jnp.int32)"}.get(f, "np.round(labels).astype(np.int64)")
        fix += "  # or soft labels as probability rows of the logits' shape"
    elif code == "label_not_finite":
        fn = {"torch": "torch.isfinite", "tensorflow": "tf.math.is_finite", "keras": "keras.ops.isfinite",
              "jax": "jnp.isfinite"}.get(f, "np.isfinite")
        fix = f"keep = {fn}(labels)  # then drop or mask those elements before the loss"
    elif code == "negative_rows":
        fix = {"torch": f"labels.softmax({ax})", "tensorflow": f"tf.nn.softmax(labels, axis={ax})",
               "keras": f"keras.ops.softmax(labels, axis={ax})", "jax": f"jax.nn.softmax(labels, axis={ax})"}.get(
            f, f"np.exp(labels) / np.exp(labels).sum({ax}, keepdims=True)")
        fix += "  # if the labels are logits"
    elif code == "not_one_hot":
        ml = replace(spec, task="multilabel")
        fix = f"{ctx.call(ml)}  # several classes per example: task='multilabel'"
        if f != "numpy":
            fix += f"; labelkit: {labelkit_call(ml, len(ctx.lshape))}"
    elif code == "zero_row":
        fix = {"torch": f"keep = labels.sum({ax}) > 0", "tensorflow": f"keep = tf.reduce_sum(labels, axis={ax}) > 0",
               "keras": f"keep = keras.ops.sum(labels, axis={ax}) > 0"}.get(f, f"keep = labels.sum({ax}) > 0")
        fix += "  # mask the padding rows, or pass sparse ids with ignore_index"
    elif code == "probs_not_normalised":
        fix = {"torch": f"labels / labels.sum({ax}, keepdim=True)",
               "tensorflow": f"labels / tf.reduce_sum(labels, axis={ax}, keepdims=True)",
               "keras": f"labels / keras.ops.sum(labels, axis={ax}, keepdims=True)"}.get(
            f, f"labels / labels.sum({ax}, keepdims=True)")
    elif code == "target_out_of_range":
        if spec.task == "binary":
            fix = f"For class ids give the model {_layer_expr(f, 'num_classes')} and a softmax loss."
        else:
            fix = "Multi-hot rows hold 0/1 per class: lk.one_hot(class_ids, like=logits) builds them from ids."
    return Problem(code, msg, fix or "Fix the labels' values.")


def _nonfinite_logits(b: Backend, logits: Any, f: str) -> Problem | None:
    finite = b.isfinite(logits)
    if b.to_bool(b.any(~finite)):
        arr = b.to_numpy(logits)
        bad = ~np.isfinite(arr)
        idx = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
        where = f"logits[{', '.join(map(str, idx))}]" if idx else "logits"
        n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        fix = {"torch": "torch.autograd.set_detect_anomaly(True)  # find the op that makes them",
               "tensorflow": "tf.debugging.enable_check_numerics()  # find the op that makes them",
               "keras": "tf.debugging.enable_check_numerics(), or keras.callbacks.TerminateOnNaN()",
               "jax": "jax.config.update('jax_debug_nans', True)  # find the op that makes them"}.get(
            f, "np.seterr(all='raise')  # find the operation that makes them")
        return Problem(
            "logits_not_finite",
            f"{where} is {arr[idx] if idx else arr[()]}: the logits hold {n_nan} NaN and {n_inf} Inf values. This "
            f"is not a label error, but the loss will be NaN (a -inf logit is fine where the target is 0). "
            f"Usual causes: a too-high learning rate, NaN in the inputs, or log(softmax) instead of from_logits=True.",
            fix,
            "warning",
        )
    return None


@held  # never raises on user data: an earlier call's device-side verdict waits for the next call
def diagnose(
    logits: Any,
    labels: Any,
    *,
    task: Task = "auto",
    axis: int = -1,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    loss: str | None = None,
    framework: str | None = None,
    logits_dtype: Any = None,
    labels_dtype: Any = None,
) -> Diagnosis:
    """Every problem with a pair of logits and labels, each with the fix for your framework.

    Never raises on user data: shapes that do not fit, invalid values, mixed frameworks and non-arrays
    are all reported as problems. Shapes and dtypes are always diagnosed; values are checked when
    the arrays are concrete (not while tracing).

    Args:
      logits: float array of shape ``(*S, C)`` of any backend, or just its shape, e.g. ``(None, 1000)``
        (a tuple of ints and ``None``; ``torch.Size`` and ``tf.TensorShape`` work too).
      labels: labels in any format, as an array or just a shape, e.g. ``(None, 1)``.
      task: ``"auto"``, ``"multiclass"``, ``"binary"`` or ``"multilabel"`` (see ``lk.infer``).
      axis: the logits' class axis.
      ignore_index: a sparse id that marks elements to leave out.
      num_classes: the number of classes, when the logits' class axis is unknown (``None``).
      loss: the loss you use, if you want it checked: ``"sparse_categorical_crossentropy"``,
        ``"categorical_crossentropy"`` or ``"binary_crossentropy"``.
      framework: whose words the fixes use (``"torch"``, ``"tensorflow"``, ``"keras"``, ``"jax"``,
        ``"numpy"``); default: the arrays' framework, else NumPy/labelkit calls.
      logits_dtype: the logits' dtype when only a shape is given (e.g. ``"float32"``).
      labels_dtype: the labels' dtype when only a shape is given (e.g. ``"int64"``).

    Returns:
      A ``Diagnosis``: ``.ok``, ``.spec``, ``.problems`` (each with ``code``, ``message``, ``fix``),
      ``.loss``, ``.native_call``; ``str()`` is a readable report, ``.to_dict()`` is JSON-ready.

    Raises:
      ArgumentError: a keyword argument is invalid (an unknown ``task``, ``loss`` or ``framework``).

    >>> import labelkit as lk
    >>> d = lk.diagnose((None, 1000), (None, 1), labels_dtype="int64", framework="keras",
    ...                 loss="categorical_crossentropy")
    >>> d.ok, d.codes
    (False, ('wrong_loss',))
    >>> print(d.problems[0].fix)  # doctest: +NORMALIZE_WHITESPACE
    keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits);
    or keep the dense loss with lk.one_hot(labels, like=logits);
    or, for any label format, model.compile(loss=labelkit.keras.CrossEntropy())
    >>> import numpy as np
    >>> lk.diagnose(np.zeros((3, 5)), np.array([1, 5, 5])).problems[0].fix
    'labels - 1  # the ids start at 1'
    """
    check_task(task)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ArgumentError(f"axis: expected an int, got {type(axis).__name__}. Pass e.g. axis=-1 or axis=1.")
    axis = int(axis)
    ignore_index = validate_ignore_index(ignore_index)
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 1):
        raise ArgumentError(f"num_classes: expected a positive int or None, got {num_classes!r}.")
    num_classes = None if num_classes is None else int(num_classes)
    loss = _loss_arg(loss)
    ldt, ydt = _dtype_arg("logits_dtype", logits_dtype), _dtype_arg("labels_dtype", labels_dtype)

    read = [_read(logits, "logits", ldt), _read(labels, "labels", ydt)]
    bad = [r for r in read if isinstance(r, Problem)]
    inputs = [r for r in read if isinstance(r, _Input)]
    f = _framework_arg(framework, inputs)
    if bad:
        return Diagnosis(None, tuple(bad), framework=f)
    lin, yin = inputs
    problems: list[Problem] = []
    backends = {i.backend.name for i in inputs if i.backend is not None and i.backend.name != "numpy"}
    if len(backends) > 1:
        problems.append(Problem(
            "mixed_frameworks",
            f"logits are a {lin.backend.name} array but labels are a {yin.backend.name} array; one call "  # type: ignore[union-attr]
            f"takes one framework.",
            f"Convert the labels to {lin.backend.name} first (or pass them as a NumPy array).",  # type: ignore[union-attr]
        ))
    concrete = lin.backend is not None and yin.backend is not None and len(backends) <= 1
    base = Diagnosis(None, (), lin.shape, yin.shape, lin.dtype, yin.dtype, f)
    if lin.shape is None or yin.shape is None:
        which = "logits" if lin.shape is None else "labels"
        problems.append(Problem(
            "unknown_rank", f"{which}: the rank is unknown; labelkit needs at least the rank to diagnose.",
            "Give the shape, e.g. (None, 1000), or a tf.function input_signature with one."))
        return replace(base, problems=tuple(problems))
    backend_name = "none"
    if concrete:
        backend_name = backends.pop() if backends else "numpy"
    ctx = _Ctx(f, tuple(lin.shape), tuple(yin.shape), lin.dtype, yin.dtype, task, axis, ignore_index, backend_name)

    # Inference, with the loss the user named as a hint: a sigmoid loss on C > 1 logits is multilabel.
    spec: Spec | None = None
    try:
        if (loss == BINARY and task == "auto" and len(ctx.lshape) >= 2
                and ctx.lshape[axis % len(ctx.lshape)] not in (1,)):
            spec = ctx.try_infer(task="multilabel")
        if spec is None:
            spec = ctx.infer()
    except LabelkitError as exc:
        problems.append(_shape_problem(ctx, exc))
    if spec is not None and num_classes is not None:
        if spec.num_classes is None:
            spec = replace(spec, num_classes=num_classes)
        elif spec.task != "binary" and num_classes != spec.num_classes:
            problems.append(Problem(
                "num_classes_mismatch",
                f"num_classes={num_classes} but the logits have {spec.num_classes} classes on axis {spec.axis}.",
                f"Drop num_classes, or give the model {_layer_expr(f, num_classes)}.",
            ))
    if spec is None:
        return replace(base, problems=_ordered(problems))

    # Labels of unknown width (rule 6) whose width decides ids or rows: no one loss can be named.
    either = spec.deferred and spec.task == "multiclass"
    if spec.deferred:
        problems.append(_unknown_width(ctx, spec))
    want = None if either else _select_loss_name(spec, lin, yin, concrete)
    if want is None:
        wrong = False
    elif loss == DENSE:
        wrong = spec.label_format == "sparse" or len(ctx.yshape) != len(ctx.lshape)
    else:
        wrong = loss is not None and loss != want
    if wrong:
        problems.append(_wrong_loss(ctx, spec, loss, want))  # type: ignore[arg-type]
    found: list[dict[str, Any]] = []
    values_checked = False
    logits_problem = None
    if concrete:
        try:
            b, arrs = resolve({"logits": lin.array, "labels": yin.array}, "logits")
            x, y = arrs["logits"], arrs["labels"]
            if not (b.is_tracing(x) or b.is_tracing(y)):
                if spec.squeeze and spec.label_format in ("sparse", "binary"):
                    y = b.squeeze(y, spec.axis)
                check_labels(b, spec, y, mode="eager", ignore_index=ignore_index, num_classes=num_classes,
                             found=found)
                if dtype_kind(b.dtype_name(x)) == "f":
                    logits_problem = _nonfinite_logits(b, x, f)
                values_checked = True
        except Exception as exc:  # diagnosis never raises on user data
            if isinstance(exc, LabelValueError):  # the values cannot be converted as they are: an error
                problems.append(Problem("labels_overflow", str(exc),
                                        "jax.config.update('jax_enable_x64', True), or labels within int32"))
            else:
                problems.append(Problem("values_unchecked", f"the values could not be checked: {exc}",
                                        "lk.validate(logits, labels) shows the error in full.", "warning"))
    problems.extend(_value_problem(ctx, spec, item) for item in found)
    non_integral = any(item["code"] == "non_integral_ids" for item in found)
    for p in _shape_warnings(ctx, spec, skip_column=wrong):
        # Of labels that may be ids or rows, nothing can be said that depends on which they are.
        if not (p.code == "float_ids" and non_integral) and not (either and p.code != "logits_dtype"):
            problems.append(p)
    if logits_problem is not None:
        problems.append(logits_problem)
    return replace(
        base,
        spec=spec,
        problems=_ordered(problems),
        loss=want,
        native_call=None if want is None else ctx.call(spec),
        labelkit_call=labelkit_call(spec, len(ctx.lshape), ignore_index),
        values_checked=values_checked,
    )


def _ordered(problems: list[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted(problems, key=lambda p: p.severity != "error"))


def _select_loss_name(spec: Spec, lin: _Input, yin: _Input, concrete: bool) -> str:
    """``lk.select_loss(...).name`` for arrays; the same mapping from the Spec for shapes."""
    if concrete:
        try:
            from labelkit._losses import select_loss

            return select_loss(lin.array, yin.array, task=spec.task, axis=spec.axis).name
        except Exception:  # e.g. the values are traced in a way select_loss refuses: the Spec decides
            pass
    return loss_of(spec)
