"""Bad input on every backend: the SPEC's error class, and a message that says what, where and the fix.

A framework's own exception must never escape, and bad input must never give a silent wrong array.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import numpy as np
import pytest

import labelkit as lk
from conftest import BACKENDS, get_backend
from labelkit.errors import BackendError, LabelkitError, LabelValueError, ShapeMismatchError

NAN, INF = float("nan"), float("inf")


class Bad(NamedTuple):
    call: str  # "validate", "one_hot" or "to_sparse"
    logits: Any  # NumPy logits (or rows for to_sparse; num_classes for one_hot), or a non-array
    labels: Any
    kwargs: dict[str, Any]
    error: type[Exception]
    match: str


def L(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


def ids(*values: Any, dtype: str = "int64") -> np.ndarray:
    return np.asarray(values, dtype=dtype)


BAD: dict[str, Bad] = {
    # Class ids out of range, and the fix that fits each.
    "id-equals-C": Bad(
        "validate", L(4, 5), ids(0, 1, 5, 2), {}, LabelValueError,
        r"labels\[2\] is 5, outside the valid class ids 0\.\.4 for 5 classes\. The largest id is 5: the logits "
        r"need at least 6 classes",
    ),
    "ids-start-at-1": Bad(
        "validate", L(4, 5), ids(1, 2, 5, 3), {}, LabelValueError, r"labels\[2\] is 5.*did they start at 1\?",
    ),
    "id-minus-1": Bad(
        "validate", L(4, 5), ids(0, -1, 2, 3), {}, LabelValueError,
        r"labels\[1\] is -1, outside the valid class ids 0\.\.4.*never wrapped around.*ignore_index=-1",
    ),
    "id-minus-100-without-ignore_index": Bad(
        "validate", L(4, 5), ids(0, 1, 2, -100), {}, LabelValueError,
        r"labels\[3\] is -100.*PyTorch's padding id: pass ignore_index=-100",
    ),
    "id-minus-100-with-another-ignore_index": Bad(
        "validate", L(4, 5), ids(0, -1, 2, -100), {"ignore_index": -1}, LabelValueError, r"labels\[3\] is -100",
    ),
    "id-equals-C-int8": Bad("validate", L(2, 100), ids(3, 100, dtype="int8"), {}, LabelValueError, r"is 100"),
    "id-equals-C-sequence": Bad(
        "validate", L(2, 3, 4), ids([0, 1, 2], [3, 4, 0]), {}, LabelValueError, r"labels\[1, 1\] is 4",
    ),
    "id-equals-C-column": Bad(
        "validate", L(4, 5), ids([0], [7], [1], [1]), {}, LabelValueError, r"labels\[1(, 0)?\] is 7",
    ),
    "id-true-with-1-class-axis1": Bad(
        "validate", L(2, 3, 2), ids([0, 3], [1, 1]), {"axis": 1}, LabelValueError, r"labels\[0, 1\] is 3.*3 classes",
    ),
    # Values that are not class ids.
    "float-2.7": Bad(
        "validate", L(3, 5), ids(0, 2.7, 1, dtype="float32"), {}, LabelValueError,
        r"labels\[1\] is 2\.7, which is not a whole number; sparse labels are class ids",
    ),
    "nan-id": Bad(
        "validate", L(3, 5), ids(0, NAN, 1, dtype="float32"), {}, LabelValueError,
        r"labels\[1\] is nan; labels must be finite",
    ),
    "inf-id": Bad("validate", L(3, 5), ids(INF, 1, 1, dtype="float64"), {}, LabelValueError, r"labels\[0\] is inf"),
    "nan-in-probs": Bad(
        "validate", L(2, 2), ids([0.5, 0.5], [NAN, 1.0], dtype="float32"), {}, LabelValueError,
        r"labels\[1, 0\] is nan; labels must be finite",
    ),
    # Rows that are not one-hot or probabilities.
    "two-ones-in-a-one-hot-row-int": Bad(
        "validate", L(2, 3), ids([0, 1, 0], [1, 1, 0]), {}, LabelValueError,
        r"labels row \(1,\) has 2 ones along axis 1; a one-hot row has exactly one.*task='multilabel'",
    ),
    "two-ones-in-a-one-hot-row-bool": Bad(
        "validate", L(2, 3), ids([1, 0, 1], [1, 0, 0], dtype="bool"), {}, LabelValueError,
        r"labels row \(0,\) has 2 ones",
    ),
    "two-ones-in-a-one-hot-row-float": Bad(
        "validate", L(2, 3), ids([0, 1, 0], [1, 1, 0], dtype="float32"), {}, LabelValueError,
        r"labels row \(1,\) sums to 2 along axis 1.*task='multilabel'",
    ),
    "all-zero-row": Bad(
        "validate", L(2, 3), ids([0, 1, 0], [0, 0, 0], dtype="float32"), {}, LabelValueError,
        r"labels row \(1,\) is all zeros.*ignore_index",
    ),
    "negative-probability": Bad(
        "validate", L(1, 3), ids([1.5, -0.5, 0.0], dtype="float32"), {}, LabelValueError,
        r"labels\[0, 1\] is -0\.5; one-hot and probability rows must be ≥ 0",
    ),
    "probabilities-summing-to-0.9": Bad(
        "validate", L(2, 3), ids([0.5, 0.5, 0.0], [0.5, 0.4, 0.0], dtype="float32"), {}, LabelValueError,
        r"labels row \(1,\) sums to 0\.9 along axis 1",
    ),
    "two-ones-channels-first": Bad(
        "validate", L(1, 2, 3), ids([[1, 0, 1], [1, 1, 0]], dtype="float32"), {"axis": 1}, LabelValueError,
        r"labels row \(0, 0\) sums to 2 along axis 1",
    ),
    "binary-target-2": Bad(
        "validate", L(3), ids(0, 2, 1), {}, LabelValueError,
        r"labels\[1\] is 2; binary targets must lie in \[0, 1\]\. Class ids belong to a multiclass loss",
    ),
    "binary-target-negative": Bad(
        "validate", L(3, 1), ids([0.0], [-0.5], [1.0], dtype="float32"), {}, LabelValueError,
        r"labels\[1\] is -0\.5; binary targets",
    ),
    "multilabel-value-3": Bad(
        "validate", L(2, 3), ids([0, 3, 1], [0, 0, 0]), {"task": "multilabel"}, LabelValueError,
        r"labels\[0, 1\] is 3; multilabel targets must lie in \[0, 1\]",
    ),
    # Shapes.
    "batch-32-vs-64": Bad(
        "validate", L(32, 10), np.zeros(64, np.int64), {}, ShapeMismatchError,
        r"labels have shape \(64,\) but logits have shape \(32, 10\).*batch sizes differ: 64 labels vs 32 logits",
    ),
    "wrong-rank-labels": Bad(
        "validate", L(8, 5), np.zeros((8, 5, 2), np.float32), {}, ShapeMismatchError,
        r"accept labels of shape \(8,\) or \(8, 1\) or \(8, 5\).*more axes than the logits",
    ),
    "wrong-rank-scalar-label": Bad(
        "validate", L(8, 5), np.zeros((), np.int64), {}, ShapeMismatchError, r"labels have shape \(\)",
    ),
    "num_classes-disagrees": Bad(
        "validate", L(4, 5), ids(0, 1, 2, 3), {"num_classes": 6}, ShapeMismatchError,
        r"num_classes=6 but the logits have 5 classes",
    ),
    # Not arrays at all.
    "python-string-labels": Bad(
        "validate", L(4, 5), "cat", {}, BackendError, r"labels: expected an array.*got str\. Pass the array itself",
    ),
    "dict-labels": Bad(
        "validate", L(4, 5), {"y": [1, 2, 3, 4]}, {}, BackendError, r"labels: expected an array.*got dict"
    ),
    "none-labels": Bad("validate", L(4, 5), None, {}, BackendError, r"labels: expected an array.*got NoneType"),
    "ragged-list-labels": Bad(
        "validate", L(2, 5), [[1, 2], [3]], {}, BackendError, r"labels: could not read list as an array",
    ),
    "string-array-labels": Bad(
        "validate", L(2, 5), np.array(["a", "b"]), {}, BackendError, r"labels: dtype \w+ is not a real number type",
    ),
    "python-string-logits": Bad(
        "validate", "logits", ids(1, 2), {}, BackendError, r"logits: expected an array.*got str"
    ),
    # one_hot and to_sparse.
    "one_hot-id-equals-C": Bad(
        "one_hot", 5, ids(0, 5), {}, LabelValueError, r"labels\[1\] is 5, outside the valid class ids 0\.\.4",
    ),
    "one_hot-id-minus-1": Bad("one_hot", 5, ids(-1, 0), {}, LabelValueError, r"labels\[0\] is -1.*never wrapped"),
    "one_hot-float-2.7": Bad(
        "one_hot", 5, ids(2.7, dtype="float32"), {}, LabelValueError, r"labels\[0\] is 2\.7, which is not a whole",
    ),
    "one_hot-nan": Bad("one_hot", 5, ids(NAN, dtype="float64"), {}, LabelValueError, r"labels\[0\] is nan"),
    "one_hot-string": Bad("one_hot", 5, "2", {}, BackendError, r"labels: expected an array.*got str"),
    "one_hot-dict": Bad("one_hot", 5, {"a": 1}, {}, BackendError, r"labels: expected an array.*got dict"),
    "to_sparse-two-ones": Bad(
        "to_sparse", None, ids([1, 1, 0], [0, 1, 0], dtype="float32"), {}, LabelValueError,
        r"labels row \(0,\) sums to 2",
    ),
    "to_sparse-negative": Bad(
        "to_sparse", None, ids([2.0, -1.0], dtype="float32"), {}, LabelValueError, r"must be ≥ 0",
    ),
    "to_sparse-scalar": Bad(
        "to_sparse", None, np.float32(1.0), {}, ShapeMismatchError, r"labels: expected rows of shape \(\*S, C\)",
    ),
}


def _convert(backend, value: Any) -> Any:
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind not in "biuf" and backend.name in ("torch", "jax"):
        return value  # no tensor of these can hold strings: labelkit receives the NumPy array
    return backend.to_backend(value)


def _call(backend, case: Bad) -> Any:
    labels = _convert(backend, case.labels)
    if case.call == "one_hot":
        return lk.one_hot(labels, case.logits, **case.kwargs)
    if case.call == "to_sparse":
        return lk.to_sparse(labels, **case.kwargs)
    return lk.validate(_convert(backend, case.logits), labels, **case.kwargs)


@pytest.mark.parametrize("case", list(BAD.values()), ids=list(BAD))
def test_bad_input_raises_the_spec_error(backend, case):
    with pytest.raises(case.error, match=case.match):
        _call(backend, case)


@pytest.mark.parametrize("case", [c for c in BAD.values() if c.call == "validate"],
                         ids=[k for k, c in BAD.items() if c.call == "validate"])
def test_bad_input_with_numpy_labels_and_framework_logits(backend, case):
    """The same failures when only the logits are the framework's (labels converted by labelkit)."""
    logits = _convert(backend, case.logits)
    with pytest.raises(case.error, match=case.match):
        lk.validate(logits, case.labels, **case.kwargs)


