"""Leftovers of the accuracy/unknown-width work: one rule for ``ignore_index`` with labels that hold no
class ids (written once, in ``prepare``), ``diagnose`` and ``select_loss`` on labels of unknown width."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import labelkit as lk
from conftest import backend_named

N, C = 4, 3
Z = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0], [0.5, 0.2, 0.1]], "float32")
IDS = np.array([0, 2, 2, 1])
ONE_HOT = np.eye(C, dtype="float32")[IDS]

# name -> (logits, labels, kw, what the message names)
DENSE = {
    "one-hot": (Z, ONE_HOT, {}, "one-hot or probability rows of shape (4, 3)"),
    "multi-hot": (Z, (ONE_HOT + np.eye(C, dtype="float32")[[1, 0, 0, 0]]).clip(0, 1), {"task": "multilabel"},
                  "multi-hot rows of shape (4, 3)"),
    "binary": (Z[:, :1], np.array([[1.0], [0.0], [1.0], [0.0]], "float32"), {}, "binary targets of shape (4, 1)"),
}

# Every function that infers labels: all refuse the same ignore_index the losses refuse.
FUNCTIONS = {
    "cross_entropy": lambda z, y, **kw: lk.cross_entropy(z, y, **kw),
    "validate": lambda z, y, **kw: lk.validate(z, y, **kw),
    "align-sparse": lambda z, y, **kw: lk.align(z, y, to="sparse", **kw),
    "align-one_hot": lambda z, y, **kw: lk.align(z, y, to="one_hot", **kw),
    "accuracy": lambda z, y, **kw: lk.accuracy(z, y, **kw),
    "accuracy-none": lambda z, y, **kw: lk.accuracy(z, y, reduction="none", **kw),
    "count_valid": lambda z, y, **kw: lk.count_valid(z, y, **kw),
}


@pytest.mark.parametrize("fn", list(FUNCTIONS))
@pytest.mark.parametrize("fmt", list(DENSE))
def test_ignore_index_with_labels_without_ids_is_refused_everywhere(backend: Any, fmt: str, fn: str) -> None:
    z, y, kw, what = DENSE[fmt]
    if fmt == "multi-hot" and fn == "align-sparse":
        pytest.skip("multi-hot rows have no sparse layout (a ShapeMismatchError of its own)")
    with pytest.raises(lk.ArgumentError, match=rf"ignore_index=3 was given, but the labels are {re.escape(what)}"):
        FUNCTIONS[fn](backend.to_backend(z), backend.to_backend(y), ignore_index=3, **kw)


@pytest.mark.parametrize("fn", list(FUNCTIONS))
@pytest.mark.parametrize("fmt", list(DENSE))
def test_torch_default_ignore_index_with_labels_without_ids_is_accepted(backend: Any, fmt: str, fn: str) -> None:
    z, y, kw, _ = DENSE[fmt]
    if fmt == "multi-hot" and fn == "align-sparse":
        pytest.skip("multi-hot rows have no sparse layout")
    plain = FUNCTIONS[fn](backend.to_backend(z), backend.to_backend(y), **kw)
    with_default = FUNCTIONS[fn](backend.to_backend(z), backend.to_backend(y), ignore_index=-100, **kw)
    if fn == "validate":
        assert with_default == plain
    else:
        np.testing.assert_array_equal(backend.to_numpy(with_default), backend.to_numpy(plain))


def test_the_fixed_format_loss_says_the_format_first(backend: Any) -> None:
    """Rows given to the sparse loss: the format error (more specific) comes before the ignore_index one."""
    z, y = backend.to_backend(Z), backend.to_backend(ONE_HOT)
    with pytest.raises(lk.ShapeMismatchError, match="a sparse loss was asked for"):
        lk.sparse_categorical_crossentropy(z, y, ignore_index=3)
    with pytest.raises(lk.ArgumentError, match="ignore_index=3 was given, but the labels are one-hot"):
        lk.cross_entropy(z, y, ignore_index=3)


def test_sparse_ids_still_take_any_ignore_index(backend: Any) -> None:
    z, y = backend.to_backend(Z), backend.to_backend(IDS)
    acc = lk.accuracy(z, y, ignore_index=2, reduction="none")
    np.testing.assert_array_equal(backend.to_numpy(acc), [1.0, 0.0, 0.0, 0.0])
    assert lk.validate(z, y, ignore_index=2).label_format == "sparse"


# --- labels of unknown width on TensorFlow: decided when the graph runs, as before ----------------


def test_deferred_multiclass_labels_keep_ignore_index_on_tensorflow() -> None:
    tf = backend_named("tensorflow").module

    @tf.function(input_signature=[tf.TensorSpec((None, C), tf.float32), tf.TensorSpec((None, None), tf.float32)])
    def acc(z: Any, y: Any) -> Any:
        return lk.accuracy(z, y, ignore_index=2, reduction="none")

    out = acc(tf.constant(Z), tf.constant(IDS[:, None].astype("float32")))
    np.testing.assert_array_equal(out.numpy(), [1.0, 0.0, 0.0, 0.0])


# --- diagnose and select_loss on labels of unknown width (SPEC "Inference", rule 6) -------------

WIDTH_FIX = "Give the labels a static shape, e.g. tf.TensorSpec((None,), tf.int64) (class ids) or (None, 1000) (rows)"


@pytest.mark.parametrize("framework", ["numpy", "tensorflow", "keras"])
def test_diagnose_says_the_label_width_is_unknown(framework: str) -> None:
    d = lk.diagnose((None, 1000), (None, None), framework=framework)
    assert d.codes == ("unknown_label_width",)
    assert d.ok  # TensorFlow reads the width at run time
    p = d.problems[0]
    assert p.severity == "warning"
    assert "unknown size on the class axis 1" in p.message
    assert "class ids where it is 1, one-hot/probability rows where it is 1000" in p.message
    assert "ShapeMismatchError at trace time" in p.message
    assert p.fix.startswith(WIDTH_FIX)
    # Neither loss fits both widths: none is named (the sparse one fails on rows).
    assert d.loss is None and d.native_call is None
    assert d.labelkit_call == "lk.cross_entropy(logits, labels)"
    assert "sparse_categorical_crossentropy" not in str(d).split("WARNING")[0]


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_diagnose_unknown_label_width_is_an_error_where_it_must_be_static(framework: str) -> None:
    d = lk.diagnose((None, 1000), (None, None), framework=framework)
    assert not d.ok and d.codes == ("unknown_label_width",)
    fix = "Give the labels a static shape, e.g. (None,) (class ids) or (None, 1000) (rows), when tracing or exporting."
    assert d.problems[0].fix == fix


def test_diagnose_unknown_width_of_binary_targets_keeps_its_one_loss() -> None:
    d = lk.diagnose((None, 1), (None, None), framework="keras")
    assert d.codes == ("unknown_label_width",) and d.ok
    assert d.loss == "binary_crossentropy"
    assert "binary targets, checked to be 1 wide" in d.problems[0].message
    assert "tf.TensorSpec((None,), tf.float32)" in d.problems[0].fix


def test_diagnose_and_select_loss_of_traced_labels_of_unknown_width_on_tensorflow() -> None:
    tf = backend_named("tensorflow").module
    seen: dict[str, Any] = {}

    @tf.function(input_signature=[tf.TensorSpec((None, 1000), tf.float32), tf.TensorSpec((None, None), tf.float32)])
    def f(z: Any, y: Any) -> Any:
        seen["diagnosis"] = lk.diagnose(z, y)
        try:
            seen["select_loss"] = lk.select_loss(z, y).name
        except lk.ShapeMismatchError as exc:
            seen["select_loss"] = exc
        return lk.cross_entropy(z, y)

    f(tf.zeros((2, 1000)), tf.zeros((2, 1)))
    d = seen["diagnosis"]
    assert d.framework == "tensorflow" and d.codes == ("unknown_label_width",) and d.loss is None
    assert d.problems[0].fix.startswith(WIDTH_FIX)
    exc = seen["select_loss"]
    assert isinstance(exc, lk.ShapeMismatchError), exc
    assert "whose size on the class axis 1 is unknown while tracing" in str(exc)
    assert "Give the labels a static shape: e.g. tf.TensorSpec((None,), tf.int64) for class ids or (None, 1000)" \
           in str(exc)


def test_select_loss_of_binary_targets_of_unknown_width_on_tensorflow() -> None:
    """One loss whatever the width (it is checked to be 1 at run time): still chosen."""
    tf = backend_named("tensorflow").module
    seen: dict[str, Any] = {}

    @tf.function(input_signature=[tf.TensorSpec((None, 1), tf.float32), tf.TensorSpec((None, None), tf.float32)])
    def f(z: Any, y: Any) -> Any:
        seen["name"] = lk.select_loss(z, y).name
        return z

    f(tf.zeros((2, 1)), tf.zeros((2, 1)))
    assert seen["name"] == "binary_crossentropy"
