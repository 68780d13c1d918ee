"""Sparse losses with arguments take the framework's fused kernel and answer exactly as the general path.

A sparse ``lk.cross_entropy`` with ``ignore_index``, ``class_weight`` or any reduction runs, on
concrete arrays, from a remembered plan into the backend's fused kernel (``Backend.sparse_ce``: one
``F.cross_entropy`` on PyTorch); ``label_smoothing`` is composed by the general path (PyTorch's kernel
overflows at float32 extremes). Every drawn call here, smoothing included, runs three ways:

* fast: the default (the plan, then the fused kernel), twice, so that the second runs from the plan;
* general: the fast path switched off (``labelkit._fast.ENABLED = False``);
* composed: the general path with the fused kernel switched off too (the loss built from
  ``log_softmax`` and gathers), which is how the other backends compute it.

fast and general give the same values (bit for bit for ``"none"``; a sum or a mean may add in another
order), dtypes, shapes and errors, and general equals composed to float32 precision, values
and gradients alike, at the edges too: every element ignored, ``D = 0``, ``D < 0``, an
``ignore_index`` outside ``[0, C)``, narrow and unsigned ids, column ids.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from labelkit.backends import Backend as BackendBase

import labelkit as lk
from labelkit._dispatch import get_backend
from loss_helpers import float_input, value_and_grad
from strategies import INT_DTYPES, batch_shapes, class_ids
from test_fast_path import general_path, ids_on_a_device

CHECKS = ("auto", False, True)
REDUCTIONS = ("mean", "sum", "none")
WEIGHTS = ("none", "positive", "some zero", "mixed signs", "all zero")
RTOL, ATOL = 1e-5, 1e-6


@contextlib.contextmanager
def composed(backend: Any) -> Iterator[None]:
    """The general path with the backend's fused ``sparse_ce`` taken away (the ``Backend`` default)."""
    cls = type(get_backend(backend.to_backend(np.zeros(1, np.float32))))
    saved = cls.__dict__.get("sparse_ce")
    cls.sparse_ce = BackendBase.sparse_ce
    try:
        with general_path():
            yield
    finally:
        if saved is None:
            del cls.sparse_ce
        else:
            cls.sparse_ce = saved


