"""Format inference, table-driven: every rule of SPEC "Inference", accepted and rejected, on every backend.

``CASES`` maps a readable id to (logits shape, labels shape, labels dtype, keyword arguments, what
``lk.infer`` must return). The expected ``Spec`` is written out by hand; ``oracle.infer`` is checked
against the same table, so that the property tests can trust it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
import pytest

import labelkit as lk
import oracle
from conftest import backend_named
from labelkit._spec import infer_from_shapes


class Raises(NamedTuple):
    error: type[Exception]
    match: str


def E(task: str, fmt: str, c: int | None, axis: int, squeeze: bool) -> oracle.Expected:
    return oracle.Expected(task, fmt, c, axis, squeeze)


# id: (logits shape, labels shape, labels dtype, kwargs, expected)
CASES: dict[str, tuple[tuple, tuple, str, dict[str, Any], Any]] = {
    # Rule 2, (N, C) logits: ids, column ids, dense rows.
    "NC-sparse": ((8, 5), (8,), "int64", {}, E("multiclass", "sparse", 5, 1, False)),
    "NC-column": ((8, 5), (8, 1), "int64", {}, E("multiclass", "sparse", 5, 1, True)),
    "NC-one_hot-float": ((8, 5), (8, 5), "float32", {}, E("multiclass", "dense", 5, 1, False)),
    "NC-one_hot-int": ((8, 5), (8, 5), "int32", {}, E("multiclass", "dense", 5, 1, False)),
    "NC-two-classes": ((8, 2), (8,), "int64", {}, E("multiclass", "sparse", 2, 1, False)),
    "headline-(32,1000)-(32,1)": ((32, 1000), (32, 1), "int64", {}, E("multiclass", "sparse", 1000, 1, True)),
    "batch-of-one-sparse": ((1, 5), (1,), "int64", {}, E("multiclass", "sparse", 5, 1, False)),
    "batch-of-one-column": ((1, 5), (1, 1), "int64", {}, E("multiclass", "sparse", 5, 1, True)),
    # Rule 4: any integer dtype, bool, and floats of a sparse shape.
    "NC-sparse-int8": ((8, 5), (8,), "int8", {}, E("multiclass", "sparse", 5, 1, False)),
    "NC-sparse-uint8": ((8, 5), (8,), "uint8", {}, E("multiclass", "sparse", 5, 1, False)),
    "NC-sparse-bool": ((8, 5), (8,), "bool", {}, E("multiclass", "sparse", 5, 1, False)),
    "NC-sparse-float32": ((8, 5), (8,), "float32", {}, E("multiclass", "sparse", 5, 1, False)),
    "NC-column-float64": ((8, 5), (8, 1), "float64", {}, E("multiclass", "sparse", 5, 1, True)),
    # Sequences (N, T, C).
    "NTC-sparse": ((4, 6, 5), (4, 6), "int64", {}, E("multiclass", "sparse", 5, 2, False)),
    "NTC-column": ((4, 6, 5), (4, 6, 1), "int64", {}, E("multiclass", "sparse", 5, 2, True)),
    "NTC-dense": ((4, 6, 5), (4, 6, 5), "float32", {}, E("multiclass", "dense", 5, 2, False)),
    # Rule 1: binary, one logit per example.
    "binary-(N,)-(N,)": ((8,), (8,), "float32", {}, E("binary", "binary", 2, 1, False)),
    "binary-(N,)-(N,1)": ((8,), (8, 1), "int64", {}, E("binary", "binary", 2, 1, True)),
    "binary-(N,1)-(N,)": ((8, 1), (8,), "float32", {}, E("binary", "binary", 2, 1, False)),
    "binary-(N,1)-(N,1)": ((8, 1), (8, 1), "bool", {}, E("binary", "binary", 2, 1, True)),
    "binary-(N,T,1)-(N,T)": ((4, 6, 1), (4, 6), "float32", {}, E("binary", "binary", 2, 2, False)),
    "binary-explicit": ((8, 1), (8,), "int64", {"task": "binary"}, E("binary", "binary", 2, 1, False)),
    "binary-explicit-rank1": ((8,), (8, 1), "uint8", {"task": "binary"}, E("binary", "binary", 2, 1, True)),
    # Channels-first with axis=1.
    "NCHW-sparse-axis1": ((2, 5, 4, 3), (2, 4, 3), "int64", {"axis": 1}, E("multiclass", "sparse", 5, 1, False)),
    "NCHW-column-axis1": ((2, 5, 4, 3), (2, 1, 4, 3), "int64", {"axis": 1}, E("multiclass", "sparse", 5, 1, True)),
    "NCHW-dense-axis1": ((2, 5, 4, 3), (2, 5, 4, 3), "float32", {"axis": 1}, E("multiclass", "dense", 5, 1, False)),
    "NCHW-sparse-axis-3": ((2, 5, 4, 3), (2, 4, 3), "int64", {"axis": -3}, E("multiclass", "sparse", 5, 1, False)),
    "NCT-binary-axis1": ((2, 1, 7), (2, 7), "float32", {"axis": 1}, E("binary", "binary", 2, 1, False)),
    # Rule 5: an explicit task wins; multilabel only when asked.
    "NC-multilabel": ((8, 5), (8, 5), "float32", {"task": "multilabel"}, E("multilabel", "dense", 5, 1, False)),
    "NC-multilabel-int": ((8, 5), (8, 5), "int64", {"task": "multilabel"}, E("multilabel", "dense", 5, 1, False)),
    "NTC-multilabel": ((4, 6, 5), (4, 6, 5), "bool", {"task": "multilabel"}, E("multilabel", "dense", 5, 2, False)),
    "NCHW-multilabel-axis1": (
        (2, 5, 4, 3), (2, 5, 4, 3), "float32", {"task": "multilabel", "axis": 1}, E("multilabel", "dense", 5, 1, False)
    ),
    "NC-multiclass-explicit": ((8, 5), (8,), "int64", {"task": "multiclass"}, E("multiclass", "sparse", 5, 1, False)),
    "C-multiclass-one-example": ((5,), (), "int64", {"task": "multiclass"}, E("multiclass", "sparse", 5, 0, False)),
    # Rule 3: rejected shapes, each with the shapes these logits accept and the nearest fix.
    "reject-batch-32-vs-64": (
        (32, 10), (64,), "int64", {},
        Raises(lk.ShapeMismatchError, r"batch sizes differ: 64 labels vs 32 logits"),
    ),
    "reject-batch-column-32-vs-64": (
        (32, 10), (64, 1), "int64", {},
        Raises(lk.ShapeMismatchError, r"accept labels of shape \(32,\) or \(32, 1\) or \(32, 10\).*batch sizes differ"),
    ),
    "reject-channels-first-without-axis": (
        (2, 5, 4, 3), (2, 4, 3), "int64", {},
        Raises(lk.ShapeMismatchError, r"labels have shape \(2, 4, 3\) but logits have shape \(2, 5, 4, 3\).*axis=1"),
    ),
    "reject-channels-first-column-without-axis": (
        (2, 5, 4, 3), (2, 1, 4, 3), "int64", {},
        Raises(lk.ShapeMismatchError, r"channels-first.*pass axis=1"),
    ),
    "reject-channels-last-with-axis1": (
        (2, 4, 3, 5), (2, 4, 3), "int64", {"axis": 1},
        Raises(lk.ShapeMismatchError, r"channels-last.*pass axis=-1"),
    ),
    "reject-class-count-differs": (
        (8, 5), (8, 6), "float32", {},
        Raises(lk.ShapeMismatchError, r"6 columns but the logits have 5 classes"),
    ),
    "reject-extra-size-1-axis": (
        (8, 5), (8, 1, 1), "int64", {},
        Raises(lk.ShapeMismatchError, r"extra size-1 axis.*squeeze"),
    ),
    "reject-more-axes": (
        (8, 5), (8, 5, 3), "float32", {},
        Raises(lk.ShapeMismatchError, r"more axes than the logits"),
    ),
    "reject-NTC-with-N": (
        (4, 6, 5), (4,), "int64", {},
        Raises(lk.ShapeMismatchError, r"accept labels of shape \(4, 6\) or \(4, 6, 1\) or \(4, 6, 5\)"),
    ),
    "reject-scalar-labels": (
        (8, 5), (), "int64", {},
        Raises(lk.ShapeMismatchError, r"labels have shape \(\) but logits have shape \(8, 5\)"),
    ),
    "reject-scalar-logits": ((), (), "int64", {}, Raises(lk.ShapeMismatchError, r"logits: got a scalar")),
    "reject-binary-(N,)-(N,2)": (
        (8,), (8, 2), "float32", {},
        Raises(lk.ShapeMismatchError, r"task 'binary'.*accept labels of shape \(8,\) or \(8, 1\)"),
    ),
    "reject-binary-(N,1)-(N,2)": (
        (8, 1), (8, 2), "float32", {},
        Raises(lk.ShapeMismatchError, r"accept labels of shape \(8,\) or \(8, 1\)"),
    ),
    "reject-binary-task-with-5-classes": (
        (8, 5), (8,), "int64", {"task": "binary"},
        Raises(lk.ShapeMismatchError, r"task='binary' needs one logit per example.*task='multilabel'"),
    ),
    "reject-multiclass-task-with-1-class": (
        (8, 1), (8,), "int64", {"task": "multiclass"},
        Raises(lk.ShapeMismatchError, r"task='multiclass' needs at least 2 classes"),
    ),
    "reject-multilabel-with-ids": (
        (8, 5), (8,), "int64", {"task": "multilabel"},
        Raises(lk.ShapeMismatchError, r"Multi-hot labels have the logits' shape.*lk\.one_hot"),
    ),
    "reject-multilabel-with-column": (
        (8, 5), (8, 1), "int64", {"task": "multilabel"},
        Raises(lk.ShapeMismatchError, r"accept labels of shape \(8, 5\)"),
    ),
}

ACCEPTED = {k: v for k, v in CASES.items() if not isinstance(v[4], Raises)}
REJECTED = {k: v for k, v in CASES.items() if isinstance(v[4], Raises)}


def _valid_labels(shape: tuple, dtype: str, expected: oracle.Expected) -> np.ndarray:
    """Labels of ``shape`` whose values pass the checks for ``expected``."""
    if expected.label_format == "dense" and expected.task == "multiclass":
        rows = np.zeros(shape, dtype=np.float64)
        rows[(slice(None),) * expected.axis + (0,)] = 1.0
        return rows.astype(dtype)
    return np.zeros(shape, dtype=dtype)


def _arrays(backend, logits_shape, labels_shape, dtype, expected=None):
    logits = backend.to_backend(np.zeros(logits_shape, dtype=np.float32))
    if expected is not None:
        labels = _valid_labels(labels_shape, dtype, expected)
    else:
        labels = np.zeros(labels_shape, dtype=dtype)
    return logits, backend.to_backend(labels)


@pytest.mark.parametrize("case", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_infer_accepts(backend, case):
    logits_shape, labels_shape, dtype, kwargs, expected = case
    logits, labels = _arrays(backend, logits_shape, labels_shape, dtype)
    spec = lk.infer(logits, labels, **kwargs)
    assert isinstance(spec, lk.Spec)
    assert oracle.Expected(spec.task, spec.label_format, spec.num_classes, spec.axis, spec.squeeze) == expected
    assert spec.backend == backend.name


@pytest.mark.parametrize("case", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_validate_returns_the_inferred_spec(backend, case):
    logits_shape, labels_shape, dtype, kwargs, expected = case
    logits, labels = _arrays(backend, logits_shape, labels_shape, dtype, expected)
    assert lk.validate(logits, labels, **kwargs) == lk.infer(logits, labels, **kwargs)


@pytest.mark.parametrize("case", list(REJECTED.values()), ids=list(REJECTED))
def test_infer_rejects(backend, case):
    logits_shape, labels_shape, dtype, kwargs, expected = case
    logits, labels = _arrays(backend, logits_shape, labels_shape, dtype)
    with pytest.raises(expected.error, match=expected.match):
        lk.infer(logits, labels, **kwargs)
    with pytest.raises(expected.error, match=expected.match):
        lk.validate(logits, labels, **kwargs)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_oracle_agrees_with_the_table(case):
    """The property tests compare the library with ``oracle.infer``: it must read the table as we do."""
    logits_shape, labels_shape, dtype, kwargs, expected = case
    kind = "f" if np.dtype(dtype).kind == "f" else "i"
    got = oracle.infer(logits_shape, labels_shape, labels_kind=kind, **kwargs)
    if isinstance(expected, Raises):
        assert isinstance(got, oracle.Rejected)
    else:
        assert got == expected


# --- None dims (shapes as tf.function and jax see them while tracing) ----------------------------

NONE_CASES: dict[str, tuple[tuple | None, tuple | None, str, dict[str, Any], Any]] = {
    "(None,1000)-(None,1)": ((None, 1000), (None, 1), "int64", {}, E("multiclass", "sparse", 1000, 1, True)),
    "(None,1000)-(None,)": ((None, 1000), (None,), "int64", {}, E("multiclass", "sparse", 1000, 1, False)),
    "(None,1000)-(None,1000)": ((None, 1000), (None, 1000), "float32", {}, E("multiclass", "dense", 1000, 1, False)),
    "(None,1000)-(None,None)-int": ((None, 1000), (None, None), "int64", {}, E("multiclass", "sparse", 1000, 1, True)),
    # Rule 6: never guessed from the dtype (Keras casts every label to float); read at run time.
    "(None,1000)-(None,None)-float": (
        (None, 1000), (None, None), "float32", {}, E("multiclass", "sparse", 1000, 1, True)
    ),
    "(None,None)-(None,)": ((None, None), (None,), "int64", {}, E("multiclass", "sparse", None, 1, False)),
    "(None,None)-(None,1)": ((None, None), (None, 1), "int64", {}, E("multiclass", "sparse", None, 1, True)),
    "(None,None)-(None,7)": ((None, None), (None, 7), "float32", {}, E("multiclass", "dense", 7, 1, False)),
    "(None,None,5)-(None,None)": ((None, None, 5), (None, None), "int64", {}, E("multiclass", "sparse", 5, 2, False)),
    "(None,)-(None,)": ((None,), (None,), "float32", {}, E("binary", "binary", 2, 1, False)),
    "(None,)-(None,1)": ((None,), (None, 1), "float32", {}, E("binary", "binary", 2, 1, True)),
    "(None,1)-(None,)": ((None, 1), (None,), "float32", {}, E("binary", "binary", 2, 1, False)),
    "(None,5,None,None)-axis1": (
        (None, 5, None, None), (None, None, None), "int64", {"axis": 1}, E("multiclass", "sparse", 5, 1, False)
    ),
    "(None,None)-multilabel": (
        (None, None), (None, None), "float32", {"task": "multilabel"}, E("multilabel", "dense", None, 1, False)
    ),
    "reject-(32,None)-(64,)": (
        (32, None), (64,), "int64", {}, Raises(lk.ShapeMismatchError, r"batch sizes differ: 64 labels vs 32 logits")
    ),
    "reject-(None,1000)-(None,5)": (
        (None, 1000), (None, 5), "float32", {}, Raises(lk.ShapeMismatchError, r"5 columns but the logits have 1000")
    ),
    "reject-(None,None)-(None,)-multilabel": (
        (None, None), (None,), "int64", {"task": "multilabel"},
        Raises(lk.ShapeMismatchError, r"Multi-hot labels have the logits' shape"),
    ),
    "reject-unknown-rank": (
        (None, 1000), None, "int64", {}, Raises(lk.ShapeMismatchError, r"labels: the rank is unknown.*input_signature")
    ),
}


@pytest.mark.parametrize("case", list(NONE_CASES.values()), ids=list(NONE_CASES))
def test_infer_with_none_dims(case):
    logits_shape, labels_shape, dtype, kwargs, expected = case
    if isinstance(expected, Raises):
        with pytest.raises(expected.error, match=expected.match):
            infer_from_shapes(logits_shape, labels_shape, labels_dtype=dtype, **kwargs)
        return
    spec = infer_from_shapes(logits_shape, labels_shape, labels_dtype=dtype, **kwargs)
    assert oracle.Expected(spec.task, spec.label_format, spec.num_classes, spec.axis, spec.squeeze) == expected
    kind = "f" if np.dtype(dtype).kind == "f" else "i"
    assert oracle.infer(logits_shape, labels_shape, labels_kind=kind, **kwargs) == expected


@pytest.mark.parametrize("case", list(NONE_CASES.values()), ids=list(NONE_CASES))
def test_infer_with_none_dims_inside_tf_function(case):
    """The same table, on symbolic tensors of a ``tf.function`` with an ``input_signature``."""
    tf = backend_named("tensorflow").module
    logits_shape, labels_shape, dtype, kwargs, expected = case
    found = []

    @tf.function(input_signature=[tf.TensorSpec(logits_shape, tf.float32), tf.TensorSpec(labels_shape, dtype)])
    def f(logits, labels):
        found.append(lk.infer(logits, labels, **kwargs))
        return logits

    if isinstance(expected, Raises):
        with pytest.raises(expected.error, match=expected.match):
            f.get_concrete_function()
        return
    f.get_concrete_function()
    (spec,) = found
    assert oracle.Expected(spec.task, spec.label_format, spec.num_classes, spec.axis, spec.squeeze) == expected
    assert spec.backend == "tensorflow"


# --- the Spec itself -----------------------------------------------------------------------------


def test_spec_is_frozen_and_reads_as_one_line(backend):
    logits, labels = _arrays(backend, (32, 1000), (32, 1), "int64")
    spec = lk.infer(logits, labels)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.task = "binary"
    text = str(spec)
    assert "\n" not in text
    assert text == (
        f"multiclass: sparse class ids, squeezed from a size-1 axis; 1000 classes on axis 1; backend {backend.name}"
    )


def test_spec_is_the_same_on_every_backend_but_for_its_name(backend):
    logits, labels = _arrays(backend, (2, 5, 4, 3), (2, 1, 4, 3), "int32")
    reference = lk.infer(np.zeros((2, 5, 4, 3), np.float32), np.zeros((2, 1, 4, 3), np.int32), axis=1)
    spec = lk.infer(logits, labels, axis=1)
    assert dataclasses.replace(spec, backend="numpy") == reference
