"""The eager fast path (``labelkit/_fast.py``) answers exactly as the general path does.

A call (``lk.one_hot(ids, C)``; a sparse ``lk.cross_entropy``, here without arguments; with
``ignore_index``, ``class_weight``, ``label_smoothing`` and the reductions in ``tests/test_fused_args.py``)
remembers the general path's decisions for its shapes, dtypes and arguments and skips them the next
time. Every drawn call here runs twice, through the fast path and with it switched off, and both
answers must agree: the same values, dtype and shape, or the same error with the same message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import labelkit as lk
from labelkit import _fast
from labelkit._checks import host_in_range
from labelkit._dispatch import get_backend
from labelkit.errors import LabelValueError
from strategies import INT_DTYPES, batch_shapes, class_ids, num_classes

CHECKS = ("auto", False, True)


@contextlib.contextmanager
def general_path() -> Iterator[None]:
    """Switches the fast path off for the block."""
    _fast.ENABLED = False
    try:
        yield
    finally:
        _fast.ENABLED = True


def outcome(backend: Any, fn: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call gives: ``("value", array, dtype, shape, native)`` or ``("error", type, message)``."""
    try:
        out = fn()
    except Exception as exc:  # the comparison needs whatever came out
        return "error", type(exc), str(exc)
    return "value", backend.to_numpy(out), backend.dtype_name(out), tuple(np.shape(out)), backend.is_native(out)


def assert_same(fast: tuple[Any, ...], general: tuple[Any, ...], *, exact: bool) -> None:
    assert fast[0] == general[0], (fast, general)
    if fast[0] == "error":
        assert fast[1:] == general[1:]
        return
    assert fast[2:] == general[2:], (fast[2:], general[2:])  # dtype, shape, framework
    if exact:
        np.testing.assert_array_equal(fast[1], general[1])
    else:
        # The fused mean and the general path's sum / count round differently in the last bits.
        np.testing.assert_allclose(fast[1], general[1], rtol=2e-6, atol=1e-7)


@st.composite
def sparse_calls(draw: Any) -> tuple[np.ndarray, np.ndarray, int, int, str, bool]:
    """Logits and integer ids (column or not, class axis last or 1), valid or possibly out of range."""
    s = draw(batch_shapes(min_rank=1, max_rank=3))
    c = draw(num_classes)
    if c > 7:
        s = s[:1]
    axis = draw(st.sampled_from([-1, 1])) if len(s) >= 2 else -1
    ax = len(s) if axis == -1 else axis
    dtype = draw(st.sampled_from(INT_DTYPES))
    valid = draw(st.booleans())
    ids = draw(class_ids(s, c, dtype, valid=valid))
    column = draw(st.booleans())
    labels = np.expand_dims(ids, ax) if column else ids
    seed = draw(st.integers(0, 2**16))
    logits = np.random.default_rng(seed).standard_normal(s[:ax] + (c,) + s[ax:]).astype(np.float32)
    return logits, labels, c, axis, dtype, column


@contextlib.contextmanager
def ids_on_a_device(backend: Any, device: bool) -> Iterator[None]:
    """With ``device``, the backend reports every array as off the host, so that the fast path takes its
    device flow (kernel first, then one read; no read with checks off) on this CPU. NumPy arrays are
    always on the host: it is left as it is. The checks read at once here, as on a backend that does not
    defer them (``Backend.defers_checks``); the deferred flow is tested in tests/test_device_checks.py."""
    if not device or backend.name == "numpy":
        yield
        return
    cls = type(get_backend(backend.to_backend(np.zeros(1))))
    saved = cls.on_host, cls.defers_checks
    cls.on_host = lambda self, x: False
    cls.defers_checks = False
    try:
        yield
    finally:
        cls.on_host, cls.defers_checks = saved


