"""``lk.explain``: read a framework's label/shape error message and diagnose it.

The patterns below were written against real messages, collected by running PyTorch, TensorFlow,
Keras 3 (TensorFlow, JAX and PyTorch backends), JAX and optax with wrong labels
(``tests/data/collect_native_errors.py`` regenerates them; ``tests/data/native_errors.json`` keeps
them). Where a message names the shapes, they are read out and diagnosed by ``lk.diagnose`` — with the
loss and class-axis convention the message implies — so an explanation is exactly the diagnosis
those shapes get. Where it names none, the usual cause and fix are given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple, cast

import numpy as np

from labelkit._checks import IGNORE_VALUES
from labelkit._diagnose import BINARY, CATEGORICAL, SPARSE, Diagnosis, Problem, diagnose, squeeze_expr
from labelkit._spec import Task, fmt_shape

__all__ = ["explain", "parse_shape"]

Shape = tuple[Any, ...]

_DIM = r"(?:\d+|None|\?|-1)"
# (32, 1), (None,), [32, 1000], torch.Size([32, 1]), TensorShape([32, 1]), ()
SHAPE = (
    r"(?:torch\.Size\(|TensorShape\()?"
    r"[(\[]\s*(?:" + _DIM + r"\s*(?:,\s*" + _DIM + r"\s*)*,?\s*)?[)\]]\)?"
)
_BARE = r"\s*\d+(?:\s*,\s*\d+)*\s*"  # 32,1000 inside TF's logits_size=[...]; "10 0" is no number (a wrapped 100)


def parse_shape(text: str) -> Shape:
    """A shape from its printed form: ``"(None, 1000)"``, ``"torch.Size([32, 1])"``, ``"[32,10]"``.

    >>> parse_shape("torch.Size([32, 1])"), parse_shape("(None, 1000)"), parse_shape("(32,)")
    ((32, 1), (None, 1000), (32,))
    """
    dims = re.findall(_DIM, text.replace("torch.Size", "").replace("TensorShape", ""))
    return tuple(None if d in ("None", "?", "-1") else int(d) for d in dims)


def _fw_words(f: str) -> str:
    return {"torch": "PyTorch", "tensorflow": "TensorFlow", "keras": "Keras", "jax": "JAX/optax"}.get(f, f)


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    return line if len(line) <= 200 else line[:197] + "..."


def _from_shapes(
    text: str, what: str, f: str, logits: Shape, labels: Shape, *, loss: str | None = None, axis: int = -1,
    labels_dtype: str | None = None,
) -> Diagnosis:
    """Diagnoses the shapes a native error named; every problem is an error, since the native call failed."""
    d = diagnose(logits, labels, loss=loss, axis=axis, framework=f, labels_dtype=labels_dtype)
    problems = tuple(replace(p, severity="error") for p in d.problems)
    if not problems:
        problems = (Problem(
            "native_rejects",
            f"labelkit accepts labels {fmt_shape(labels)} for logits {fmt_shape(logits)}, but the native loss "
            f"did not: it needs them in its own layout.",
            f"{d.native_call}  # or, any label format: {d.labelkit_call}",
        ),)
    return replace(d, problems=problems, source=f"{_fw_words(f)}: {what}", message=_first_line(text))


def _plain(text: str, what: str, f: str, code: str, message: str, fix: str) -> Diagnosis:
    """A diagnosis from a message that names no shapes: its usual cause and fix."""
    return Diagnosis(None, (Problem(code, message, fix),), framework=f, source=f"{_fw_words(f)}: {what}",
                     message=_first_line(text))


def _out_of_range(text: str, what: str, f: str, value: int, num_classes: int | None,
                  values: list[int] | None = None) -> Diagnosis:
    """Ids out of range: the library's own value check on the ids the message lists, when it lists C."""
    if not values and value in IGNORE_VALUES and value >= 0:
        num_classes = None  # one id alone cannot tell a mask's ignore value from a class: both readings below
    ids_list = values if values else [value]
    # The numbers come from a message: a C or an id beyond int64, or more ids x C than a batch could hold,
    # gets the plain explanation (no array of that size is built; the logits are a zero-stride view).
    fits = all(-(2**63) <= v < 2**63 for v in ids_list)
    if num_classes is not None and fits and 0 < num_classes and len(ids_list) * num_classes <= 2**24:
        ids = np.asarray(ids_list, dtype=np.int64)
        logits = np.broadcast_to(np.zeros((), np.float32), (ids.size, num_classes))
        d = diagnose(logits, ids, framework=f)
        problems = tuple(replace(p, severity="error") for p in d.problems if p.code == "id_out_of_range")
        if problems:
            return Diagnosis(None, problems, (None, num_classes), (None,), None, None, f, SPARSE,
                             source=f"{_fw_words(f)}: {what}", message=_first_line(text))
    if value < 0:
        from labelkit._diagnose import _ignore_hint

        message = (f"a label is {value}: class ids must lie in 0..C-1, and negative ids are never valid "
                   f"classes. If {value} marks padding, leave it out of the loss.")
        return _plain(text, what, f, "id_out_of_range", message, _ignore_hint(f, value))
    if value in IGNORE_VALUES:
        from labelkit._diagnose import _ignore_hint

        message = (f"a label is {value}, but the logits have fewer than {value + 1} classes: class ids must lie in "
                   f"0..C-1. {value} is the usual 'ignore' value of segmentation masks (PASCAL VOC, Cityscapes): "
                   f"if it marks pixels to ignore, leave them out of the loss. lk.validate(logits, labels) names "
                   f"the first bad id.")
        return _plain(text, what, f, "id_out_of_range", message,
                      f"{_ignore_hint(f, value)}  # if {value} marks pixels to ignore; else give the model at least "
                      f"{value + 1} outputs")
    message = (f"a label is {value}, but the logits have fewer than {value + 1} classes: class ids must lie "
               f"in 0..C-1. If the ids run 1..C they start at 1; otherwise the model has too few outputs "
               f"or the labels belong to another dataset. lk.validate(logits, labels) names the first bad id.")
    return _plain(text, what, f, "id_out_of_range", message,
                  f"labels - 1  # if the ids run 1..C; else give the model at least {value + 1} outputs")