def test_ignore_index_is_never_out_of_range(backend):
    labels = backend.to_backend(ids(0, -100, 4, -100))
    assert lk.validate(backend.to_backend(L(4, 5)), labels, ignore_index=-100).label_format == "sparse"


def test_uint8_ids_are_not_wrapped_into_range(backend):
    """300 classes: a uint8 comparison would read C as 44 and -100 as 156."""
    logits = backend.to_backend(L(3, 300))
    assert lk.validate(logits, backend.to_backend(ids(255, 44, 156, dtype="uint8"))).num_classes == 300
    with pytest.raises(LabelValueError, match=r"labels\[0\] is 200.*3 classes"):
        lk.validate(backend.to_backend(L(2, 3)), backend.to_backend(ids(200, 1, dtype="uint8")))
    with pytest.raises(LabelValueError, match=r"labels\[1\] is 156"):
        lk.validate(backend.to_backend(L(2, 150)), backend.to_backend(ids(1, 156, dtype="uint8")), ignore_index=-100)


# --- two frameworks in one call ------------------------------------------------------------------

FRAMEWORKS = [b for b in BACKENDS if b != "numpy"]
PAIRS = list(itertools.permutations(FRAMEWORKS, 2))


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}-logits-{b}-labels" for a, b in PAIRS])
def test_two_frameworks_in_one_call(first, second):
    a, b = get_backend(first), get_backend(second)
    logits, labels = a.to_backend(L(4, 5)), b.to_backend(ids(0, 1, 2, 3))
    pattern = rf"logits is a {first} array \(.+\) but labels is a {second} array \(.+\); one call takes one framework"
    with pytest.raises(BackendError, match=pattern):
        lk.infer(logits, labels)
    with pytest.raises(BackendError, match=pattern):
        lk.validate(logits, labels)
    with pytest.raises(BackendError, match=rf"like is a {first} array .* but labels is a {second} array"):
        lk.one_hot(labels, like=logits)