@given(case=sparse_calls(), check=st.sampled_from(CHECKS), device=st.booleans())
def test_cross_entropy_fast_equals_general(backend, case, check, device):
    logits, labels, _, axis, _, _ = case
    z, y = backend.to_backend(logits), backend.to_backend(labels)
    for fn in (
        lambda: lk.cross_entropy(z, y, axis=axis, check_values=check),
        lambda: lk.sparse_categorical_crossentropy(z, y, axis=axis, check_values=check),
    ):
        with ids_on_a_device(backend, device):
            fast = outcome(backend, fn)
            fast_again = outcome(backend, fn)  # the second call runs from the remembered plan
        with general_path():
            general = outcome(backend, fn)
        assert_same(fast, general, exact=False)
        assert_same(fast_again, general, exact=False)


@given(
    case=sparse_calls(), check=st.sampled_from(CHECKS), dtype=st.sampled_from([None, "float32", "int32", "bool"]),
    device=st.booleans(),
)
def test_one_hot_fast_equals_general(backend, case, check, dtype, device):
    _, labels, c, axis, _, column = case
    y = backend.to_backend(labels)
    out_axis = -1 if column else axis  # a column's trailing axis is squeezed: rank + 1 axes out

    def fn():
        return lk.one_hot(y, c, axis=out_axis, dtype=dtype, check_values=check)

    with ids_on_a_device(backend, device):
        fast = outcome(backend, fn)
        fast_again = outcome(backend, fn)
    with general_path():
        general = outcome(backend, fn)
    assert_same(fast, general, exact=True)
    assert_same(fast_again, general, exact=True)


