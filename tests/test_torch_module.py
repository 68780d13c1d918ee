"""``labelkit.torch.CrossEntropyLoss``: a drop-in for ``torch.nn.CrossEntropyLoss`` taking any label format.

Where PyTorch and labelkit agree, the module equals PyTorch's (values and gradients); where SPEC departs
(probability targets with ``weight``; an all-ignored mean) it equals a float64 NumPy oracle.
"""

from __future__ import annotations

import inspect
import io
import pickle
import subprocess
import sys
import warnings
import zlib
from typing import Any

import numpy as np
import pytest

import labelkit as lk
from conftest import backend_named

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def torch() -> Any:
    return backend_named("torch").module


@pytest.fixture(scope="module")
def lkt(torch: Any) -> Any:
    import labelkit.torch

    return labelkit.torch


def _ids(rng: np.random.Generator, shape: tuple[int, ...], c: int, ignore: float = 0.0) -> np.ndarray:
    ids = rng.integers(0, c, size=shape)
    ids[rng.uniform(size=shape) < ignore] = -100
    return ids


# id: (input shape (class axis 1), target layout, keyword arguments, fraction ignored)
#   target layouts: "ids" — torch's own (N, d1..); "column" — ids with a size-1 axis at dim 1 (labelkit
#   only; PyTorch is given the same ids without it); "probs" — rows of the input's shape.
AGREE: dict[str, tuple[tuple[int, ...], str, dict[str, Any], float]] = {
    "NC-ids": ((8, 5), "ids", {}, 0.0),
    "NC-column": ((8, 5), "column", {}, 0.0),
    "NC-column-sum": ((8, 5), "column", {"reduction": "sum"}, 0.0),
    "NC-column-none": ((8, 5), "column", {"reduction": "none"}, 0.0),
    "NC-column-ignore": ((8, 5), "column", {}, 0.3),
    "NC-column-weight": ((8, 5), "column", {"weight": True}, 0.0),
    "NC-column-weight-ignore-smoothing": ((8, 5), "column", {"weight": True, "label_smoothing": 0.2}, 0.3),
    "NC-column-weight-ignore-smoothing-sum": (
        (8, 5), "column", {"weight": True, "label_smoothing": 0.2, "reduction": "sum"}, 0.3,
    ),
    "NC-ids-ignore-none": ((8, 5), "ids", {"reduction": "none"}, 0.3),
    "NC-ignore_index-3": ((8, 5), "ids", {"ignore_index": 3}, 0.0),
    "NCHW-ids": ((2, 4, 3, 5), "ids", {}, 0.0),
    "NCHW-column-weight-ignore": ((2, 4, 3, 5), "column", {"weight": True}, 0.25),
    "NCHW-column-none": ((2, 4, 3, 5), "column", {"reduction": "none"}, 0.25),
    "NC-probs": ((8, 5), "probs", {}, 0.0),
    "NC-probs-smoothing-sum": ((8, 5), "probs", {"label_smoothing": 0.1, "reduction": "sum"}, 0.0),
    "NCT-probs-none": ((3, 5, 4), "probs", {"reduction": "none"}, 0.0),
    "unbatched-C-ids": ((5,), "ids", {}, 0.0),
    "unbatched-C-ids-none": ((5,), "ids", {"reduction": "none"}, 0.0),
    "unbatched-C-probs": ((5,), "probs", {}, 0.0),
}


