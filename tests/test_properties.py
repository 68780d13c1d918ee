"""Properties over drawn shapes, formats, dtypes (int8…int64, uint8, bool, integral floats) and ignore
ids: every backend gives exactly the oracle's outputs and the same ``Spec`` (but for ``.backend``).

Each property runs once per backend (the ``backend`` fixture); since every backend must equal the
same float64 oracle exactly, all backends agree with one another.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import labelkit as lk
import oracle
from strategies import ID_DTYPES, class_ids, label_cases, np_dtype_for_kind, shape_pairs


def spec_tuple(spec: lk.Spec) -> oracle.Expected:
    return oracle.Expected(spec.task, spec.label_format, spec.num_classes, spec.axis, spec.squeeze)


def expected_spec(case) -> oracle.Expected:
    spec = oracle.infer(case.logits.shape, case.labels.shape, labels_kind=case.labels_kind, task=case.task,
                        axis=case.axis)
    assert isinstance(spec, oracle.Expected), spec  # the strategies only draw fitting pairs
    return spec


def sparse_ids_of(case, spec: oracle.Expected) -> np.ndarray:
    return np.squeeze(case.labels, axis=spec.axis) if spec.squeeze else case.labels


@given(pair=shape_pairs())
def test_infer_matches_the_oracle(backend, pair):
    logits_shape, labels_shape, axis, task, kind = pair
    logits = backend.to_backend(np.zeros(logits_shape, np.float32))
    labels = backend.to_backend(np.zeros(labels_shape, np_dtype_for_kind(kind)))
    expected = oracle.infer(logits_shape, labels_shape, labels_kind=kind, task=task, axis=axis)
    if isinstance(expected, oracle.Rejected):
        with pytest.raises(lk.ShapeMismatchError, match=r"(labels have shape|logits: )"):
            lk.infer(logits, labels, task=task, axis=axis)
        return
    spec = lk.infer(logits, labels, task=task, axis=axis)
    assert spec_tuple(spec) == expected
    assert spec.backend == backend.name


@given(case=label_cases())
def test_validate_gives_the_oracle_spec(backend, case):
    spec = lk.validate(backend.to_backend(case.logits), backend.to_backend(case.labels), task=case.task,
                       axis=case.axis, ignore_index=case.ignore_index)
    assert spec_tuple(spec) == expected_spec(case)
    assert spec.backend == backend.name


@given(case=label_cases(formats=("sparse", "column")))
def test_one_hot_like_matches_the_oracle(backend, case):
    spec = expected_spec(case)
    out = lk.one_hot(backend.to_backend(case.labels), like=backend.to_backend(case.logits), axis=case.axis,
                     ignore_index=case.ignore_index)
    expected = oracle.one_hot(sparse_ids_of(case, spec), spec.num_classes, axis=case.axis,
                              ignore_index=case.ignore_index)
    assert backend.is_native(out)
    assert backend.dtype_name(out) == "float32"
    np.testing.assert_array_equal(backend.to_numpy(out), expected)


@given(case=label_cases(formats=("sparse",)), dtype=st.sampled_from(["float32", "int32", "bool"]))
def test_one_hot_matches_the_oracle(backend, case, dtype):
    c = case.num_classes
    out = lk.one_hot(backend.to_backend(case.labels), c, axis=case.axis, dtype=dtype, ignore_index=case.ignore_index)
    expected = oracle.one_hot(oracle.column_squeezed(case.labels), c, axis=case.axis, ignore_index=case.ignore_index)
    assert backend.dtype_name(out) == dtype
    np.testing.assert_array_equal(backend.to_numpy(out), expected.astype(dtype))


@given(data=st.data(), dtype=st.sampled_from(ID_DTYPES), c=st.integers(2, 6))
def test_unchecked_ids_out_of_range_give_zero_rows(backend, data, dtype, c):
    """check_values=False: every backend gives the same rows, all-zero for ids outside [0, C)."""
    shape = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 3)))
    ids = data.draw(class_ids(shape, c, dtype, valid=False))
    out = lk.one_hot(backend.to_backend(ids), c, check_values=False)
    np.testing.assert_array_equal(backend.to_numpy(out), oracle.one_hot(oracle.column_squeezed(ids), c))


@given(case=label_cases(formats=("one_hot", "probs")))
def test_to_sparse_matches_the_oracle(backend, case):
    out = lk.to_sparse(backend.to_backend(case.labels), axis=case.axis)
    assert backend.dtype_name(out) == backend.default_int
    np.testing.assert_array_equal(backend.to_numpy(out), oracle.to_sparse(case.labels, axis=case.axis))


@given(case=label_cases(), to=st.sampled_from(["sparse", "one_hot"]))
def test_align_matches_the_oracle(backend, case, to):
    spec = expected_spec(case)
    assume(not (to == "sparse" and spec.task == "multilabel"))  # refused; see test_ops
    out = lk.align(backend.to_backend(case.logits), backend.to_backend(case.labels), to=to, task=case.task,
                   axis=case.axis, ignore_index=case.ignore_index)
    expected = oracle.align(case.logits, case.labels, spec, to, case.ignore_index)
    assert backend.is_native(out)
    if to == "one_hot":
        assert backend.dtype_name(out) == "float32"  # the logits' dtype
        expected = expected.astype(np.float32)
    elif spec.label_format != "binary":
        assert backend.dtype_name(out) == backend.default_int
    else:
        expected = expected.astype(case.labels.dtype)  # binary targets keep their dtype
    np.testing.assert_array_equal(backend.to_numpy(out), expected)


@given(case=label_cases(formats=("sparse", "column", "binary"), axes=(-1,)))  # lk.squeeze: class-last logits
def test_squeeze_matches_the_oracle(backend, case):
    out = lk.squeeze(backend.to_backend(case.labels), backend.to_backend(case.logits))
    np.testing.assert_array_equal(backend.to_numpy(out), oracle.squeeze(case.labels, case.logits.shape))


@given(case=label_cases(formats=("column",)))
def test_column_labels_equal_their_squeezed_ids(backend, case):
    """(N, 1) is (N,): the same spec but for ``squeeze``, and the same one-hot rows."""
    spec = expected_spec(case)
    ids = sparse_ids_of(case, spec)
    logits = backend.to_backend(case.logits)
    col = lk.infer(logits, backend.to_backend(case.labels), axis=case.axis)
    flat = lk.infer(logits, backend.to_backend(ids), axis=case.axis)
    assert (col.squeeze, flat.squeeze) == (True, False)
    assert spec_tuple(col)[:4] == spec_tuple(flat)[:4]
    a = lk.one_hot(backend.to_backend(case.labels), like=logits, axis=case.axis, ignore_index=case.ignore_index)
    b = lk.one_hot(backend.to_backend(ids), like=logits, axis=case.axis, ignore_index=case.ignore_index)
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))


@given(case=label_cases(formats=("sparse", "column", "one_hot", "probs"), axes=(1,)))
def test_channels_first_equals_moveaxis(backend, case):
    """``axis=1`` on (N, C, ...) logits is ``axis=-1`` on the same logits with the class axis moved last."""
    assert case.axis == 1 and case.logits.ndim >= 3
    moved_logits = np.moveaxis(case.logits, 1, -1)
    moved_labels = case.labels if case.fmt == "sparse" else np.moveaxis(case.labels, 1, -1)  # column: (N, 1, ...)
    first = lk.align(backend.to_backend(case.logits), backend.to_backend(case.labels), to="one_hot", axis=1,
                     ignore_index=case.ignore_index)
    last = lk.align(backend.to_backend(moved_logits), backend.to_backend(moved_labels), to="one_hot",
                    ignore_index=case.ignore_index)
    np.testing.assert_array_equal(np.moveaxis(backend.to_numpy(first), 1, -1), backend.to_numpy(last))
