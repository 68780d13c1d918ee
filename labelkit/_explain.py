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
from typing import Any

import numpy as np

from labelkit._diagnose import BINARY, CATEGORICAL, SPARSE, Diagnosis, Problem, diagnose, squeeze_expr
from labelkit._spec import fmt_shape

__all__ = ["explain", "parse_shape"]

Shape = tuple[Any, ...]

_DIM = r"(?:\d+|None|\?|-1)"
# (32, 1), (None,), [32, 1000], torch.Size([32, 1]), TensorShape([32, 1]), ()
SHAPE = (
    r"(?:torch\.Size\(|TensorShape\()?"
    r"[(\[]\s*(?:" + _DIM + r"\s*(?:,\s*" + _DIM + r"\s*)*,?\s*)?[)\]]\)?"
)
_BARE = r"[\d,\s]+"  # 32,1000 inside TF's logits_size=[...]


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
    message = (f"a label is {value}, but the logits have fewer than {value + 1} classes: class ids must lie "
               f"in 0..C-1. If the ids run 1..C they start at 1; otherwise the model has too few outputs "
               f"or the labels belong to another dataset. lk.validate(logits, labels) names the first bad id.")
    return _plain(text, what, f, "id_out_of_range", message,
                  f"labels - 1  # if the ids run 1..C; else give the model at least {value + 1} outputs")


# --- the patterns ---------------------------------------------------------------------------------

Handler = Callable[[str, "re.Match[str]"], Diagnosis]
_PATTERNS: list[tuple[str, str, Handler]] = []


def _pattern(regex: str, flags: int = 0) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _PATTERNS.append((regex, fn.__name__, fn))
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
    values = [int(v) for v in m["values"].split()] if m["values"] else None
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


@functools.cache
def _compiled() -> tuple[tuple[re.Pattern[str], str, Callable[..., Any]], ...]:
    """The patterns, compiled on first use: compiling them at import would cost ``import labelkit``
    about 15 ms, for a function most programs never call."""
    return tuple((re.compile(regex, re.DOTALL), name, fn) for regex, name, fn in _PATTERNS)


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
    for regex, _name, fn in _compiled():
        m = regex.search(text)
        if m:
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            return replace(fn(text, m), message=_first_line(text[start : end if end >= 0 else len(text)]))
    described = _described(text)
    if described is not None:
        return described
    shapes = [fmt_shape(parse_shape(s.group(0))) for s in re.finditer(SHAPE, text)]
    seen = f" It names the shapes {', '.join(shapes)}, but not which is which." if shapes else ""
    return Diagnosis(None, (Problem(
        "unrecognised",
        f"labelkit does not recognise this message as a label or shape error of PyTorch, TensorFlow, Keras, "
        f"JAX or optax.{seen}",
        "lk.diagnose(logits, labels)  # on the arrays themselves, or on their shapes: "
        "lk.diagnose((None, 1000), (None, 1), labels_dtype='int64')",
    ),), framework=_framework_in(text), message=_first_line(text))