def _make(torch: Any, rng: np.random.Generator, shape: tuple[int, ...], layout: str, ignore: float,
          dtype: Any) -> tuple[Any, Any, Any]:
    """(input, labelkit target, PyTorch target)."""
    x = torch.tensor(rng.normal(size=shape) * 2, dtype=dtype, requires_grad=True)
    c = shape[0] if len(shape) == 1 else shape[1]
    batch = () if len(shape) == 1 else (shape[0], *shape[2:])
    if layout == "probs":
        p = rng.dirichlet(np.ones(c), size=batch or None)
        p = np.moveaxis(p, -1, 0 if len(shape) == 1 else 1)
        t = torch.tensor(p, dtype=dtype)
        return x, t, t
    ids = torch.tensor(_ids(rng, batch, c, ignore))
    ours = ids.unsqueeze(1) if layout == "column" else ids
    return x, ours, ids


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(AGREE), ids=list(AGREE))
def test_equals_torch_cross_entropy_loss(torch: Any, lkt: Any, case: str, dtype: str) -> None:
    shape, layout, kwargs, ignore = AGREE[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    kwargs = dict(kwargs)
    c = shape[0] if len(shape) == 1 else shape[1]
    if kwargs.pop("weight", False):
        kwargs["weight"] = torch.tensor(rng.uniform(0.2, 3.0, size=c), dtype=getattr(torch, dtype))
    x, ours_t, torch_t = _make(torch, rng, shape, layout, ignore, getattr(torch, dtype))
    x2 = x.detach().clone().requires_grad_(True)
    ours = lkt.CrossEntropyLoss(**kwargs)(x, ours_t)
    theirs = torch.nn.CrossEntropyLoss(**kwargs)(x2, torch_t)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=ATOL)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=RTOL, atol=ATOL)


def _np_log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_probability_targets_with_weight_follow_spec(torch: Any, lkt: Any, reduction: str) -> None:
    # PyTorch divides the weighted mean by N for probability targets; SPEC by Σ_i Σ_c w_c t_ic, so that
    # one-hot rows give the loss of their class ids.
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 4))
    t = rng.dirichlet(np.ones(4), size=6)
    w = rng.uniform(0.5, 2.0, size=4)
    per = -(w * t * _np_log_softmax(z, 1)).sum(1)
    expected = {"mean": per.sum() / (w * t).sum(), "sum": per.sum(), "none": per}[reduction]
    loss = lkt.CrossEntropyLoss(weight=torch.tensor(w), reduction=reduction)(torch.tensor(z), torch.tensor(t))
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


def test_one_hot_rows_with_weight_give_the_loss_of_their_ids(torch: Any, lkt: Any) -> None:
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(8, 5)), dtype=torch.float32)
    ids = torch.tensor(rng.integers(0, 5, size=8))
    weight = torch.tensor(rng.uniform(0.5, 2.0, size=5), dtype=torch.float32)
    loss = lkt.CrossEntropyLoss(weight=weight)
    expected = torch.nn.CrossEntropyLoss(weight=weight)(x, ids)
    torch.testing.assert_close(loss(x, torch.nn.functional.one_hot(ids, 5).float()), expected)
    torch.testing.assert_close(loss(x, ids[:, None]), expected)


def test_all_ignored_mean_is_zero_with_zero_gradient(torch: Any, lkt: Any) -> None:
    x = torch.randn(4, 3, requires_grad=True)
    target = torch.full((4, 1), -100)
    loss = lkt.CrossEntropyLoss()(x, target)
    assert torch.isnan(torch.nn.CrossEntropyLoss()(x, target[:, 0]))  # what PyTorch gives
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_binary_logits_take_binary_targets(torch: Any, lkt: Any) -> None:
    # One logit per element (N, 1): a sigmoid loss, where PyTorch's softmax over one class is always 0.
    z = torch.randn(8, 1)
    t = torch.randint(0, 2, (8,))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], t.float())
    torch.testing.assert_close(lkt.CrossEntropyLoss()(z, t), expected)


def test_weight_is_a_buffer_that_moves_with_the_module(torch: Any, lkt: Any) -> None:
    loss = lkt.CrossEntropyLoss(weight=torch.ones(3))
    assert "weight" in dict(loss.named_buffers())
    assert "weight" in loss.state_dict()
    assert loss.to(torch.float64).weight.dtype == torch.float64
    assert lkt.CrossEntropyLoss().weight is None
    if torch.cuda.is_available():  # pragma: no cover - on a GPU machine
        moved = loss.to("cuda")
        assert moved.weight.device.type == "cuda"
        x, y = torch.randn(4, 3, device="cuda"), torch.tensor([[0], [1], [2], [1]], device="cuda")
        assert moved(x, y).device.type == "cuda"