def test_torch_logits_with_tensorflow_labels():
    """The case the issue names: the message names both arguments and their types."""
    if not {"torch", "tensorflow"} <= set(BACKENDS):
        pytest.skip("needs torch and tensorflow among LABELKIT_TEST_BACKENDS")
    torch, tf = get_backend("torch").module, get_backend("tensorflow").module
    with pytest.raises(
        BackendError,
        match=r"logits is a torch array \(torch\.Tensor\) but labels is a tensorflow array "
        r"\(tensorflow\.python\.framework\.ops\.EagerTensor\).*Convert labels to torch first",
    ):
        lk.validate(torch.zeros(4, 5), tf.constant([0, 1, 2, 3]))


# --- bad keyword arguments -----------------------------------------------------------------------


class BadArg(NamedTuple):
    call: str
    kwargs: dict[str, Any]
    match: str


BAD_ARGS: dict[str, BadArg] = {
    "task-softmax": BadArg(
        "validate", {"task": "softmax"}, r"task: expected one of 'auto', 'multiclass'.*got 'softmax'"
    ),
    "task-None": BadArg("infer", {"task": None}, r"task: expected one of .*got None"),
    "axis-2-rank-2": BadArg(
        "validate", {"axis": 2}, r"axis: 2 is out of range for logits of rank 2; expected -2 <= axis < 2"
    ),
    "axis--3-rank-2": BadArg("infer", {"axis": -3}, r"axis: -3 is out of range"),
    "axis-string": BadArg("validate", {"axis": "1"}, r"axis: expected an int, got str"),
    "axis-bool": BadArg("infer", {"axis": True}, r"axis: expected an int, got bool"),
    "axis-float": BadArg("infer", {"axis": 1.0}, r"axis: expected an int, got float"),
    "to-dense": BadArg("align", {"to": "dense"}, r"to: expected 'sparse' or 'one_hot', got 'dense'"),
    "to-None": BadArg("align", {"to": None}, r"to: expected 'sparse' or 'one_hot', got None"),
    "check_values-yes": BadArg("validate", {"check_values": "yes"}, r"check_values: expected 'auto', True or False"),
    "ignore_index-float": BadArg(
        "validate", {"ignore_index": 1.5}, r"ignore_index: expected an int or None, got float"
    ),
    "ignore_index-bool": BadArg("validate", {"ignore_index": True}, r"ignore_index: expected an int or None, got bool"),
    "num_classes-0": BadArg("validate", {"num_classes": 0}, r"num_classes: expected a positive int or None, got 0"),
    "one_hot-num_classes-0": BadArg(
        "one_hot", {"num_classes": 0}, r"num_classes: expected a positive int or None, got 0"
    ),
    "one_hot-num_classes-float": BadArg("one_hot", {"num_classes": 5.0}, r"num_classes: expected a positive int"),
    "one_hot-no-num_classes": BadArg("one_hot", {}, r"num_classes: not given, and there is no like="),
    "one_hot-dtype-unknown": BadArg("one_hot", {"num_classes": 5, "dtype": "floaty"}, r"dtype: cannot read 'floaty'"),
    "one_hot-axis-out-of-range": BadArg("one_hot", {"num_classes": 5, "axis": 2}, r"axis: 2 is out of range"),
    "one_hot-check_values-1": BadArg("one_hot", {"num_classes": 5, "check_values": 1.5}, r"check_values: expected"),
    "to_sparse-axis": BadArg("to_sparse", {"axis": 3}, r"axis: 3 is out of range for labels of rank 2"),
}