# --- the patterns ---------------------------------------------------------------------------------

Handler = Callable[[str, "re.Match[str]"], Diagnosis]
_PATTERNS: list[tuple[str, str, Handler]] = []
_FALLBACKS: list[tuple[str, str, Handler]] = []  # tried only when no pattern matches any reading of the text


def _pattern(regex: str, fallback: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        (_FALLBACKS if fallback else _PATTERNS).append((regex, fn.__name__, fn))
        return fn

    return register


# Keras 3 ------------------------------------------------------------------------------------------


@_pattern(r"Arguments `target` and `output` must have the same shape up until the last dimension: "
          r"target\.shape=(?P<labels>" + SHAPE + r"), output\.shape=(?P<logits>" + SHAPE + r")")
def _keras_sparse_shape(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "sparse_categorical_crossentropy: target and output shapes differ", "keras",
                        parse_shape(m["logits"]), parse_shape(m["labels"]), loss=SPARSE)


@_pattern(r"Argument `output` must have rank \(ndim\) `target\.ndim - 1`\. Received: "
          r"target\.shape=(?P<labels>" + SHAPE + r"), output\.shape=(?P<logits>" + SHAPE + r")")
def _keras_sparse_rank(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "sparse_categorical_crossentropy: the target's rank is not the output's - 1",
                        "keras", parse_shape(m["logits"]), parse_shape(m["labels"]), loss=SPARSE)


@_pattern(r"Arguments `target` and `output` must have the same shape\.\s*Received: "
          r"target\.shape=(?P<labels>" + SHAPE + r"), output\.shape=(?P<logits>" + SHAPE + r")")
def _keras_same_shape(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "a loss that needs target and output of the same shape (CategoricalCrossentropy, "
                        "BinaryCrossentropy)", "keras", parse_shape(m["logits"]), parse_shape(m["labels"]),
                        loss="dense")


@_pattern(r"Only axis=-1 is (?:currently )?supported(?:\. Received: axis=(?P<axis>-?\d+))?")
def _keras_axis(text: str, m: re.Match[str]) -> Diagnosis:
    k = m["axis"] or "1"
    return _plain(
        text, "SparseCategoricalCrossentropy with a class axis other than -1", "keras", "wrong_axis",
        f"keras.losses.SparseCategoricalCrossentropy only takes the class axis last, and axis={k} was given "
        f"(channels-first logits such as (N, C, H, W)).",
        f"keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, keras.ops.moveaxis(logits, {k}, -1))"
        f"  # or lk.cross_entropy(logits, labels, axis={k})",
    )


@_pattern(r"Shapes (?P<labels>" + SHAPE + r") and (?P<logits>" + SHAPE + r") are incompatible")
def _keras2_incompatible(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "target and output shapes are incompatible (Keras 2 losses check "
                        "target.shape against output.shape)", "keras", parse_shape(m["logits"]),
                        parse_shape(m["labels"]), loss="dense")


# TensorFlow ---------------------------------------------------------------------------------------


@_pattern(r"`labels\.shape\.rank` must equal `logits\.shape\.rank - 1`\. Received: labels\.shape="
          r"(?P<labels>" + SHAPE + r") of rank \d+ and logits\.shape=(?P<logits>" + SHAPE + r")")
def _tf_sparse_rank(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "sparse_softmax_cross_entropy_with_logits: the labels' rank is not the logits' - 1",
                        "tensorflow", parse_shape(m["logits"]), parse_shape(m["labels"]), loss=SPARSE)


@_pattern(r"`labels\.shape` must equal `logits\.shape` except for the last dimension\. Received: "
          r"labels\.shape=(?P<labels>" + SHAPE + r") and logits\.shape=(?P<logits>" + SHAPE + r")")
def _tf_sparse_shape(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "sparse_softmax_cross_entropy_with_logits: label and logit shapes differ",
                        "tensorflow", parse_shape(m["logits"]), parse_shape(m["labels"]), loss=SPARSE)


@_pattern(r"Received a label value of (?P<value>-?\d+) which is outside the valid range of "
          r"\[0, (?P<c>\d+)\)\.?(?:\s+Label values:(?P<values>(?:\s+-?\d+)+))?")
def _tf_label_value(text: str, m: re.Match[str]) -> Diagnosis:
    # Only a list read whole: one wrapped across lines may have a number cut in two (255 -> 25, 5).
    whole = m["values"] and "\n" not in m["values"].strip() and m.re not in _FLEXIBLE
    values = [int(v) for v in m["values"].split()] if whole else None
    return _out_of_range(text, "a sparse label outside [0, C)", "tensorflow", int(m["value"]), int(m["c"]), values)


@_pattern(r"Value for attr 'Tlabels' of (?P<dtype>\w+) is not in the list of allowed values")
def _tf_label_dtype(text: str, m: re.Match[str]) -> Diagnosis:
    dtype = m["dtype"]
    code = "float_ids" if dtype in ("float", "double", "half", "bfloat16") else "labels_dtype"
    return _plain(
        text, "sparse_softmax_cross_entropy_with_logits with non-integer labels", "tensorflow", code,
        f"tf.nn.sparse_softmax_cross_entropy_with_logits takes class ids as int32 or int64; these labels "
        f"are {dtype}. (Float rows of the logits' shape belong to tf.nn.softmax_cross_entropy_with_logits.)",
        "tf.cast(labels, tf.int64)  # keras.losses.SparseCategoricalCrossentropy and lk.cross_entropy cast for you",
    )


@_pattern(r"logits and labels must be (?:broadcastable|same size): logits_size=\[(?P<logits>" + _BARE
          + r")\] labels_size=\[(?P<labels>" + _BARE + r")\]")
def _tf_dense_size(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "softmax_cross_entropy_with_logits: label and logit sizes differ", "tensorflow",
                        parse_shape(f"({m['logits']})"), parse_shape(f"({m['labels']})"), loss=CATEGORICAL)


@_pattern(r"`?logits`? and `?labels`? must have the same shape,? (?:received )?\((?P<logits>" + SHAPE
          + r") vs (?P<labels>" + SHAPE + r")\)")
def _tf_sigmoid_shape(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "sigmoid_cross_entropy_with_logits: label and logit shapes differ", "tensorflow",
                        parse_shape(m["logits"]), parse_shape(m["labels"]), loss=BINARY)


# PyTorch ------------------------------------------------------------------------------------------


@_pattern(r"0D or 1D target tensor expected, multi-target not supported")
def _torch_target_rank(text: str, m: re.Match[str]) -> Diagnosis:
    return _plain(
        text, "CrossEntropyLoss/nll_loss got 2-D targets for 2-D logits", "torch", "column_labels",
        "torch.nn.CrossEntropyLoss (and F.nll_loss) takes class ids of shape (N,) for logits (N, C), or "
        "float probability rows of exactly (N, C). These targets are 2-D but not (N, C): usually column "
        "labels of shape (N, 1), i.e. class ids with an extra axis (or rows of another width than C).",
        "torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1))"
        "  # lk.cross_entropy(logits, labels) takes (N, 1) as it is",
    )


@_pattern(r"Expected input batch_size \((?P<n>\d+)\) to match target batch_size \((?P<m>\d+)\)")
def _torch_batch(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "CrossEntropyLoss: input and target batch sizes differ", "torch",
                        (int(m["n"]), None), (int(m["m"]),), loss=SPARSE, axis=1)


@_pattern(r"expected (?:target dtype to be Long or Byte, but got|scalar type Long but found) (?P<dtype>\w+)")
def _torch_target_dtype(text: str, m: re.Match[str]) -> Diagnosis:
    dtype = m["dtype"]
    floating = dtype in ("Float", "Double", "Half", "BFloat16")
    return _plain(
        text, f"CrossEntropyLoss with {dtype} class ids", "torch", "float_ids" if floating else "labels_dtype",
        f"torch.nn.CrossEntropyLoss takes class ids as int64 (Long); these are {dtype}."
        + (" (Float targets are read as probability rows only when they have the logits' exact shape.)"
           if floating else ""),
        "torch.nn.CrossEntropyLoss()(logits, labels.long())",
    )


@_pattern(r"Target (?P<value>-?\d+) is out of bounds")
def _torch_out_of_bounds(text: str, m: re.Match[str]) -> Diagnosis:
    return _out_of_range(text, "a class id outside [0, C)", "torch", int(m["value"]), None)


@_pattern(r"device-side assert triggered|t >= 0 && t < n_classes|cur_target >= 0 && cur_target < n_classes")
def _torch_cuda_assert(text: str, m: re.Match[str]) -> Diagnosis:
    return _plain(
        text, "a CUDA device-side assert (in a loss, usually a class id outside [0, C))", "torch",
        "id_out_of_range",
        "On CUDA, a class id outside 0..C-1 (or a negative id other than ignore_index) stops the kernel with "
        "a device-side assert that does not name the id. The same call on CPU raises 'Target N is out of "
        "bounds'.",
        "lk.validate(logits, labels)  # names the first bad id and its position; or rerun with CUDA_LAUNCH_BLOCKING=1",
    )


@_pattern(r"Expected floating point type for target with class probabilities, got (?P<dtype>\w+)")
def _torch_prob_dtype(text: str, m: re.Match[str]) -> Diagnosis:
    return _plain(
        text, "CrossEntropyLoss got integer targets of the logits' shape", "torch", "labels_dtype",
        f"torch.nn.CrossEntropyLoss reads targets of the logits' shape as class probabilities, which must be "
        f"float; these are {m['dtype']} (integer one-hot rows, usually).",
        "torch.nn.CrossEntropyLoss()(logits, labels.float())  # or class ids: labels.argmax(1)",
    )


@_pattern(r"size mismatch \(got input: \[(?P<logits>" + _BARE + r")\]\s*, target: \[(?P<labels>" + _BARE + r")\]")
def _torch_size_mismatch(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "CrossEntropyLoss: the target does not fit the input (class axis at dim 1)", "torch",
                        parse_shape(f"({m['logits']})"), parse_shape(f"({m['labels']})"), loss=SPARSE, axis=1)


@_pattern(r"Expected target size \[(?P<expected>" + _BARE + r")\], got \[(?P<labels>" + _BARE + r")\]")
def _torch_target_size(text: str, m: re.Match[str]) -> Diagnosis:
    expected = parse_shape(f"({m['expected']})")
    logits = (expected[0], None, *expected[1:])  # torch's input is (N, C, d1, ...); C is not printed
    return _from_shapes(text, "CrossEntropyLoss: the target does not fit the input (class axis at dim 1)", "torch",
                        logits, parse_shape(f"({m['labels']})"), loss=SPARSE, axis=1)


@_pattern(r"Target size \((?P<labels>" + SHAPE + r")\) must be the same as input size \((?P<logits>" + SHAPE + r")\)")
def _torch_bce_size(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "BCEWithLogitsLoss: target and input shapes differ", "torch",
                        parse_shape(m["logits"]), parse_shape(m["labels"]), loss=BINARY)


@_pattern(r"Using a target size \((?P<labels>" + SHAPE + r")\) that is different to the input size \((?P<logits>"
          + SHAPE + r")\)")
def _torch_bce_deprecated(text: str, m: re.Match[str]) -> Diagnosis:
    return _from_shapes(text, "binary_cross_entropy: target and input shapes differ", "torch",
                        parse_shape(m["logits"]), parse_shape(m["labels"]), loss=BINARY)


@_pattern(r"result type Float can't be cast to the desired output type (?P<dtype>\w+)")
def _torch_bce_dtype(text: str, m: re.Match[str]) -> Diagnosis:
    return _plain(
        text, "BCEWithLogitsLoss with integer targets", "torch", "labels_dtype",
        f"torch.nn.BCEWithLogitsLoss (and BCELoss) takes float targets of the logits' shape; these are "
        f"{m['dtype']}.",
        "torch.nn.BCEWithLogitsLoss()(logits, labels.float())",
    )


@_pattern(r"Class values must be (?P<what>smaller than num_classes|non-negative)")
def _torch_one_hot(text: str, m: re.Match[str]) -> Diagnosis:
    negative = m["what"] == "non-negative"
    return _plain(
        text, "F.one_hot with an id outside [0, num_classes)", "torch", "id_out_of_range",
        "torch.nn.functional.one_hot got a class id "
        + ("below 0" if negative else "≥ num_classes")
        + "; it does not say which. Ids must lie in 0..num_classes-1"
        + (" (a negative id usually marks padding)." if negative else "; if they run 1..C they start at 1."),
        "lk.one_hot(labels, like=logits)  # names the first bad id; with ignore_index=... padding ids give zero rows",
    )


# JAX / optax --------------------------------------------------------------------------------------


@_pattern(r"indices and arr must have the same number of dimensions; (?P<a>\d+) vs\. (?P<b>\d+)")
def _jax_take_rank(text: str, m: re.Match[str]) -> Diagnosis:
    labels_rank, logits_rank = int(m["a"]) - 1, int(m["b"])  # optax gathers at labels[..., None]
    what = "softmax_cross_entropy_with_integer_labels: the labels' rank is not the logits' - 1"
    if labels_rank == logits_rank:
        return _plain(
            text, what, "jax", "column_labels",
            f"optax.softmax_cross_entropy_with_integer_labels takes class ids of shape logits.shape[:-1] "
            f"(rank {logits_rank - 1}); these labels have the logits' rank {logits_rank}: usually column labels "
            f"(..., 1), i.e. ids with an extra axis (or one-hot rows, which belong to optax.softmax_cross_entropy).",
            f"optax.softmax_cross_entropy_with_integer_labels(logits, {squeeze_expr('jax', -1)})"
            f"  # one-hot rows: optax.softmax_cross_entropy(logits, labels)",
        )
    return _plain(
        text, what, "jax", "rank_mismatch",
        f"optax.softmax_cross_entropy_with_integer_labels takes class ids of rank {logits_rank - 1} "
        f"(logits.shape[:-1]); these labels have rank {labels_rank}.",
        "lk.diagnose(logits, labels)  # shows which axis is wrong",
    )


@_pattern(r"Incompatible shapes for broadcasting: shapes=\[(?P<a>" + SHAPE + r"), (?P<b>" + SHAPE + r")\]")
def _jax_broadcast(text: str, m: re.Match[str]) -> Diagnosis:
    a, b = parse_shape(m["a"]), parse_shape(m["b"])
    if a and b and len(a) == len(b) and a[-1] == 1 and b[-1] == 1:
        # optax's integer-label gather: labels[..., None] against the logits' gather shape.
        return _from_shapes(text, "softmax_cross_entropy_with_integer_labels: labels and logits do not line up",
                            "jax", (*b[:-1], None), a[:-1], loss=SPARSE)
    return _from_shapes(text, "softmax_cross_entropy: labels and logits do not broadcast", "jax", b, a,
                        loss=CATEGORICAL)


@_pattern(r"(?:mul|add|sub) got incompatible shapes for broadcasting: (?P<a>" + SHAPE + r"), (?P<b>" + SHAPE + r")")
def _jax_mul(text: str, m: re.Match[str]) -> Diagnosis:
    # optax's dense and sigmoid losses multiply labels (first) by log-probabilities of the logits (second).
    return _from_shapes(text, "an optax loss multiplied labels and log-probabilities of different shapes", "jax",
                        parse_shape(m["b"]), parse_shape(m["a"]), loss=CATEGORICAL)


@_pattern(r"Expected the input to have a dtype that is a subdtype of <class 'numpy\.integer'>, got (?P<dtype>\w+)")
def _jax_int_dtype(text: str, m: re.Match[str]) -> Diagnosis:
    return _plain(
        text, "softmax_cross_entropy_with_integer_labels with non-integer labels", "jax", "float_ids",
        f"optax.softmax_cross_entropy_with_integer_labels takes class ids of an integer dtype; these labels are "
        f"{m['dtype']}. (Float rows of the logits' shape belong to optax.softmax_cross_entropy.)",
        "optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))",
    )


# labelkit's own messages ---------------------------------------------------------------------------
# Read like a native message: the shapes are diagnosed with the task and class axis the message names,
# and the fix is the one labelkit wrote in it.

_LK_TYPES = (r"(?<![A-Za-z])(?:labelkit\.errors\.|labelkit\._spec\.)?"
             r"(?:ShapeMismatchError|LabelValueError|ArgumentError|BackendError|LabelkitError)")


# The rest of a message: its line and the lines a terminal wrapped it onto, up to what a traceback adds after it.
_STOP = r"(?:During handling of the above|The above exception was|Traceback \(most recent call last\))"
_REST = r"(?:(?!" + _STOP + r")[^\n]|\n(?!\s*(?:" + _STOP + r"|File \"|[\w.]*(?:Error|Exception):)))*"


def _sentences(text: str) -> list[str]:
    return [t for t in re.split(r"(?<=[.!?])\s+(?=[A-Z(`'\d])", text.strip()) if t]


def _own(text: str, found: str, fix: str, what: str, code: str, d: Diagnosis | None = None) -> Diagnosis:
    f = _framework_in(text)
    fix = " ".join(fix.split()) or "lk.diagnose(logits, labels)  # on the arrays themselves"
    problem = Problem(code, " ".join(found.split()), fix)
    base = d if d is not None else Diagnosis(None, (), framework=f)
    others = tuple(p for p in base.problems if p.code != code)
    return replace(base, problems=(problem, *others), framework=f, source=f"labelkit: {what}",
                   message=_first_line(text))


@_pattern(r"labels have shape (?P<labels>" + SHAPE + r") but logits have shape (?P<logits>" + SHAPE
          + r") \(task '(?P<task>multiclass|binary|multilabel)', class axis (?P<axis>\d{1,4})\); "
          + r"these logits accept labels of shape "
          + r"(?P<accepted>(?:" + SHAPE + r")(?: or " + SHAPE + r")*)\.(?P<fix>" + _REST + ")")
def _lk_shape(text: str, m: re.Match[str]) -> Diagnosis:
    logits, labels = parse_shape(m["logits"]), parse_shape(m["labels"])
    task = cast(Task, m["task"])  # one of the three the pattern matches
    d = diagnose(logits, labels, task=task, axis=int(m["axis"]), framework=_framework_in(text))
    errors = [p for p in d.problems if p.severity == "error"]
    code = errors[0].code if errors else "shape_mismatch"
    found = m.group(0)[: m.start("fix") - m.start()]
    return _own(text, found, m["fix"], "ShapeMismatchError: the labels do not fit the logits", code, d)


@_pattern(r"labels have shape (?P<labels>" + SHAPE + r") but logits have shape (?P<logits>" + SHAPE
          + r") and a dense loss was asked for\.(?P<rest>" + _REST + ")")
def _lk_dense_asked(text: str, m: re.Match[str]) -> Diagnosis:
    d = diagnose(parse_shape(m["logits"]), parse_shape(m["labels"]), loss=CATEGORICAL, labels_dtype="int64",
                 framework=_framework_in(text))
    rest = _sentences(m["rest"])
    found = m.group(0)[: m.start("rest") - m.start()] + (" " + rest[0] if rest[1:] else "")
    return _own(text, found, " ".join(rest[1:] or rest), "ShapeMismatchError: class ids for a dense loss",
                "wrong_loss", d)


@_pattern(r"labels have shape (?P<labels>" + SHAPE + r"), the logits' own shape: they are one-hot or probability "
          r"rows, but a sparse loss was asked for\.(?P<fix>" + _REST + ")")
def _lk_sparse_asked(text: str, m: re.Match[str]) -> Diagnosis:
    shape = parse_shape(m["labels"])
    d = diagnose(shape, shape, loss=SPARSE, labels_dtype="float32", framework=_framework_in(text))
    found = m.group(0)[: m.start("fix") - m.start()]
    return _own(text, found, m["fix"], "ShapeMismatchError: rows for a sparse loss", "wrong_loss", d)


_LK_VALUES = {
    "id_out_of_range": r"is -?\d+, outside the valid class ids 0\.\.-?\d+ for \d+ classes\.",
    "non_integral_ids": r"which is not a whole number; sparse labels are class ids\.",
    "label_not_finite": r"labels must be finite numbers\.",
    "negative_rows": r"one-hot and probability rows must be ≥ 0\.",
    "not_one_hot": r"a one-hot row has exactly one\.",
    "zero_row": r"is all zeros; expected a one-hot or probability row summing to 1\.",
    "probs_not_normalised": r"sums to \S+ along axis \d+; expected a one-hot or probability row summing to 1 "
                            r"\(tolerance [^)]*\)\.",
    "target_out_of_range": r"targets must lie in \[0, 1\]\.",
}


@_pattern(r"(?P<found>\b(?:labels|like)\b[^\n:]{0,80}?(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _LK_VALUES.items())
          + r"))(?P<fix>" + _REST + ")")
def _lk_value(text: str, m: re.Match[str]) -> Diagnosis:
    code = next(k for k in _LK_VALUES if m[k])
    found, fix = m["found"], m["fix"]
    if code == "id_out_of_range":  # what the ids suggest ("8 elements hold 255, ...") belongs to what was found
        rest = _sentences(fix)
        found, fix = " ".join([found, *rest[:-1]]), rest[-1] if rest else ""
        if "Pass ignore_index" in found:
            found, _, tail = found.rpartition("Pass ignore_index")
            fix = "Pass ignore_index" + tail + (" " + fix if fix else "")
    return _own(text, found, fix, "LabelValueError: invalid label values", code)


@_pattern(_LK_TYPES + r": (?P<msg>" + _REST + ")", fallback=True)
def _lk_any(text: str, m: re.Match[str]) -> Diagnosis:
    parts = _sentences(" ".join(m["msg"].split()))
    code = "labelkit_error"
    am = re.match(r"\s*(\w+): ", m["msg"])
    if am:
        code = "bad_argument"
    return _own(text, parts[0] if parts else m["msg"], " ".join(parts[1:]), "an error labelkit raised", code)


# TensorFlow graphs: the first line alone ------------------------------------------------------------


@_pattern(r"Graph execution error(?::|\b)", fallback=True)
def _tf_graph_error(text: str, m: re.Match[str]) -> Diagnosis:
    node = re.search(r"Detected at node '?(?P<node>[\w/.\-]+)", text)
    where = f" The failing op is {node['node']}." if node else ""
    return _plain(
        text, "an op failed inside a graph (model.fit, model.evaluate or a tf.function)", "tensorflow",
        "graph_execution_error",
        "TensorFlow ran a graph (model.fit/evaluate/predict, or a tf.function) and an op in it failed. This line "
        "does not say which or why: the cause is further down the message, after 'Detected at node ... defined "
        "at' and the traceback (in a loss, usually 'Received a label value of ... outside the valid range' "
        f"or a shape error).{where}",
        "paste the whole message into lk.explain; or run eagerly to get the error at the op: "
        "model.compile(..., run_eagerly=True) or tf.config.run_functions_eagerly(True); or check one batch: "
        "lk.diagnose(model(x), y)",
    )


# An accuracy that is about 1/C, or predictions (N,) compared with labels (N, 1) (issue 15) ----------

_ACC_FIX = {
    "torch": "lk.accuracy(logits, labels)  # or (logits.argmax(1) == labels.squeeze(1)).float().mean()",
    "keras": "model.compile(..., metrics=[labelkit.keras.Accuracy()])  # or SparseCategoricalAccuracy for ids",
    "tensorflow": "lk.accuracy(logits, labels)  # or tf.squeeze(labels, -1) before comparing",
    "jax": "lk.accuracy(logits, labels)  # or labels.squeeze(-1) before comparing",
}


def _accuracy_problem(f: str, found: str) -> Diagnosis:
    message = (
        f"{found} Comparing predictions of shape (N,) with column labels (N, 1) broadcasts to (N, N): "
        f"every prediction is compared with every label, and the mean is about the share of the most common "
        f"class (about 1/C) — a wrong number without an error. Keras' CategoricalAccuracy given (N, 1) ids does "
        f"the same (the argmax of a one-column row is always 0). lk.accuracy reads the labels as the losses do."
    )
    return Diagnosis(None, (Problem("accuracy_broadcast", message, _ACC_FIX.get(f, "lk.accuracy(logits, labels)")),),
                     framework=f, source="an accuracy that compares (N,) with (N, 1)")


@_pattern(r"(?is)^(?=.*?(?:accura|==))(?=.*?[(\[]\s*(?P<n>\d+|None|N)\s*,\s*1\s*[)\]])", fallback=True)
def _accuracy_shapes(text: str, m: re.Match[str]) -> Diagnosis:
    n = "N" if m["n"] == "None" else m["n"]
    flat = re.search(r"[(\[]\s*" + re.escape(m["n"]) + r"\s*,?\s*[)\]](?!\s*,)", text)
    found = f"The text compares shapes ({n},) and ({n}, 1)." if flat else f"The text compares labels of shape ({n}, 1)."
    return _accuracy_problem(_framework_in(text), found)


@_pattern(r"(?is)\baccuracy\b[^\n]{0,60}?(?P<acc>(?:\d+(?:\.\d+)?|\.\d+)\s*%|\d*\.\d+)[^\n]{0,80}?\b(?P<c>\d+)\s+classes\b",
          fallback=True)
def _accuracy_chance(text: str, m: re.Match[str]) -> Diagnosis:
    raw = m["acc"].replace(" ", "")
    acc = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    c = int(m["c"])
    f = _framework_in(text)
    chance = 1.0 / c if c else 0.0
    if c >= 2 and abs(acc - chance) <= 0.5 * chance:
        return _accuracy_problem(f, f"An accuracy of {acc:g} with {c} classes is about chance, 1/C = {chance:.3g}.")
    return Diagnosis(None, (Problem(
        "accuracy_not_chance",
        f"An accuracy of {acc:g} with {c} classes is not the chance level 1/C = {chance:.3g}, so it is not the (N, N) "
        f"broadcast of predictions (N,) against labels (N, 1); that symptom reads about 1/C.",
        "lk.accuracy(logits, labels)  # the accuracy for any label format, to compare with",
        "warning",
    ),), framework=f, source="an accuracy with a number of classes")


# A pasted description: "logits shape (None, 1000) vs labels shape (None, 1)" -------------------------

_LOGITS_WORDS = r"logits?|outputs?|inputs?|y_pred|preds?|predictions?|scores"
_LABELS_WORDS = r"labels?|targets?|y_true|ground[ _]truth|classes"
_ROLE = r"\b(?P<word>" + _LOGITS_WORDS + "|" + _LABELS_WORDS + r")\b[^()\[\]\n]{0,40}?(?P<shape>" + SHAPE + ")"


def _framework_in(text: str) -> str:
    low = text.lower()
    for f, words in (("keras", ("keras",)), ("torch", ("torch", "pytorch")), ("jax", ("optax", "jax", "flax")),
                     ("tensorflow", ("tensorflow", "tf."))):
        if any(w in low for w in words):
            return f
    return "numpy"


def _described(text: str) -> Diagnosis | None:
    roles: dict[str, Shape] = {}
    for m in re.finditer(_ROLE, text, re.IGNORECASE):
        role = "logits" if re.fullmatch(_LOGITS_WORDS, m["word"], re.IGNORECASE) else "labels"
        roles.setdefault(role, parse_shape(m["shape"]))
    if len(roles) != 2:
        return None
    dtype = None
    dm = re.search(r"\b(?:labels?|targets?)\b[^\n]{0,60}?\b(u?int(?:8|16|32|64)|float(?:16|32|64)|bool)\b", text,
                   re.IGNORECASE)
    if dm:
        dtype = dm.group(1).lower()
    d = diagnose(roles["logits"], roles["labels"], framework=_framework_in(text), labels_dtype=dtype)
    return replace(d, source="a description of logits and labels shapes", message=_first_line(text))


def _flexible(regex: str) -> str:
    """``regex`` with each literal space made optional: a terminal that wrapped a line at a space and
    lost it (the lines of a paste are joined without spaces, see ``_readings``) still matches."""
    out, in_class, escaped = [], False, False
    for ch in regex:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        elif ch == " " and not in_class:
            out.append(" ?")
            continue
        out.append(ch)
    return "".join(out)


Compiled = tuple[tuple[re.Pattern[str], str, Callable[..., Diagnosis]], ...]
_FLEXIBLE: set[re.Pattern[str]] = set()  # the patterns compiled flexible about spaces


@functools.cache
def _compiled(fallback: bool = False, flexible: bool = False) -> Compiled:
    """The patterns, compiled on first use: compiling them at import would cost ``import labelkit``
    about 15 ms, for a function most programs never call."""
    out = tuple((re.compile(_flexible(regex) if flexible else regex, re.DOTALL), name, fn)
                for regex, name, fn in (_FALLBACKS if fallback else _PATTERNS))
    if flexible:
        _FLEXIBLE.update(r for r, _, _ in out)
    return out


# ANSI escape sequences (colours, cursor moves, OSC links) and the frames terminals and rich/IPython
# tracebacks draw around a message: box drawing, blocks, arrows and pointers.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_FRAME = re.compile(r"[\u2500-\u259f\u2190-\u21ff\u276f\u2771\u25b6\u25ba\u2022]")


class _Reading(NamedTuple):
    text: str
    flexible: bool  # the patterns must be flexible about spaces (the lines were joined without one)
    name: str = ""


def _readings(text: str) -> list[_Reading]:
    """The ways to read a pasted message, most literal first, all without colours and frames:

    * one stripped line per line (a message with its own line breaks, such as TensorFlow's);
    * the lines joined by a space (a message wrapped at spaces);
    * unwrapped: a line as wide as the widest was broken by the terminal at its width, inside a word or
      at a space it dropped, and is joined to the next without one (unless the next is indented deeper:
      it kept the space); shorter lines end where the text did, and are joined by a space;
    * the lines joined with nothing (any break inside a word or shape).
    """
    clean = _FRAME.sub(" ", _ANSI.sub("", text)).replace("\r\n", "\n").replace("\r", "\n")
    raw = [ln.rstrip() for ln in clean.split("\n")]
    raw = [ln for ln in raw if ln.strip()]
    lines = [" ".join(ln.split()) for ln in raw]
    width = max((len(ln) for ln in raw), default=0)
    indent = [len(r) - len(r.lstrip()) for r in raw]
    unwrapped = "".join(
        ln + ("" if len(r) == width and (i + 1 == len(raw) or indent[i + 1] <= indent[i]) else " ")
        for i, (ln, r) in enumerate(zip(lines, raw))
    ).strip()
    out: list[_Reading] = []
    for reading in (_Reading("\n".join(lines), False, "lines"), _Reading(" ".join(lines), False, "spaced"),
                    _Reading(unwrapped, True, "unwrapped"), _Reading("".join(lines), True, "glued")):
        if all(reading[:2] != r[:2] for r in out):
            out.append(reading)
    return out


def _message_line(readings: list[_Reading], reading: _Reading, m: re.Match[str]) -> str:
    """The lines of ``reading`` that hold the match, on one line, from the exception type before it on
    (when it names one). A match in the lines joined with nothing is shown from the unwrapped reading:
    the same text, with the spaces a reader expects."""
    text = reading.text
    if reading.name == "glued":
        text = next(r.text for r in readings if r.name in ("unwrapped", "spaced"))
        start, stop, before = 0, len(text), text
    else:
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        stop = end if end >= 0 else len(text)
        before = text[start : m.start()]
    heads = list(re.finditer(r"(?:^|\s)[\w.]*(?:Error|Exception):\s?", before))
    if heads:
        start += heads[-1].start()
    return " ".join(text[start:stop].split())


def explain(text: str) -> Diagnosis:
    """Reads a label or shape error message from PyTorch, TensorFlow, Keras, JAX or optax, and diagnoses it.

    Where the message names the shapes, they are diagnosed as ``lk.diagnose`` would (with the loss
    and class-axis convention the message implies): every problem is an error, since the native call
    failed. Where it names none, the usual cause and its fix are given. A pasted description such as
    ``"logits (None, 1000) vs labels (None, 1)"`` is diagnosed too.

    Args:
      text: the error message (the last line of the traceback is enough; the whole traceback works).

    Returns:
      A ``Diagnosis``; ``.source`` says what the message was recognised as (``None`` and a single
      ``"unrecognised"`` problem when it was not).

    >>> import labelkit as lk
    >>> d = lk.explain("RuntimeError: 0D or 1D target tensor expected, multi-target not supported")
    >>> d.codes, d.framework
    (('column_labels',), 'torch')
    >>> d = lk.explain("ValueError: Arguments `target` and `output` must have the same shape. "
    ...                "Received: target.shape=(None, 1), output.shape=(None, 1000)")
    >>> d.labels_shape, d.logits_shape, d.codes
    ((None, 1), (None, 1000), ('wrong_loss',))
    """
    if not isinstance(text, str):
        text = str(text)
    readings = _readings(text)
    # Patterns over every reading, most literal first; then the fallbacks (labelkit's generic message, a
    # bare TensorFlow graph error), best reconstructed reading first, since they show the text they match.
    flexible = [r for r in readings if r.flexible]
    best_first = flexible[:1] + [r for r in readings if not r.flexible][::-1] + flexible[1:]
    for fallback, order in ((False, readings), (True, best_first)):
        for reading in order:
            for i, (regex, _name, fn) in enumerate(_compiled(fallback, reading.flexible)):
                m = regex.search(reading.text)
                if m is None:
                    continue
                if flexible and not reading.flexible and (reading is not readings[0] or "\n" in m.group(0)):
                    # The message runs over lines: read it from the unwrapped text, where the words are whole.
                    m2 = _compiled(fallback, True)[i][0].search(flexible[0].text)
                    if m2 is not None:
                        reading, m = flexible[0], m2
                return replace(fn(reading.text, m), message=_first_line(_message_line(readings, reading, m)))
    spaced = readings[min(1, len(readings) - 1)].text
    described = _described(spaced)
    if described is not None:
        return described
    shapes = [fmt_shape(parse_shape(s.group(0))) for s in re.finditer(SHAPE, spaced)]
    seen = f" It names the shapes {', '.join(shapes)}, but not which is which." if shapes else ""
    return Diagnosis(None, (Problem(
        "unrecognised",
        f"labelkit does not recognise this message as a label or shape error of PyTorch, TensorFlow, Keras, "
        f"JAX or optax.{seen}",
        "lk.diagnose(logits, labels)  # on the arrays themselves, or on their shapes: "
        "lk.diagnose((None, 1000), (None, 1), labels_dtype='int64')",
    ),), framework=_framework_in(text), message=_first_line(spaced))