def test_constructor_matches_torch(torch: Any, lkt: Any) -> None:
    # Same positional order as torch.nn.CrossEntropyLoss(weight, size_average, ignore_index, reduce,
    # reduction, label_smoothing).
    w = torch.ones(3)
    ours = lkt.CrossEntropyLoss(w, None, 2, None, "sum", 0.1)
    theirs = torch.nn.CrossEntropyLoss(w, None, 2, None, "sum", 0.1)
    for attr in ("ignore_index", "reduction", "label_smoothing"):
        assert getattr(ours, attr) == getattr(theirs, attr)
    assert torch.equal(ours.weight, theirs.weight)
    assert repr(lkt.CrossEntropyLoss()) == "CrossEntropyLoss(ignore_index=-100, reduction='mean')"


@pytest.mark.parametrize(
    ("size_average", "reduce", "reduction"),
    [(None, False, "none"), (False, None, "sum"), (True, True, "mean")],
)
def test_deprecated_size_average_and_reduce(torch: Any, lkt: Any, size_average: Any, reduce: Any,
                                            reduction: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = lkt.CrossEntropyLoss(size_average=size_average, reduce=reduce)
        theirs = torch.nn.CrossEntropyLoss(size_average=size_average, reduce=reduce)
    assert ours.reduction == theirs.reduction == reduction
    assert any("deprecated" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reduction": "avg"}, "reduction: expected 'mean', 'sum' or 'none'"),
        ({"label_smoothing": 1.5}, r"label_smoothing: expected a number in \[0, 1\]"),
        ({"ignore_index": 1.5}, "ignore_index: expected an int or None"),
        ({"task": "regression"}, "task: expected one of"),
        ({"check_values": "yes"}, "check_values: expected 'auto', True or False"),
        ({"axis": "last"}, "axis: expected an int, got str 'last'. Pass e.g. axis=1"),
        ({"axis": 1.0}, "axis: expected an int, got float"),
    ],
)
def test_bad_arguments_raise_at_construction(lkt: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(lk.ArgumentError, match=match):
        lkt.CrossEntropyLoss(**kwargs)


def test_mismatched_target_raises_shape_mismatch(torch: Any, lkt: Any) -> None:
    with pytest.raises(lk.ShapeMismatchError, match=r"labels have shape \(8, 2\) but logits have shape \(8, 5\)"):
        lkt.CrossEntropyLoss()(torch.randn(8, 5), torch.zeros(8, 2, dtype=torch.long))


def test_out_of_range_id_raises_label_value_error(torch: Any, lkt: Any) -> None:
    with pytest.raises(lk.LabelValueError, match=r"labels\[1\] is 7, outside the valid class ids 0\.\.4"):
        lkt.CrossEntropyLoss()(torch.randn(2, 5), torch.tensor([[1], [7]]))


def test_torch_compile_fullgraph(torch: Any, lkt: Any) -> None:
    # Compiled calls with no graph break (fullgraph=True): value checks are skipped while compiling.
    # dynamic=True gives symbolic batch sizes (what torch.compile switches to when the batch size
    # changes). The "aot_eager" backend traces exactly what inductor would, without its C++ codegen.
    loss = lkt.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5, 1.0, 1.5]), label_smoothing=0.1)
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager", dynamic=True)
    for shape in ((8, 5), (6, 5, 3)):
        x = torch.randn(shape, requires_grad=True)
        x2 = x.detach().clone().requires_grad_(True)
        ids = torch.randint(0, 5, (shape[0], 1, *shape[2:]))
        y = torch.where(torch.rand(ids.shape) < 0.3, -100, ids)  # (N, 1, ...) ids, some ignored
        got = compiled(x, y)
        want = loss(x2, y)
        torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL)
        got.backward()
        want.backward()
        torch.testing.assert_close(x.grad, x2.grad, rtol=RTOL, atol=ATOL)


