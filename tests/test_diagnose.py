"""``lk.diagnose``: every diagnosis code, on every backend's arrays and from shapes alone.

``SHAPE_CASES`` are found from shapes and dtypes: each runs on every backend's arrays and again on the
bare shapes. ``VALUE_CASES`` need the values: each runs on every backend's arrays, and from shapes it
must say that values were not checked (and report no value problem). Every case checks the problem's
code, a piece of its message and a piece of its fix (the fix is written for the arrays' framework:
``fix`` maps a framework to the piece expected there, ``"*"`` for all of them).
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import numpy as np
import pytest

import labelkit as lk
from conftest import backend_named
from labelkit import _checks


class Case(NamedTuple):
    logits: Any  # a NumPy array (converted to each backend)
    labels: Any
    kwargs: dict[str, Any]
    code: str
    severity: str
    message: str  # a piece of the problem's message
    fix: dict[str, str]  # framework -> a piece of the fix ("*": any framework)


def f32(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=shape).astype(np.float32)


def ids(values: Any, dtype: str = "int64") -> np.ndarray:
    return np.asarray(values, dtype=dtype)


SHAPE_CASES: dict[str, Case] = {
    "column_labels": Case(
        f32(4, 5), ids([[1], [2], [0], [4]]), {}, "column_labels", "warning",
        "class ids with a size-1 axis (column labels)",
        {"torch": "torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1))",
         "tensorflow": "tf.squeeze(labels, axis=-1)",
         "jax": "optax.softmax_cross_entropy_with_integer_labels(logits, labels.squeeze(-1))",
         "numpy": "lk.one_hot(labels, like=logits)"}),
    "binary_labels_shape": Case(
        f32(4, 1), np.array([0, 1, 1, 0], np.float32), {}, "binary_labels_shape", "warning",
        "one binary target per example",
        {"torch": "torch.nn.BCEWithLogitsLoss()(logits, labels.reshape(logits.shape))",
         "tensorflow": "tf.reshape(labels, tf.shape(logits))",
         "jax": "optax.sigmoid_binary_cross_entropy(logits, labels.reshape(logits.shape))",
         "numpy": "labels.reshape(logits.shape)"}),
    "float_ids": Case(
        f32(4, 5), np.array([1, 2, 0, 4], np.float32), {}, "float_ids", "warning",
        "class ids stored as float32",
        {"torch": "labels.long()", "tensorflow": "tf.cast(labels, tf.int64)", "jax": "labels.astype(jnp.int32)",
         "numpy": "labels.astype(np.int64)"}),
    "labels_dtype-int32-ids-torch": Case(
        f32(4, 5), ids([1, 2, 0, 4], "int32"), {"framework": "torch"}, "labels_dtype", "warning",
        "torch.nn.CrossEntropyLoss needs int64", {"*": "labels.long()"}),
    "labels_dtype-int-rows-torch": Case(
        f32(4, 3), np.eye(3, dtype=np.int32)[[0, 1, 2, 0]], {"framework": "torch"}, "labels_dtype", "warning",
        "needs float targets", {"*": "labels.float()"}),
    "labels_dtype-complex": Case(
        f32(4, 5), np.array([1, 2, 0, 4], np.complex64), {}, "labels_dtype", "error",
        "dtype complex64 is not a real number type",
        {"torch": "labels.long()", "tensorflow": "tf.cast(labels, tf.int64)", "jax": "labels.astype(jnp.int32)",
         "numpy": "labels.astype(np.int64)"}),
    "logits_dtype-int": Case(
        ids([[1, 2, 3], [4, 5, 6]]), ids([0, 2]), {}, "logits_dtype", "warning",
        "logits have dtype int", {"torch": "logits.float()", "tensorflow": "tf.cast(logits, tf.float32)",
                                  "jax": "logits.astype(jnp.float32)", "numpy": "logits.astype(np.float32)"}),
    "logits_dtype-swapped": Case(
        ids([0, 1]), np.array([0.2, 0.8], np.float32), {}, "logits_dtype", "warning",
        "Did you swap logits and labels?", {"*": "lk.diagnose(logits, labels)  # logits first"}),
    "batch_mismatch": Case(
        f32(4, 5), ids([1, 2, 0, 4, 3, 3]), {}, "batch_mismatch", "error",
        "The batch sizes differ: 6 labels vs 4 logits", {"*": "same batch_size"}),
    "wrong_axis-channels-first": Case(
        f32(2, 5, 3, 3), np.zeros((2, 3, 3), np.int64), {}, "wrong_axis", "error",
        "The labels fit a class axis at 1 (channels-first logits): pass axis=1",
        {"torch": "torch.nn.CrossEntropyLoss()(logits, labels)",
         "tensorflow": "keras.ops.moveaxis(logits, 1, -1)",
         "jax": "optax.softmax_cross_entropy_with_integer_labels(logits, labels, axis=1)",
         "numpy": "lk.cross_entropy(logits, labels, axis=1)"}),
    "wrong_axis-channels-last": Case(
        f32(2, 3, 3, 5), np.zeros((2, 3, 3), np.int64), {"axis": 1}, "wrong_axis", "error",
        "channels-last logits): pass axis=-1",
        {"torch": "torch.nn.CrossEntropyLoss()(logits.movedim(-1, 1), labels)",
         "tensorflow": "keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)",
         "jax": "optax.softmax_cross_entropy_with_integer_labels(logits, labels)",
         "numpy": "lk.cross_entropy(logits, labels)"}),
    "class_count_mismatch": Case(
        f32(4, 5), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], {}, "class_count_mismatch", "error",
        "The labels have 3 columns but the logits have 5 classes",
        {"torch": "torch.nn.Linear(in_features, 3)", "tensorflow": "keras.layers.Dense(3)",
         "jax": "flax.nnx.Linear(in_features, 3", "numpy": "3 outputs"}),
    "class_count_mismatch-binary-one-hot": Case(
        f32(4, 1), np.eye(2, dtype=np.float32)[[0, 1, 1, 0]], {}, "class_count_mismatch", "error",
        "The labels have 2 columns but the logits have 1 class:", {"*": "labels[..., 1]"}),
    "extra_axis": Case(
        f32(2, 5, 3), np.zeros((2, 3, 1), np.int64), {"axis": 1}, "extra_axis", "error",
        "class ids with a trailing size-1 axis, but the class axis is 1",
        {"torch": "torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1))",
         "tensorflow": "tf.squeeze(labels, axis=-1)",
         "jax": "optax.softmax_cross_entropy_with_integer_labels(logits, labels.squeeze(-1), axis=1)",
         "numpy": "lk.cross_entropy(logits, labels.squeeze(-1), axis=1)"}),
    "ids_for_multilabel": Case(
        f32(4, 5), ids([1, 2, 0, 4]), {"task": "multilabel"}, "ids_for_multilabel", "error",
        "Multi-hot labels have the logits' shape", {"*": "lk.one_hot(labels, like=logits)"}),
    "rank_mismatch": Case(
        f32(4, 5), np.zeros((4, 5, 2), np.float32), {}, "rank_mismatch", "error",
        "The labels have more axes than the logits", {"*": "Labels for these logits have shape (4,)"}),
    "shape_mismatch": Case(
        f32(4, 6, 5), np.zeros((4, 7), np.int64), {}, "shape_mismatch", "error",
        "these logits accept labels of shape (4, 6) or (4, 6, 1) or (4, 6, 5)",
        {"*": "Labels for these logits have shape (4, 6) (class ids) or (4, 6, 5) (rows)"}),
    "task_mismatch": Case(
        f32(4, 5), np.zeros((4,), np.float32), {"task": "binary"}, "task_mismatch", "error",
        "task='binary' needs one logit per example", {"*": "task='multilabel'"}),
    "too_few_classes": Case(
        f32(4, 1), ids([0, 1, 1, 0]), {"task": "multiclass"}, "too_few_classes", "error",
        "task='multiclass' needs at least 2 classes",
        {"torch": "torch.nn.BCEWithLogitsLoss", "tensorflow": "keras.losses.BinaryCrossentropy",
         "jax": "optax.sigmoid_binary_cross_entropy", "numpy": "lk.binary_crossentropy"}),
    "single_example": Case(
        f32(5), np.int64(2), {}, "single_example", "error",
        "for one example's 5 class logits with a scalar class id", {"*": "task='multiclass'"}),
    "scalar_logits": Case(
        np.float32(1.5), ids([1]), {}, "scalar_logits", "error", "logits: got a scalar (shape ())",
        {"*": "logits[None]"}),
    "axis_out_of_range": Case(
        f32(4, 5), ids([1, 2, 0, 4]), {"axis": 3}, "axis_out_of_range", "error",
        "axis: 3 is out of range for logits of rank 2", {"*": "axis=1 (channels-first logits)"}),
    "wrong_loss-ids-to-dense-loss": Case(
        f32(4, 5), ids([[1], [2], [0], [4]]), {"loss": "categorical_crossentropy"}, "wrong_loss", "error",
        "categorical_crossentropy", {"torch": "torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1))",
                                     "tensorflow": "keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
                                     "jax": "optax.softmax_cross_entropy_with_integer_labels",
                                     "numpy": "lk.one_hot(labels, like=logits)"}),
    "wrong_loss-rows-to-sparse-loss": Case(
        f32(4, 3), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], {"loss": "sparse_categorical_crossentropy"},
        "wrong_loss", "error", "these labels are one-hot or probability rows",
        {"torch": "torch.nn.CrossEntropyLoss()(logits, labels)",
         "tensorflow": "keras.losses.CategoricalCrossentropy(from_logits=True)(labels, logits)",
         "jax": "optax.softmax_cross_entropy(logits, labels)", "numpy": "lk.to_sparse(labels)"}),
    "wrong_loss-softmax-on-one-logit": Case(
        f32(4, 1), np.array([0, 1, 1, 0], np.float32), {"loss": "categorical_crossentropy"}, "wrong_loss", "error",
        "A softmax over a single logit is always 1",
        {"torch": "torch.nn.BCEWithLogitsLoss()", "tensorflow": "keras.losses.BinaryCrossentropy(from_logits=True)",
         "jax": "optax.sigmoid_binary_cross_entropy", "numpy": "lk.cross_entropy(logits, labels)"}),
    "num_classes_mismatch": Case(
        f32(4, 5), ids([1, 2, 0, 4]), {"num_classes": 7}, "num_classes_mismatch", "error",
        "num_classes=7 but the logits have 5 classes", {"*": "7 outputs"}),
}

VALUE_CASES: dict[str, Case] = {
    "id_out_of_range-start-at-1": Case(
        f32(4, 5), ids([1, 5, 3, 2]), {}, "id_out_of_range", "error",
        "labels[1] is 5, outside the valid class ids 0..4 for 5 classes. The ids run 1..5: did they start at 1?",
        {"*": "labels - 1"}),
    "id_out_of_range-padding--100": Case(
        f32(4, 5), ids([1, -100, 3, 2]), {}, "id_out_of_range", "error",
        "-100 is PyTorch's padding id: pass ignore_index=-100",
        {"torch": "already ignores -100", "tensorflow": "ignore_class=-100",
         "jax": "lk.cross_entropy(logits, labels, ignore_index=-100)",
         "numpy": "lk.cross_entropy(logits, labels, ignore_index=-100)"}),
    "id_out_of_range-negative": Case(
        f32(4, 5), ids([1, -1, 3, 2]), {}, "id_out_of_range", "error",
        "Negative ids are never wrapped around", {"torch": "torch.nn.CrossEntropyLoss(ignore_index=-1)",
                                                  "*": "ignore_index=-1"}),
    "id_out_of_range-too-few-classes": Case(
        f32(4, 5), ids([0, 9, 3, 2]), {}, "id_out_of_range", "error",
        "The largest id is 9: the logits need at least 10 classes",
        {"torch": "torch.nn.Linear(in_features, 10)", "tensorflow": "keras.layers.Dense(10)", "*": "10 outputs"}),
    "non_integral_ids": Case(
        f32(4, 5), np.array([1.0, 2.5, 0.0, 4.0], np.float32), {}, "non_integral_ids", "error",
        "labels[1] is 2.5, which is not a whole number",
        {"torch": "labels.round().long()", "tensorflow": "tf.cast(tf.round(labels), tf.int64)",
         "jax": "jnp.round(labels).astype(jnp.int32)", "numpy": "np.round(labels).astype(np.int64)"}),
    "label_not_finite": Case(
        f32(3, 4), np.array([[0.5, 0.5, 0, 0], [np.nan, 0, 1, 0], [0, 0, 0, 1]], np.float32), {},
        "label_not_finite", "error", "labels[1, 0] is nan; labels must be finite numbers",
        {"torch": "torch.isfinite(labels)", "tensorflow": "tf.math.is_finite(labels)", "jax": "jnp.isfinite(labels)",
         "numpy": "np.isfinite(labels)"}),
    "negative_rows": Case(
        f32(2, 3), np.array([[1.5, -0.5, 0.0], [0, 1, 0]], np.float32), {}, "negative_rows", "error",
        "labels[0, 1] is -0.5; one-hot and probability rows must be ≥ 0",
        {"torch": "labels.softmax(-1)", "tensorflow": "tf.nn.softmax(labels, axis=-1)",
         "jax": "jax.nn.softmax(labels, axis=-1)", "numpy": "np.exp(labels)"}),
    "not_one_hot": Case(
        f32(2, 3), ids([[1, 1, 0], [0, 1, 0]]), {}, "not_one_hot", "error",
        "labels row (0,) has 2 ones along axis 1; a one-hot row has exactly one",
        {"torch": "torch.nn.BCEWithLogitsLoss()", "tensorflow": "keras.losses.BinaryCrossentropy(from_logits=True)",
         "jax": "optax.sigmoid_binary_cross_entropy", "numpy": 'lk.cross_entropy(logits, labels, task="multilabel")'}),
    "zero_row": Case(
        f32(2, 3), np.array([[0, 0, 0], [0, 1, 0]], np.float32), {}, "zero_row", "error",
        "labels row (0,) is all zeros",
        {"tensorflow": "tf.reduce_sum(labels, axis=-1) > 0", "*": "labels.sum(-1) > 0"}),
    "probs_not_normalised": Case(
        f32(2, 3), np.array([[0.2, 0.2, 0.2], [0, 1, 0]], np.float32), {}, "probs_not_normalised", "error",
        "labels row (0,) sums to 0.6 along axis 1",
        {"torch": "labels / labels.sum(-1, keepdim=True)",
         "tensorflow": "labels / tf.reduce_sum(labels, axis=-1, keepdims=True)",
         "*": "labels / labels.sum(-1, keepdims=True)"}),
    "target_out_of_range-binary": Case(
        f32(4, 1), ids([0, 1, 3, 1]), {}, "target_out_of_range", "error",
        "labels[2] is 3; binary targets must lie in [0, 1]", {"*": "softmax loss"}),
    "target_out_of_range-multilabel": Case(
        f32(2, 3), np.array([[0, 2, 1], [0, 1, 0]], np.float32), {"task": "multilabel"}, "target_out_of_range",
        "error", "labels[0, 1] is 2.0; multilabel targets must lie in [0, 1]", {"*": "lk.one_hot(class_ids"}),
    "logits_not_finite": Case(
        np.array([[0.0, np.nan, 1.0], [0.5, 0.5, np.inf]], np.float32), ids([0, 2]), {}, "logits_not_finite",
        "warning", "logits[0, 1] is nan: the logits hold 1 NaN and 1 Inf values. This is not a label error",
        {"torch": "torch.autograd.set_detect_anomaly(True)", "tensorflow": "tf.debugging.enable_check_numerics()",
         "jax": "jax.config.update('jax_debug_nans', True)", "numpy": "np.seterr(all='raise')"}),
}


def _expected_fix(case: Case, framework: str) -> str:
    return case.fix.get(framework, case.fix.get("*", ""))


def _framework(case: Case, backend_name: str) -> str:
    return case.kwargs.get("framework", backend_name)


def _problem(d: lk.Diagnosis, code: str) -> lk.Problem:
    matches = [p for p in d.problems if p.code == code]
    assert matches, f"expected a {code!r} problem, got {d.codes}:\n{d}"
    return matches[0]


def _check(d: lk.Diagnosis, case: Case, framework: str) -> None:
    p = _problem(d, case.code)
    assert p.severity == case.severity, str(d)
    assert case.message in p.message, p.message
    assert _expected_fix(case, framework) in p.fix, p.fix
    assert d.ok is (case.severity != "error" and all(q.severity != "error" for q in d.problems))
    assert d.framework == framework
    json.dumps(d.to_dict())  # JSON-ready
    text = str(d)
    assert case.code in text and ("ERROR" in text) is (not d.ok)


@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_shape_codes_on_arrays(name: str, backend: Any) -> None:
    case = SHAPE_CASES[name]
    d = lk.diagnose(backend.to_backend(case.logits), backend.to_backend(case.labels), **case.kwargs)
    _check(d, case, _framework(case, backend.name))


@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_shape_codes_from_shapes_alone(name: str) -> None:
    case = SHAPE_CASES[name]
    kwargs = dict(case.kwargs)
    kwargs.setdefault("framework", "numpy")
    d = lk.diagnose(tuple(np.shape(case.logits)), tuple(np.shape(case.labels)),
                    logits_dtype=np.asarray(case.logits).dtype.name, labels_dtype=np.asarray(case.labels).dtype.name,
                    **kwargs)
    _check(d, case, kwargs["framework"])
    assert not d.values_checked


@pytest.mark.parametrize("name", list(VALUE_CASES))
def test_value_codes_on_arrays(name: str, backend: Any) -> None:
    case = VALUE_CASES[name]
    d = lk.diagnose(backend.to_backend(case.logits), backend.to_backend(case.labels), **case.kwargs)
    _check(d, case, _framework(case, backend.name))
    assert d.values_checked
    assert d.spec is not None and d.spec.backend == backend.name


@pytest.mark.parametrize("name", list(VALUE_CASES))
def test_value_codes_need_values(name: str) -> None:
    case = VALUE_CASES[name]
    d = lk.diagnose(tuple(np.shape(case.logits)), tuple(np.shape(case.labels)),
                    labels_dtype=np.asarray(case.labels).dtype.name, **case.kwargs)
    assert case.code not in d.codes
    assert not d.values_checked
    assert "values    not checked (shapes and dtypes only)" in str(d)


# --- the headline story, the report and the JSON --------------------------------------------------


def test_headline_from_shapes() -> None:
    d = lk.diagnose((None, 1000), (None, 1), labels_dtype="int64")
    assert d.ok and d.codes == ("column_labels",)
    assert d.spec == lk.Spec("multiclass", "sparse", 1000, 1, True, "none")
    assert d.loss == "sparse_categorical_crossentropy"
    assert "target.shape=(None, 1), output.shape=(None, 1000)" in d.problems[0].message


@pytest.mark.parametrize(
    ("framework", "call"),
    [
        ("torch", "torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1))"),
        ("keras", "keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)"),
        ("jax", "optax.softmax_cross_entropy_with_integer_labels(logits, labels.squeeze(-1))"),
        ("numpy", "lk.cross_entropy(logits, labels)"),
    ],
)
def test_headline_native_call_per_framework(framework: str, call: str) -> None:
    d = lk.diagnose((None, 1000), (None, 1), labels_dtype="int64", framework=framework)
    assert d.native_call == call
    assert d.labelkit_call == "lk.cross_entropy(logits, labels)"


def test_headline_with_a_dense_loss_is_an_error() -> None:
    d = lk.diagnose((None, 1000), (None, 1), labels_dtype="int64", loss="categorical_crossentropy",
                    framework="keras")
    assert not d.ok and d.codes == ("wrong_loss",)
    assert d.problems[0].fix.startswith("keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)")


def test_sigmoid_loss_on_many_logits_means_multilabel() -> None:
    d = lk.diagnose((8, 5), (8, 5), labels_dtype="float32", loss="binary_crossentropy", framework="torch")
    assert d.ok and d.spec is not None and d.spec.task == "multilabel"
    assert d.native_call == "torch.nn.BCEWithLogitsLoss()(logits, labels)"


def test_a_clean_diagnosis(backend: Any) -> None:
    d = lk.diagnose(backend.to_backend(f32(4, 5)), backend.to_backend(ids([1, 2, 0, 4])))
    assert d.ok and d.problems == () and d.values_checked
    assert d.loss == lk.select_loss(backend.to_backend(f32(4, 5)), backend.to_backend(ids([1, 2, 0, 4]))).name
    assert str(d).startswith("labelkit diagnosis: OK: the labels fit the logits")


def test_every_problem_is_found_not_only_the_first() -> None:
    labels = np.array([1.0, 7.0, 2.5, np.nan], np.float32)
    d = lk.diagnose(np.array([[0, np.nan], [0, 0], [0, 0], [0, 0]], np.float32), labels)
    assert set(d.codes) == {"label_not_finite", "non_integral_ids", "id_out_of_range", "logits_not_finite"}
    assert d.codes[-1] == "logits_not_finite"  # errors first, then warnings
    assert "float_ids" not in d.codes  # not whole numbers: the error says it


def test_ignore_index_is_respected() -> None:
    d = lk.diagnose(f32(3, 5), ids([1, -100, 4]), ignore_index=-100, framework="torch")
    assert d.ok, str(d)
    assert d.native_call == "torch.nn.CrossEntropyLoss()(logits, labels)"


def test_num_classes_fills_an_unknown_class_axis() -> None:
    d = lk.diagnose((None, None), (None,), labels_dtype="int64", num_classes=7)
    assert d.ok and d.spec is not None and d.spec.num_classes == 7


def test_to_dict_is_json_ready() -> None:
    d = lk.diagnose(f32(4, 5), ids([1, 5, 3, 2]))
    out = json.loads(json.dumps(d.to_dict()))
    assert out["ok"] is False
    assert out["logits"] == {"shape": [4, 5], "dtype": "float32"}
    assert out["spec"]["label_format"] == "sparse"
    assert out["problems"][0]["code"] == "id_out_of_range"
    assert set(out["problems"][0]) == {"code", "severity", "message", "fix"}


def test_report_is_aligned_plain_text() -> None:
    text = str(lk.diagnose((None, 1000), (None, 1), labels_dtype="int64", framework="torch"))
    assert "\033[" not in text
    rows = text.split("\n\n")[0].splitlines()[1:]
    starts = {re.match(r"  \S+ +", line).end() for line in rows if not line.startswith("    ")}  # type: ignore[union-attr]
    assert len(rows) == 7 and len(starts) == 1, text  # every value starts in the same column
    assert "torch     torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1))" in text


# --- inputs diagnose never raises on ---------------------------------------------------------------


def test_not_an_array() -> None:
    d = lk.diagnose(f32(2, 3), object())
    assert d.codes == ("not_an_array",) and not d.ok
    assert "labels: expected an array" in d.problems[0].message
    assert "np.asarray(labels)" in d.problems[0].fix


def test_ragged_list() -> None:
    d = lk.diagnose(f32(2, 3), [[1], [1, 2]])
    assert d.codes == ("not_an_array",)
    assert "labels: could not read it as an array" in d.problems[0].message


def test_lists_are_data_and_tuples_are_shapes() -> None:
    assert lk.diagnose(f32(2, 3), [1, 2]).values_checked  # a list: the labels themselves
    d = lk.diagnose(f32(2, 3), (2,))  # a tuple of ints: a shape
    assert not d.values_checked and d.labels_shape == (2,)


def test_torch_size_and_minus_one_dims_are_shapes() -> None:
    d = lk.diagnose((-1, 10), (-1, 1), labels_dtype="int64")
    assert d.logits_shape == (None, 10) and d.labels_shape == (None, 1)


def test_mixed_frameworks() -> None:
    torch, jnp = backend_named("torch"), backend_named("jax")
    d = lk.diagnose(torch.to_backend(f32(4, 5)), jnp.to_backend(ids([1, 2, 0, 9])))
    assert "mixed_frameworks" in d.codes and not d.ok
    p = _problem(d, "mixed_frameworks")
    assert "logits are a torch array but labels are a jax array" in p.message
    assert "Convert the labels to torch" in p.fix
    assert d.spec is not None  # the shapes are still diagnosed


def test_unknown_rank() -> None:
    tf = backend_named("tensorflow").module
    d = lk.diagnose(tf.TensorShape(None), (None,))
    assert d.codes == ("unknown_rank",)
    assert "logits: the rank is unknown" in d.problems[0].message


def test_values_unchecked_when_a_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("device lost")

    monkeypatch.setattr("labelkit._diagnose.check_labels", broken)
    d = lk.diagnose(f32(2, 3), ids([0, 1]))
    assert d.codes == ("values_unchecked",) and d.ok
    assert "the values could not be checked: device lost" in d.problems[0].message
    assert "lk.validate(logits, labels)" in d.problems[0].fix


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "softmax"}, "task: expected one of"),
        ({"loss": "hinge"}, "loss: expected one of"),
        ({"framework": "mxnet"}, "framework: expected one of"),
        ({"axis": 1.0}, "axis: expected an int"),
        ({"ignore_index": "pad"}, "ignore_index: expected an int or None"),
        ({"num_classes": 0}, "num_classes: expected a positive int"),
        ({"labels_dtype": "int99"}, "labels_dtype: cannot read 'int99' as a dtype"),
    ],
)
def test_bad_keyword_arguments_raise(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(lk.ArgumentError, match=match):
        lk.diagnose((None, 10), (None,), **kwargs)


def test_raising_path_is_unchanged() -> None:
    """The collecting mode of the value checks leaves ``validate`` raising on the first problem."""
    with pytest.raises(lk.LabelValueError, match=r"labels\[1\] is 5, outside the valid class ids 0\.\.4"):
        lk.validate(f32(4, 5), ids([1, 5, 3, 2]))
    found: list[dict[str, Any]] = []
    spec = lk.infer(f32(4, 5), ids([1, 5, 3, 2]))
    from labelkit._dispatch import get_backend as backend_for

    _checks.check_labels(backend_for(ids([1])), spec, ids([1, 5, 3, 9]), mode="eager", found=found)
    assert [(f["code"], f["lo"], f["hi"]) for f in found] == [("id_out_of_range", 1, 9)]