@pytest.mark.parametrize("case", list(BAD_ARGS.values()), ids=list(BAD_ARGS))
def test_bad_argument(backend, case):
    logits = backend.to_backend(L(4, 5))
    labels = backend.to_backend(ids(0, 1, 2, 3))
    with pytest.raises(lk.ArgumentError, match=case.match):
        if case.call == "one_hot":
            lk.one_hot(labels, **case.kwargs)
        elif case.call == "to_sparse":
            lk.to_sparse(backend.to_backend(np.eye(4, 5, dtype=np.float32)), **case.kwargs)
        else:
            getattr(lk, case.call)(logits, labels, **case.kwargs)


def test_one_hot_like_and_num_classes_disagree(backend):
    with pytest.raises(ShapeMismatchError, match=r"num_classes=4 but like has 5 classes on axis 1"):
        lk.one_hot(backend.to_backend(ids(0, 1)), 4, like=backend.to_backend(L(2, 5)))


def test_one_hot_of_rows_with_like_is_refused(backend):
    rows = backend.to_backend(np.eye(2, 5, dtype=np.float32))
    with pytest.raises(ShapeMismatchError, match=r"labels already have like's shape \(2, 5\).*lk\.to_sparse"):
        lk.one_hot(rows, like=backend.to_backend(L(2, 5)))