def test_import_names_the_real_torch(torch: Any) -> None:
    # labelkit/torch.py is a module named "torch" inside labelkit: its own "import torch" must still
    # be PyTorch, and "import labelkit" alone must not import it.
    code = (
        "import sys, labelkit\n"
        "assert 'torch' not in sys.modules, 'import labelkit imported torch'\n"
        "import labelkit.torch as lkt\n"
        "import torch\n"
        "assert lkt.torch is torch and hasattr(torch, 'nn')\n"
        "assert isinstance(lkt.CrossEntropyLoss(), torch.nn.Module)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# --- the class axis: axis=1 (PyTorch's dim) by default, any other by keyword ---------------------------

# id: (input shape, class axis last), target layout, keyword arguments, fraction ignored
CHANNELS_LAST: dict[str, tuple[tuple[int, ...], str, dict[str, Any], float]] = {
    "NTC-ids": ((4, 6, 5), "ids", {}, 0.0),
    "NTC-ids-weight-ignore-smoothing": ((4, 6, 5), "ids", {"weight": True, "label_smoothing": 0.1}, 0.3),
    "NTC-ids-sum": ((4, 6, 5), "ids", {"reduction": "sum"}, 0.2),
    "NTC-column-none": ((4, 6, 5), "column", {"reduction": "none"}, 0.2),
    "NHWC-ids-weight": ((2, 3, 4, 5), "ids", {"weight": True}, 0.25),
    "NTC-probs": ((3, 4, 5), "probs", {}, 0.0),
}


def _channels_last(torch: Any, rng: np.random.Generator, shape: tuple[int, ...], layout: str,
                   ignore: float) -> tuple[Any, Any, Any, Any]:
    """(channels-last input, its target, the channels-first input PyTorch takes, PyTorch's target)."""
    x = torch.tensor(rng.normal(size=shape) * 2, dtype=torch.float32, requires_grad=True)
    c, batch = shape[-1], shape[:-1]
    if layout == "probs":
        t = torch.tensor(rng.dirichlet(np.ones(c), size=batch), dtype=torch.float32)
        return x, t, x.movedim(-1, 1), t.movedim(-1, 1)
    ids = torch.tensor(_ids(rng, batch, c, ignore))
    ours = ids.unsqueeze(-1) if layout == "column" else ids
    return x, ours, x.movedim(-1, 1), ids


@pytest.mark.parametrize("case", list(CHANNELS_LAST), ids=list(CHANNELS_LAST))
def test_channels_last_message_names_the_module_axis_and_the_fix_works(torch: Any, lkt: Any, case: str) -> None:
    shape, layout, kwargs, ignore = CHANNELS_LAST[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    kwargs = dict(kwargs)
    if kwargs.pop("weight", False):
        kwargs["weight"] = torch.tensor(rng.uniform(0.2, 3.0, size=shape[-1]), dtype=torch.float32)
    x, target, x_first, torch_target = _channels_last(torch, rng, shape, layout, ignore)
    if layout != "probs":  # rows of the input's shape fit dim 1 too (another class count): no error to follow
        with pytest.raises(lk.ShapeMismatchError, match=r"pass axis=-1 to the module: "
                                                        r"labelkit\.torch\.CrossEntropyLoss\(axis=-1\)\.") as info:
            lkt.CrossEntropyLoss(**kwargs)(x, target)
        assert info.value.code == "wrong_axis"  # type: ignore[attr-defined]
    ours = lkt.CrossEntropyLoss(**kwargs, axis=-1)(x, target)  # the fix, as the message words it
    theirs = torch.nn.CrossEntropyLoss(**kwargs)(x_first, torch_target)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=ATOL)
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=RTOL, atol=ATOL)


def test_explain_reads_the_module_message(torch: Any, lkt: Any) -> None:
    with pytest.raises(lk.ShapeMismatchError) as info:
        lkt.CrossEntropyLoss()(torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.long))
    d = lk.explain(f"labelkit.errors.ShapeMismatchError: {info.value}")
    assert not d.ok and d.codes[0] == "wrong_axis" and d.framework == "torch"
    assert "labelkit.torch.CrossEntropyLoss(axis=-1)" in d.problems[0].fix