def outcome(backend: Any, fn: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call gives: ``("value", float64 array, dtype, shape, native)`` or ``("error", type, message)``."""
    try:
        out = fn()
    except Exception as exc:  # the comparison needs whatever came out
        return "error", type(exc), str(exc)
    values = np.asarray(backend.to_numpy(out), dtype=np.float64)
    return "value", values, backend.dtype_name(out), tuple(np.shape(out)), backend.is_native(out)


def assert_same(got: tuple[Any, ...], want: tuple[Any, ...], *, exact: bool) -> None:
    assert got[0] == want[0], (got, want)
    if got[0] == "error":
        assert got[1:] == want[1:]
        return
    assert got[2:] == want[2:], (got[2:], want[2:])  # dtype, shape, framework
    if exact:
        np.testing.assert_array_equal(got[1], want[1])
    else:
        np.testing.assert_allclose(got[1], want[1], rtol=RTOL, atol=ATOL)


def fits(value: int, dtype: str) -> bool:
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


def weights_for(kind: str, c: int, rng: np.random.Generator) -> np.ndarray | None:
    if kind == "none":
        return None
    w = rng.uniform(0.5, 2.0, size=c)
    if kind == "some zero":
        w[rng.uniform(size=c) < 0.5] = 0.0
    elif kind == "mixed signs":
        w[::2] *= -1.0
    elif kind == "all zero":
        w[:] = 0.0
    return w.astype(np.float32)


@st.composite
def fused_calls(draw: Any) -> dict[str, Any]:
    """Logits, ids (column or not, class axis last or 1, some ignored or all, valid or not) and arguments."""
    s = draw(batch_shapes(min_rank=1, max_rank=3))
    c = draw(st.sampled_from([2, 3, 5, 300]))
    if c > 7:
        s = s[:1]
    axis = draw(st.sampled_from([-1, 1])) if len(s) >= 2 else -1
    ax = len(s) if axis == -1 else axis
    dtype = draw(st.sampled_from(INT_DTYPES))
    # In range (ignores a class), PyTorch's default, -1, beyond C, beyond any int32 (matches nothing).
    ignore = draw(st.sampled_from([None, -100, -1, 0, c + 2, 255, 2**40]))
    valid = draw(st.sampled_from([True, True, True, False]))
    held = ignore if ignore is not None and fits(ignore, dtype) else None
    ids = draw(class_ids(s, c, dtype, ignore_index=held, valid=valid))
    if held is not None and draw(st.sampled_from([False, False, False, True])):
        ids = np.full(s, held, dtype=dtype)  # every element ignored
    column = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return {
        "logits": rng.standard_normal(s[:ax] + (c,) + s[ax:]) * 3.0,
        "labels": np.expand_dims(ids, ax) if column else ids,
        "axis": axis,
        "ignore_index": ignore,
        "weight": weights_for(draw(st.sampled_from(WEIGHTS)), c, rng),
        "weight_as_list": draw(st.sampled_from([False, False, False, True])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1, 1.0])),
        "reduction": draw(st.sampled_from(REDUCTIONS)),
        "check_values": draw(st.sampled_from(CHECKS)),
        "dtype": draw(st.sampled_from(["float32", "float32", "float64", "float16"])),
    }


def loss_fn(backend: Any, case: dict[str, Any]) -> Callable[[Any], Any]:
    y = backend.to_backend(case["labels"])
    w = case["weight"]
    if w is not None:
        w = w.tolist() if case["weight_as_list"] else backend.to_backend(w)
    kwargs = {k: case[k] for k in ("axis", "ignore_index", "label_smoothing", "reduction", "check_values")}

    def fn(z: Any) -> Any:
        return lk.cross_entropy(z, y, class_weight=w, **kwargs)

    return fn


@given(case=fused_calls(), device=st.booleans())
def test_fused_values_equal_the_general_path(backend, case, device):
    z = float_input(backend, case["logits"], case["dtype"])
    fn = loss_fn(backend, case)
    with ids_on_a_device(backend, device):  # the flow of ids in a GPU's memory, simulated on the CPU
        fast = outcome(backend, lambda: fn(z))
        fast_again = outcome(backend, lambda: fn(z))  # from the remembered plan
    with general_path():
        general = outcome(backend, lambda: fn(z))
    with composed(backend):
        reference = outcome(backend, lambda: fn(z))
    exact = case["reduction"] == "none"
    assert_same(fast, general, exact=exact)
    assert_same(fast_again, general, exact=exact)
    assert_same(general, reference, exact=False)


@given(case=fused_calls())
def test_fused_gradients_equal_the_general_path(backend, case):
    if backend.name == "numpy":
        pytest.skip("NumPy has no gradient")
    z = float_input(backend, case["logits"], "float32")
    fn = loss_fn(backend, case)

    def grads() -> tuple[Any, ...]:
        try:
            loss, grad = value_and_grad(backend, fn, z)
        except Exception as exc:  # the same error both ways
            return "error", type(exc), str(exc)
        return "value", np.asarray(backend.to_numpy(loss), np.float64), grad

    fast = grads()
    with general_path():
        general = grads()
    with composed(backend):
        reference = grads()
    for got in (fast, reference):
        assert got[0] == general[0]
        if got[0] == "error":
            assert got[1:] == general[1:]
            continue
        np.testing.assert_allclose(got[1], general[1], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(got[2], general[2], rtol=RTOL, atol=ATOL)


# --- the edges, one by one -------------------------------------------------------------------------


def _edge(backend: Any, ids: list[int], weight: list[float] | None, reduction: str = "mean", **kw: Any) -> Any:
    """The loss and gradient of fixed logits with these ids, fast path first, then checked against the
    general path; returns the fast ``(loss, gradient)``."""
    logits = np.random.default_rng(3).standard_normal((len(ids), len(weight) if weight else 3)).astype(np.float32)
    y = backend.to_backend(np.array(ids), backend.default_int)
    w = None if weight is None else backend.to_backend(np.array(weight, np.float32))

    def fn(z: Any) -> Any:
        return lk.cross_entropy(z, y, class_weight=w, reduction=reduction, **kw)

    z = backend.to_backend(logits)
    fast = value_and_grad(backend, fn, z)
    with general_path():
        general = value_and_grad(backend, fn, z)
    np.testing.assert_allclose(backend.to_numpy(fast[0]), backend.to_numpy(general[0]), rtol=RTOL, atol=ATOL)
    if fast[1] is not None:
        np.testing.assert_allclose(fast[1], general[1], rtol=RTOL, atol=ATOL)
    return backend.to_numpy(fast[0]), fast[1]


def test_every_element_ignored_gives_zero_with_a_zero_gradient(backend):
    for weight in (None, [1.0, 2.0, 3.0]):
        for ignore_index in (-100, 0):  # outside the classes, and a class id (a count of in-range ids)
            loss, grad = _edge(backend, [ignore_index] * 3, weight, ignore_index=ignore_index)
            assert float(loss) == 0.0
            assert grad is None or not np.any(grad)


def test_zero_denominator_gives_zero_with_a_zero_gradient(backend):
    """D = Σ w[y_i] = 0: class weights of 0 for every counted element, or weights that cancel."""
    loss, grad = _edge(backend, [1, 1, -100], [1.0, 0.0, 2.0], ignore_index=-100)
    assert float(loss) == 0.0
    assert grad is None or not np.any(grad)
    loss, grad = _edge(backend, [0, 1], [1.0, -1.0, 2.0])
    assert float(loss) == 0.0
    assert grad is None or not np.any(grad)
    # Weights that cancel with ignore_index given: on PyTorch the kernel checks these ids itself and
    # labelkit reads only its result (x / 0 is ±inf there, not NaN).
    loss, grad = _edge(backend, [0, 1, -100], [1.0, -1.0, 2.0], ignore_index=-100)
    assert float(loss) == 0.0
    assert grad is None or not np.any(grad)


def test_negative_denominator_is_used_as_it_is(backend):
    """D < 0 (negative weights): the mean is the sum over D, as in PyTorch, and equals sum / count_valid."""
    ids, weight = [0, 1, 1], [1.0, -2.0, 0.5]
    mean, _ = _edge(backend, ids, weight)
    total, _ = _edge(backend, ids, weight, reduction="sum")
    assert float(mean) == pytest.approx(float(total) / (1.0 - 2.0 - 2.0), rel=1e-6)


@pytest.mark.parametrize("ignore_index", [-100, 7, 2**40], ids=["torch-default", "beyond-c", "beyond-int32"])
def test_ignore_index_outside_the_classes(backend, ignore_index):
    ids = [0, 2, 1, ignore_index] if ignore_index < 2**31 else [0, 2, 1, 1]
    for reduction in REDUCTIONS:
        loss, _ = _edge(backend, ids, None, reduction=reduction, ignore_index=ignore_index, label_smoothing=0.1)
        if reduction == "none" and ignore_index < 2**31:
            assert loss[3] == 0.0


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32"])
@pytest.mark.parametrize("ignore_index", [None, -100, 200], ids=["no-ignore", "negative", "200"])
def test_narrow_ids_and_column_ids(backend, dtype, ignore_index):
    """Narrow ids never wrap (uint8 never equals -100; int8 cannot hold 200) and column ids are squeezed."""
    c = 5
    raw = np.array([0, 4, 2, 3, 1, 0])
    if ignore_index is not None and fits(ignore_index, dtype):
        raw[[1, 4]] = ignore_index
    z = backend.to_backend(np.random.default_rng(4).standard_normal((6, c)).astype(np.float32))
    w = backend.to_backend(np.linspace(0.5, 1.5, c).astype(np.float32))
    for labels in (raw.astype(dtype), raw.astype(dtype)[:, None]):
        y = backend.to_backend(labels)
        for reduction in REDUCTIONS:

            def fn(y=y, reduction=reduction):
                return lk.cross_entropy(
                    z, y, ignore_index=ignore_index, class_weight=w, label_smoothing=0.2, reduction=reduction
                )

            fast = outcome(backend, fn)
            with general_path():
                general = outcome(backend, fn)
            with composed(backend):
                reference = outcome(backend, fn)
            assert_same(fast, general, exact=reduction == "none")
            assert_same(general, reference, exact=False)


def test_an_id_out_of_range_after_a_fast_call_gets_the_general_error(backend):
    z = backend.to_backend(np.zeros((4, 3), np.float32))
    w = backend.to_backend(np.array([1.0, 2.0, 3.0], np.float32))
    good = backend.to_backend(np.array([0, -100, 2, 1]), backend.default_int)
    bad = backend.to_backend(np.array([0, -100, 3, 1]), backend.default_int)
    kw = {"ignore_index": -100, "class_weight": w, "label_smoothing": 0.1}
    lk.cross_entropy(z, good, **kw)
    with pytest.raises(lk.LabelValueError, match=r"labels\[2\] is 3"):
        lk.cross_entropy(z, bad, **kw)
    assert np.isnan(float(backend.to_numpy(lk.cross_entropy(z, bad, check_values=False, **kw))))


def test_weights_changed_in_place_are_read_again(backend):
    """The fast path remembers whether the weights are all > 0 per version of the weights; a weight set
    to 0 in place must be seen (here D becomes 0: the mean is 0, not NaN)."""
    if backend.name not in ("numpy", "torch"):
        pytest.skip("only NumPy and PyTorch arrays can be written in place")
    z = backend.to_backend(np.random.default_rng(5).standard_normal((3, 3)).astype(np.float32))
    y = backend.to_backend(np.array([1, 1, 1]), backend.default_int)
    w = backend.to_backend(np.array([1.0, 2.0, 3.0], np.float32))
    first = float(backend.to_numpy(lk.cross_entropy(z, y, class_weight=w)))
    assert first > 0
    w[1] = 0.0
    assert float(backend.to_numpy(lk.cross_entropy(z, y, class_weight=w))) == 0.0


@pytest.mark.parametrize("write", ["data", "shared-numpy-buffer"])
def test_torch_weights_changed_without_a_version_bump_are_read_again(write):
    """Writes through ``.data`` or through a NumPy array sharing the tensor's memory leave torch's
    ``_version`` as it was: the weights' signs must still be read again (D becomes 0: 0, not NaN)."""
    torch = pytest.importorskip("torch")
    z = torch.randn(3, 3, generator=torch.Generator().manual_seed(5), requires_grad=True)
    y = torch.tensor([1, 1, 1])
    arr = np.array([1.0, 2.0, 3.0], np.float32)
    w = torch.from_numpy(arr) if write == "shared-numpy-buffer" else torch.tensor(arr)
    assert float(lk.cross_entropy(z, y, class_weight=w)) > 0
    if write == "data":
        w.data[1] = 0.0
    else:
        arr[1] = 0.0
    loss = lk.cross_entropy(z, y, class_weight=w)
    loss.backward()
    assert float(loss) == 0.0
    assert torch.all(z.grad == 0)
    # The same through the module, whose repeat call reads no weights (ignore_index given: the kernel
    # checks the ids, labelkit reads its result).
    import labelkit.torch as lkt

    module = lkt.CrossEntropyLoss(weight=w)
    w.data[1] = 2.0
    assert float(module(z, y)) > 0 and float(module(z, y)) > 0
    w.data[1] = 0.0
    assert float(module(z, y)) == 0.0


# --- what the fast path calls ----------------------------------------------------------------------


def _no_general_path(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the general path ran")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_arguments_take_the_fast_path(backend, monkeypatch, reduction):
    """With the backend's fused kernel (PyTorch; TensorFlow's eager one), ignored ids, weights and every
    reduction on checked ids skip the general path from the second call on; without one (JAX), only the
    plain mean does. Smoothing too where the kernel scales before it sums (TensorFlow's); PyTorch's
    overflows at float32 extremes, and smoothing is composed by the general path there."""
    z = backend.to_backend(np.random.default_rng(6).standard_normal((8, 5)).astype(np.float32))
    ids = np.arange(8) % 5
    y = backend.to_backend(ids, backend.default_int)
    padded = ids.copy()
    padded[[1, 6]] = -100
    yp = backend.to_backend(padded, backend.default_int)
    w = backend.to_backend(np.linspace(0.5, 2.0, 5).astype(np.float32))
    calls = [
        lambda: lk.cross_entropy(z, y, reduction=reduction),
        lambda: lk.cross_entropy(z, yp, ignore_index=-100, reduction=reduction),
        lambda: lk.cross_entropy(z, yp, ignore_index=-100, class_weight=w, reduction=reduction),
        lambda: lk.cross_entropy(z, yp, ignore_index=-100, label_smoothing=0.1, reduction=reduction),
    ]
    expected = [backend.to_numpy(f()) for f in calls]
    lkb = get_backend(z)
    fused = type(lkb).sparse_ce is not BackendBase.sparse_ce
    monkeypatch.setattr("labelkit._losses.prepare", _no_general_path)
    for i, f in enumerate(calls):
        if (fused and (i < 3 or lkb.sparse_ce_smooths)) or (i == 0 and reduction == "mean"):
            np.testing.assert_allclose(backend.to_numpy(f()), expected[i], rtol=1e-6)
        else:
            with pytest.raises(AssertionError, match="the general path ran"):
                f()


class _CountOps:
    """Counts the aten ops run inside the block (a ``TorchDispatchMode``)."""

    def __init__(self, torch: Any) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        counts: dict[str, int] = {}

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                counts[str(func)] = counts.get(str(func), 0) + 1
                return func(*args, **(kwargs or {}))

        self.counts = counts
        self.mode = Mode()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"ignore_index": None}, {"weight": "w"}, {"reduction": "sum"}, {"reduction": "none"}],
    ids=["defaults", "no-ignore", "weight", "sum", "none"],
)
def test_module_runs_no_more_ops_than_torch(backend, kwargs):
    """``labelkit.torch.CrossEntropyLoss`` forward+backward runs the ops of ``torch.nn.CrossEntropyLoss``
    with the same arguments, plus at most 2 (the ``detach`` of reading the ids on the host)."""
    if backend.name != "torch":
        pytest.skip("the PyTorch module")
    import torch

    import labelkit.torch as lkt

    w = torch.linspace(0.5, 2.0, 10)
    kw = {k: (w if v == "w" else v) for k, v in kwargs.items()}
    native_kw = {k: v for k, v in kw.items() if v is not None}
    z = torch.randn(128, 10, requires_grad=True)
    ids = torch.randint(0, 10, (128,))
    ids[::9] = -100 if kw.get("ignore_index", -100) is not None else 0
    counts = {}
    for name, loss in (("native", torch.nn.CrossEntropyLoss(**native_kw)), ("labelkit", lkt.CrossEntropyLoss(**kw))):
        loss(z, ids).sum().backward()  # the plan is made here
        counter = _CountOps(torch)
        with counter.mode:
            loss(z, ids).sum().backward()
        counts[name] = counter
    assert counts["labelkit"].total <= counts["native"].total + 2, (counts["labelkit"].counts, counts["native"].counts)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_an_ignore_index_beyond_int32_never_matches_int32_ids(backend, reduction):
    """Found by the CI profile: TensorFlow's fused expression compared int32 ids with 2**40, which TF
    wrapped to 0, so every class-0 id was ignored (a sum of 0, a mean of NaN). No id can equal it."""
    z = np.random.default_rng(8).standard_normal((3, 2)).astype(np.float32)
    ids = np.array([0, 0, 1], np.int32)
    want = [float(np.sum(backend.to_numpy(lk.cross_entropy(backend.to_backend(z), backend.to_backend(ids),
                                                           reduction=reduction))))]
    for _ in range(2):  # the first call builds the plan, the second runs from it
        got = lk.cross_entropy(backend.to_backend(z), backend.to_backend(ids), ignore_index=2**40,
                               reduction=reduction)
        np.testing.assert_allclose([float(np.sum(backend.to_numpy(got)))], want, rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore", [None, -100], ids=["no-ignore", "ignore"])
def test_smoothing_where_a_kernel_overflows_is_composed(backend, reduction, ignore):
    """PyTorch's kernel sums the C log-probabilities before it scales them by ε/C: with float32 logits at
    -2e38 the sum overflows (torch: inf) where labelkit's loss, scaled first, is finite. The fused result is
    read (host memory) and the composed loss answers instead, on the fast path and the general path."""
    from loss_oracle import sparse as oracle_sparse

    z = np.array([[0.0, -2e38, -2e38, -2e38], [1.0, 2.0, 3.0, 4.0], [0.5, 0.0, -1.0, 2.0]], np.float32)
    ids = np.array([0, 2, -100 if ignore is not None else 1])
    want = oracle_sparse(z.astype(np.float64), ids, ignore_index=ignore, label_smoothing=0.1, reduction=reduction)
    y = backend.to_backend(ids, backend.default_int)
    for _ in range(2):  # the first call builds the plan, the second runs from it
        out = backend.to_numpy(lk.cross_entropy(backend.to_backend(z), y, label_smoothing=0.1, ignore_index=ignore,
                                                reduction=reduction))
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, want.value, rtol=1e-5)