def _no_general_path(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the general path ran")


def test_plain_calls_take_the_fast_path(backend, monkeypatch):
    """The second plain call never enters the general path (inference, conversion, checks)."""
    z = backend.to_backend(np.random.default_rng(0).standard_normal((32, 10)).astype(np.float32))
    y = backend.to_backend(np.arange(32) % 10, backend.default_int)
    col = backend.to_backend((np.arange(32) % 10)[:, None], backend.default_int)
    expected_loss = lk.cross_entropy(z, y)
    expected_rows = lk.one_hot(y, 10)
    lk.cross_entropy(z, col)
    monkeypatch.setattr("labelkit._losses.prepare", _no_general_path)
    monkeypatch.setattr("labelkit._ops.resolve", _no_general_path)
    assert float(backend.to_numpy(lk.cross_entropy(z, y))) == pytest.approx(float(backend.to_numpy(expected_loss)))
    assert float(backend.to_numpy(lk.cross_entropy(z, col))) == pytest.approx(float(backend.to_numpy(expected_loss)))
    for check in CHECKS:
        np.testing.assert_array_equal(
            backend.to_numpy(lk.one_hot(y, 10, check_values=check)), backend.to_numpy(expected_rows)
        )


def test_an_id_out_of_range_leaves_the_fast_path(backend):
    """The same shapes that ran fast before: an id out of range gets the general path's error or NaN."""
    z = backend.to_backend(np.zeros((4, 3), np.float32))
    good = backend.to_backend(np.array([0, 1, 2, 0]), backend.default_int)
    bad = backend.to_backend(np.array([0, 1, 3, 0]), backend.default_int)
    lk.cross_entropy(z, good)
    lk.one_hot(good, 3)
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 3"):
        lk.cross_entropy(z, bad)
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 3"):
        lk.one_hot(bad, 3)
    assert np.isnan(float(backend.to_numpy(lk.cross_entropy(z, bad, check_values=False))))
    rows = backend.to_numpy(lk.one_hot(bad, 3, check_values=False))
    np.testing.assert_array_equal(rows.sum(axis=1), [1, 1, 0, 1])


def test_one_hot_rows_are_fresh_arrays(backend):
    """Rows gathered from a cached identity are copies: changing one result never changes the next."""
    y = backend.to_backend(np.array([2, 0, 1]), backend.default_int)
    first = lk.one_hot(y, 3)
    if backend.name in ("numpy", "torch"):  # the frameworks whose arrays can be written in place
        first[0, 0] = 7
        first[0, 2] = 7
    second = backend.to_numpy(lk.one_hot(y, 3))
    np.testing.assert_array_equal(second, np.eye(3, dtype=np.float32)[[2, 0, 1]])
    assert first is not lk.one_hot(y, 3)


def test_tracing_never_takes_the_fast_path(framework, monkeypatch):
    """Under jax.jit and tf.function the arrays have no values: the general path answers, and no plan is made."""
    if framework.name == "torch":
        pytest.skip("torch.compile is covered by test_losses_tracing; torch has no cheap tracer to use here")
    z = framework.to_backend(np.zeros((4, 3), np.float32))
    y = framework.to_backend(np.array([0, 1, 2, 0]), framework.default_int)
    monkeypatch.setattr("labelkit._losses.prepare", _no_general_path)
    if framework.name == "jax":
        import jax

        traced = jax.jit(lambda a, b: lk.cross_entropy(a, b))
    else:
        import tensorflow as tf

        traced = tf.function(lambda a, b: lk.cross_entropy(a, b))
    with pytest.raises(AssertionError, match="the general path ran"):
        traced(z, y)


@pytest.mark.parametrize(
    "ids, c, expected",
    [
        (np.array([0, 4, 2], np.int64), 5, True),
        (np.array([0, 5, 2], np.int64), 5, False),
        (np.array([0, -1, 2], np.int64), 5, False),
        (np.array([-(2**63)], np.int64), 5, False),
        (np.array([0, -1], np.int8), 300, False),
        (np.array([0, 255], np.uint8), 300, True),
        (np.array([2**64 - 1], np.uint64), 5, False),
        (np.array([0, -1, 2], ">i8"), 5, False),  # big-endian: no unsigned view, min and max
        (np.array([0, 4, 2], ">i8"), 5, True),
        (np.array([True, False]), 2, True),
        (np.array([True]), 1, False),
    ],
    ids=["in-range", "c", "negative", "int64-min", "int8-negative", "uint8-wide-c", "uint64-max", "big-endian-neg",
         "big-endian-ok", "bool", "bool-c1"],
)
def test_host_in_range(ids, c, expected):
    assert host_in_range(ids, c) is expected


def test_one_hot_of_a_single_id_is_a_fresh_array(backend):
    """A 0-d id gathers one row: never a view of the cached identity (which a write would corrupt)."""
    one = lk.one_hot(backend.to_backend(np.array(2), backend.default_int), 5)
    if backend.name in ("numpy", "torch"):
        one[2] = 7
    rows = lk.one_hot(backend.to_backend(np.array([2, 0]), backend.default_int), 5)
    np.testing.assert_array_equal(backend.to_numpy(rows), np.eye(5, dtype=np.float32)[[2, 0]])
    np.testing.assert_array_equal(
        backend.to_numpy(lk.one_hot(backend.to_backend(np.array(2), backend.default_int), 5)), np.eye(5)[2]
    )


def test_one_hot_with_a_million_classes_builds_no_identity(backend):
    """Past the cached sizes, one-hot rows cost their own size, not C × C (here 4 TB)."""
    ids = backend.to_backend(np.array([1, 999_999]), backend.default_int)
    for check in CHECKS:
        rows = backend.to_numpy(lk.one_hot(ids, 1_000_000, check_values=check))
        assert rows.shape == (2, 1_000_000)
        np.testing.assert_array_equal(rows.argmax(axis=1), [1, 999_999])
        assert rows.sum() == 2


@pytest.mark.parametrize("check", CHECKS, ids=["auto", "unchecked", "checked"])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32", "bool"])
def test_one_hot_output_dtypes_agree_on_both_paths(backend, dtype, check):
    ids = backend.to_backend(np.array([2, 0, 4]), backend.default_int)

    def fn():
        return lk.one_hot(ids, 5, dtype=dtype, check_values=check)

    fast = outcome(backend, fn)
    with general_path():
        general = outcome(backend, fn)
    assert_same(fast, general, exact=True)


def test_vmapped_calls_go_the_general_way(backend):
    """Batched arrays of torch.func.vmap / jax.vmap / tf.vectorized_map hold no readable values: the
    fast path leaves them to the general path, with checks off as with them on."""
    if backend.name == "numpy":
        pytest.skip("NumPy has no vmap")
    logits = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    ids = np.array([[0, 1, 2, 3], [4, 0, 1, 2], [3, 4, 0, 1]])
    z, y = backend.to_backend(logits), backend.to_backend(ids, backend.default_int)

    def per_example(a, b):
        return lk.cross_entropy(a, b, check_values=False), lk.one_hot(b, 5, check_values=False)

    if backend.name == "torch":
        import torch

        loss, rows = torch.func.vmap(per_example)(z, y)
    elif backend.name == "jax":
        import jax

        loss, rows = jax.vmap(per_example)(z, y)
    else:
        import tensorflow as tf

        loss, rows = tf.vectorized_map(lambda t: per_example(*t), (z, y))
    expected = [float(lk.cross_entropy(logits[i], ids[i])) for i in range(3)]
    np.testing.assert_allclose(backend.to_numpy(loss), expected, rtol=1e-5)
    np.testing.assert_array_equal(backend.to_numpy(rows), np.eye(5)[ids])


def test_masked_ids_one_hot_are_refused_by_name():
    """A NumPy masked array's hidden ids would pass the checks (NumPy's min and max skip them): SPEC
    "Value checks" refuses masked labels by name, on the fast path as on the general one."""
    with pytest.raises(lk.LabelValueError, match=r"labels: a NumPy masked array with 1 masked entry"):
        lk.one_hot(np.ma.array([1, 7], mask=[False, True]), 3)


def test_an_unchecked_id_out_of_range_keeps_the_general_gradient(backend):
    """The mean is NaN, and the valid elements keep their gradient, as on the general path: on the host
    and on a device alike."""
    if backend.name == "numpy":
        pytest.skip("NumPy has no gradient")
    from loss_helpers import value_and_grad

    logits = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    y = backend.to_backend(np.array([0, 1, 2, 5]), backend.default_int)

    def grads() -> np.ndarray:
        return value_and_grad(backend, lambda z: lk.cross_entropy(z, y, check_values=False), backend.to_backend(logits))

    for device in (False, True):
        with ids_on_a_device(backend, device):
            loss, fast = grads()
        with general_path():
            _, general = grads()
        assert np.isnan(float(backend.to_numpy(loss)))
        np.testing.assert_allclose(fast, general, rtol=1e-6, atol=1e-7)
        assert np.abs(general[:3]).sum() > 0 and not np.any(general[3])


def test_checks_with_ignored_ids_read_once(backend, monkeypatch):
    """The value check of ids with ``ignore_index`` among them takes the happy path (one read, the
    predicate the fast path shares: ``labelkit._checks.counted_ids``), not a mask of comparisons and an
    ``any``; small batches (a list) and large ones (a host copy)."""
    z_small = backend.to_backend(np.zeros((6, 4), np.float32))
    z_big = backend.to_backend(np.zeros((5000, 4), np.float32))
    small = backend.to_backend(np.array([0, -100, 3, 2, -100, 1]), backend.default_int)
    big = backend.to_backend(np.where(np.arange(5000) % 7 == 0, -100, np.arange(5000) % 4), backend.default_int)
    cls = type(get_backend(z_small))
    monkeypatch.setattr(cls, "any", _no_general_path)  # the mask path's any(bad)
    assert lk.validate(z_small, small, ignore_index=-100).num_classes == 4
    assert lk.validate(z_big, big, ignore_index=-100).num_classes == 4
    monkeypatch.undo()
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 4"):
        lk.validate(z_small, backend.to_backend(np.array([0, -100, 4, 2, -100, 1]), backend.default_int),
                    ignore_index=-100)