def test_axis_keeps_torch_signature(torch: Any, lkt: Any) -> None:
    ours = inspect.signature(lkt.CrossEntropyLoss).parameters
    theirs = inspect.signature(torch.nn.CrossEntropyLoss).parameters
    positional = [p for p in ours.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert [(p.name, p.default) for p in positional] == [(p.name, p.default) for p in theirs.values()]
    assert ours["axis"].kind is inspect.Parameter.KEYWORD_ONLY and ours["axis"].default == 1
    assert lkt.CrossEntropyLoss().axis == 1


def test_axis_in_repr_and_serialisation(torch: Any, lkt: Any) -> None:
    loss = lkt.CrossEntropyLoss(weight=torch.ones(5), ignore_index=3, axis=-1)
    assert repr(loss) == "CrossEntropyLoss(ignore_index=3, reduction='mean', axis=-1)"
    assert "axis" not in repr(lkt.CrossEntropyLoss())  # the default, as torch prints no dim
    x, y = torch.randn(2, 4, 5), torch.randint(0, 5, (2, 4))
    for restored in (pickle.loads(pickle.dumps(loss)), _torch_roundtrip(torch, loss)):
        assert restored.axis == -1 and restored.ignore_index == 3
        torch.testing.assert_close(restored(x, y), loss(x, y))


def _torch_roundtrip(torch: Any, module: Any) -> Any:
    buf = io.BytesIO()
    torch.save(module, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_axis_out_of_range_for_the_input(torch: Any, lkt: Any) -> None:
    with pytest.raises(lk.ArgumentError, match=r"axis: 3 is out of range for logits of rank 2"):
        lkt.CrossEntropyLoss(axis=3)(torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))


def test_unbatched_input_takes_any_axis(torch: Any, lkt: Any) -> None:
    # (C,) input: one example; its only axis is the class axis, whatever axis says (as in PyTorch).
    x, y = torch.randn(5), torch.tensor(2)
    expected = torch.nn.CrossEntropyLoss()(x, y)
    for axis in (1, -1, 0):
        torch.testing.assert_close(lkt.CrossEntropyLoss(axis=axis)(x, y), expected)


# The module remembers its last call's plan (``_remember``): a repeat call is a few compares and the kernel.
# Each step below changes one thing after warm calls; the next call must see it.
CACHE_CHANGES: dict[str, Any] = {
    "weight-assigned": lambda torch, m, n: setattr(m, "weight", torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])),
    "weight-in-place": lambda torch, m, n: m.weight.mul_(torch.tensor([4.0, 1.0, 1.0, 0.25, 1.0])),
    "ignore_index": lambda torch, m, n: (setattr(m, "ignore_index", 2), setattr(n, "ignore_index", 2)),
    "reduction": lambda torch, m, n: (setattr(m, "reduction", "sum"), setattr(n, "reduction", "sum")),
    "label_smoothing": lambda torch, m, n: (setattr(m, "label_smoothing", 0.2), setattr(n, "label_smoothing", 0.2)),
    "weight-to-float64": lambda torch, m, n: m.to(torch.float64),
}