# --- the classes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (ShapeMismatchError, ValueError),
        (LabelValueError, ValueError),
        (BackendError, TypeError),
        (lk.ArgumentError, ValueError),
    ],
    ids=lambda c: c.__name__,
)
def test_errors_are_caught_by_ordinary_handlers(cls, base):
    assert issubclass(cls, LabelkitError)
    assert issubclass(cls, base)
    assert getattr(lk, cls.__name__) is cls


def test_errors_are_exported_from_labelkit_errors():
    import labelkit.errors as errors

    assert {"LabelkitError", "ShapeMismatchError", "LabelValueError", "BackendError"} <= set(errors.__all__)
    assert lk.LabelkitError is errors.LabelkitError


def _bfloat16(backend, a: np.ndarray):
    x = backend.to_backend(a.astype(np.float32))
    if backend.name == "torch":
        return x.to(backend.module.bfloat16)
    if backend.name == "tensorflow":
        return backend.module.cast(x, "bfloat16")
    if backend.name == "jax":
        return x.astype("bfloat16")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return a.astype(ml_dtypes.bfloat16)


def test_low_precision_rows_are_summed_in_float32(backend):
    """0.5 + 0.50390625 rounds to exactly 1 in bfloat16, yet the row is 3.9e-3 off (tolerance 1e-3)."""
    rows = _bfloat16(backend, np.array([[0.5, 0.50390625], [0.5, 0.5]]))
    with pytest.raises(LabelValueError, match=r"labels row \(0,\) sums to 1\.0039\d* along axis 1"):
        lk.validate(backend.to_backend(L(2, 2)), rows)
    with pytest.raises(LabelValueError, match=r"labels row \(0,\) sums to 1\.0039"):
        lk.to_sparse(rows)