@pytest.mark.parametrize("change", list(CACHE_CHANGES))
def test_module_repeat_call_sees_changed_arguments(torch: Any, lkt: Any, change: str) -> None:
    rng = np.random.default_rng(zlib.crc32(change.encode()))
    x = torch.from_numpy(rng.standard_normal((16, 5)).astype(np.float32))
    y = torch.from_numpy(_ids(rng, (16,), 5, ignore=0.0 if change == "ignore_index" else 0.25))
    y[:3] = 2  # some ids that ignore_index=2 leaves out
    mine = lkt.CrossEntropyLoss(weight=torch.tensor([1.0, 1.0, 2.0, 1.0, 0.5]))
    native = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 1.0, 2.0, 1.0, 0.5]))
    for _ in range(3):  # warm: the plan is remembered
        torch.testing.assert_close(mine(x, y), native(x, y))
    CACHE_CHANGES[change](torch, mine, native)
    native.weight = mine.weight.float()
    torch.testing.assert_close(mine(x, y).float(), native(x, y), rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(mine(x, y).float(), native(x, y), rtol=RTOL, atol=ATOL)  # and remembered again


def test_module_repeat_call_sees_new_shapes_and_dtypes(torch: Any, lkt: Any) -> None:
    loss, native = lkt.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for shape, dtype in (((8, 5), torch.int64), ((8, 5), torch.int64), ((12, 5), torch.int64),
                         ((12, 7), torch.int32), ((4, 7, 3), torch.uint8), ((4, 7, 3), torch.uint8)):
        x = torch.randn(shape)
        y = torch.randint(0, shape[1], (shape[0], *shape[2:])).to(dtype)
        torch.testing.assert_close(loss(x, y), native(x, y.long()))
    y = torch.randint(0, 7, (4, 1, 3))  # column ids after plain ids: the squeeze is the new plan's
    torch.testing.assert_close(loss(x, y), native(x, y[:, 0]))


def test_module_bad_ids_after_good_calls_get_labelkits_answers(torch: Any, lkt: Any) -> None:
    x = torch.randn(6, 5, requires_grad=True)
    good, bad = torch.tensor([0, 1, -100, 3, 4, 2]), torch.tensor([0, 1, -100, 3, 7, 2])
    checked, unchecked = lkt.CrossEntropyLoss(), lkt.CrossEntropyLoss(check_values=False)
    for _ in range(3):
        checked(x, good), unchecked(x, good)
    with pytest.raises(lk.LabelValueError, match=r"labels\[4\] is 7, outside the valid class ids 0\.\.4"):
        checked(x, bad)
    assert torch.isnan(unchecked(x, bad))
    # Every id ignored after counted ones: SPEC's 0 with a zero gradient (PyTorch's kernel gives NaN).
    out = checked(x, torch.full((6,), -100))
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    torch.testing.assert_close(checked(x, good), torch.nn.CrossEntropyLoss()(x, good))  # and back


def test_module_repeat_call_uses_the_remembered_plan(torch: Any, lkt: Any, monkeypatch: Any) -> None:
    import labelkit.torch as module

    loss = lkt.CrossEntropyLoss()
    x, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    expected = loss(x, y)

    def no_lookup(*args: Any) -> Any:
        raise AssertionError("the plan was looked up again")

    monkeypatch.setattr(module, "_sparse_lookup", no_lookup)
    torch.testing.assert_close(loss(x, y), expected)
    loss.reduction = "sum"  # a changed argument: built again
    with pytest.raises(AssertionError, match="looked up again"):
        loss(x, y)


def test_module_copies_and_pickles_after_calls(torch: Any, lkt: Any) -> None:
    import copy

    loss = lkt.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, -100])
    expected = loss(x, y)
    for restored in (copy.deepcopy(loss), pickle.loads(pickle.dumps(loss)), _torch_roundtrip(torch, loss)):
        torch.testing.assert_close(restored(x, y), expected)


def test_module_weight_assigned_as_a_parameter_stays_in_the_loss():
    """``m.weight = nn.Parameter(w)`` moves the weight from the buffers to the parameters: every call (the
    remembered plan's too) uses it, with its gradient."""
    import torch

    from labelkit.torch import CrossEntropyLoss

    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    w = torch.tensor([0.5, 2.0, 1.0, 3.0])
    want = torch.nn.functional.cross_entropy(z, y, weight=w)
    m = CrossEntropyLoss()
    m.weight = torch.nn.Parameter(w.clone())
    for _ in range(4):  # the first call builds the plan, the next ones run from it
        m.weight.grad = None
        out = m(z, y)
        torch.testing.assert_close(out, want)
        out.backward()
        assert m.weight.grad is not None
