"""Value checks on a GPU without a blocking sync (SPEC "Value checks", "Checks on a GPU"), simulated on the CPU.

On a device, reading a value waits for the device. With ``check_values="auto"``, labels outside host
memory are checked on the device: the call reads nothing, its loss is NaN where an id is out of range
(as when unchecked), and the ``LabelValueError`` an eager check gives is raised by the next labelkit
call in the thread or by ``lk.check_pending()``. No GPU here: the ``device`` fixture makes labelkit's
backend of each framework see its arrays as outside host memory (``on_host`` false) and defer its
checks, and counts every host read in the call — through the backend's read primitives, and for
PyTorch and JAX (the frameworks with GPUs that SPEC names) in the framework itself: ``__bool__``,
``item``, ``tolist``, ``numpy`` of a tensor (a ``TorchFunctionMode``), a JAX array's ``_value`` and
``__array__``. The same calls on a GPU, under ``torch.cuda.set_sync_debug_mode("error")``, are in
``benchmarks/gpu.py``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import labelkit as lk
from labelkit import _pending
from labelkit._dispatch import get_backend as labelkit_backend
from labelkit.errors import LabelValueError
from loss_helpers import as_f64, float_input
from loss_oracle import sparse as oracle_sparse
from test_fast_path import general_path, outcome, sparse_calls

READ_PRIMITIVES = ("to_numpy", "to_list", "to_bool", "span", "read_now")
TORCH_READS = frozenset({"__bool__", "item", "tolist", "numpy", "__int__", "__float__", "__index__", "cpu"})

Z = np.array(
    [[2.0, 0.5, -1.0, 0.0, 1.0], [0.1, 0.2, 0.3, 0.4, 0.5], [-2.0, 3.0, 0.0, 1.0, -1.0], [1.0, 1.0, 1.0, 1.0, 1.0]]
)
GOOD = np.array([0, 4, 1, 2])
BAD = np.array([0, 4, 7, 2])  # labels[2] is 7, with 5 classes


class Reads:
    """Every host read made while the block runs (the names of the calls)."""

    def __init__(self) -> None:
        self.seen: list[str] = []


class Device:
    """The simulated device of one backend: ``reads()`` counts the host reads of a block."""

    def __init__(self, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.backend = backend
        self.lk = labelkit_backend(backend.to_backend(np.zeros(1)))
        self.current: Reads | None = None
        self.verdict = False
        cls = type(self.lk)
        monkeypatch.setattr(cls, "on_host", lambda self, x: False)
        monkeypatch.setattr(cls, "defers_checks", True)
        for name in READ_PRIMITIVES:
            monkeypatch.setattr(cls, name, self._counted(name, getattr(cls, name)))
        if backend.name == "jax":
            from jax._src import array as jax_array

            impl = jax_array.ArrayImpl
            value = impl._value.fget
            monkeypatch.setattr(impl, "_value", property(self._counted("jax _value", value)))
            monkeypatch.setattr(impl, "__array__", self._counted("jax __array__", impl.__array__))

    def _counted(self, name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.current is None or self.verdict:
                return fn(*args, **kwargs)
            self.current.seen.append(name)
            if name != "read_now":
                return fn(*args, **kwargs)
            self.verdict = True  # the reads read_now makes are its own: counted once, as read_now
            try:
                return fn(*args, **kwargs)
            finally:
                self.verdict = False

        return wrapper

    @contextlib.contextmanager
    def reads(self) -> Iterator[Reads]:
        found = Reads()
        self.current = found
        device = self
        try:
            if self.backend.name == "torch":
                from torch.overrides import TorchFunctionMode

                class Count(TorchFunctionMode):
                    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                        name = getattr(func, "__name__", "")
                        if name in TORCH_READS and not device.verdict:
                            found.seen.append(f"torch {name}")
                        return func(*args, **(kwargs or {}))

                with Count():
                    yield found
            else:
                yield found
        finally:
            self.current = None


@pytest.fixture
def device(backend: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Device]:
    yield Device(backend, monkeypatch)
    _pending.RECORDS.clear()  # a failed test leaves nothing in flight for the next


def _ids(backend: Any, a: Any) -> Any:
    return backend.to_backend(np.asarray(a), backend.default_int)


def test_bad_id_reads_nothing_then_raises_at_the_next_call(backend: Any, device: Device) -> None:
    z, y = float_input(backend, Z), _ids(backend, BAD)
    with device.reads() as r:
        losses = lk.cross_entropy(z, y, reduction="none")
    assert r.seen == [], f"host reads in a checked call on the device: {r.seen}"
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7, outside the valid class ids 0\.\.4") as err:
        lk.one_hot(_ids(backend, GOOD), 5)  # any labelkit call
    assert "earlier labelkit call" in str(err.value)
    lk.one_hot(_ids(backend, GOOD), 5)  # raised once: nothing is left in flight
    unchecked = lk.cross_entropy(z, y, reduction="none", check_values=False)
    np.testing.assert_array_equal(as_f64(backend, losses), as_f64(backend, unchecked))
    assert np.isnan(as_f64(backend, losses)[2])
    with device.reads() as r:
        mean = lk.cross_entropy(z, y)
    assert r.seen == [] and np.isnan(as_f64(backend, mean))
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.check_pending()


def test_next_call_reads_only_the_earlier_verdict(backend: Any, device: Device) -> None:
    z = float_input(backend, Z)
    lk.cross_entropy(z, _ids(backend, GOOD))
    with device.reads() as r:
        lk.cross_entropy(z, _ids(backend, GOOD))
    assert r.seen == ["read_now"], r.seen  # the first call's flag; the second's own is in flight


def test_good_ids_give_the_checked_loss(backend: Any, device: Device) -> None:
    z, y = float_input(backend, Z, "float64"), _ids(backend, GOOD)
    with device.reads() as r:
        out = lk.cross_entropy(z, y, label_smoothing=0.1, ignore_index=4, class_weight=[1.0, 2.0, 1.0, 0.5, 1.0])
    assert r.seen == []
    want = oracle_sparse(Z, GOOD, ignore_index=4, label_smoothing=0.1, class_weight=[1.0, 2.0, 1.0, 0.5, 1.0])
    np.testing.assert_allclose(as_f64(backend, out), want.value, rtol=1e-6)
    assert lk.check_pending() is None


def test_check_pending_raises_and_empties(backend: Any, device: Device) -> None:
    lk.cross_entropy(float_input(backend, Z), _ids(backend, BAD[:, None]))
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.check_pending()
    assert lk.check_pending() is None


def test_ignored_ids_are_not_errors(backend: Any, device: Device) -> None:
    y = _ids(backend, [0, -100, 3, -100])
    with device.reads() as r:
        out = lk.cross_entropy(float_input(backend, Z), y, ignore_index=-100)
    assert r.seen == []
    assert lk.check_pending() is None
    np.testing.assert_allclose(
        as_f64(backend, out), oracle_sparse(Z, np.array([0, -100, 3, -100]), ignore_index=-100).value, rtol=1e-5
    )


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.array([[1.0, 0, 0, 0, 0], [0, 0.5, 0, 0, 0]] * 2), r"labels row \(1,\) sums to 0\.5"),
        (np.array([[1.0, 0, 0, 0, 0], [0, -1.0, 1, 0, 1]] * 2), r"labels\[1, 1\] is -1"),
        (np.array([0.0, 1.0, np.nan, 2.0]), r"labels\[2\] is nan"),
    ],
    ids=["row-not-summing-to-1", "negative-row", "nan-id"],
)
def test_every_rule_is_deferred(backend: Any, device: Device, labels: np.ndarray, match: str) -> None:
    y = backend.to_backend(labels.astype("float32"))
    with device.reads() as r:
        lk.cross_entropy(float_input(backend, Z), y)
    assert r.seen == []
    with pytest.raises(LabelValueError, match=match):
        lk.check_pending()


def test_one_hot_and_accuracy_defer_too(backend: Any, device: Device) -> None:
    y = _ids(backend, BAD)
    with device.reads() as r:
        rows = lk.one_hot(y, 5)
    assert r.seen == []
    np.testing.assert_array_equal(backend.to_numpy(rows)[2], np.zeros(5))  # the unchecked zero row
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.check_pending()
    with device.reads() as r:
        lk.accuracy(float_input(backend, Z), y)
    assert r.seen == []
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.check_pending()


def test_validate_and_check_values_true_check_at_once(backend: Any, device: Device) -> None:
    z, y = float_input(backend, Z), _ids(backend, BAD)
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.validate(z, y)  # validating is the call's point: its verdict now
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.cross_entropy(z, y, check_values=True)
    assert lk.check_pending() is None


def test_labels_changed_in_place_are_still_reported(backend: Any, device: Device) -> None:
    if backend.name not in ("numpy", "torch"):
        pytest.skip("only NumPy and PyTorch arrays change in place")
    y = _ids(backend, BAD)
    lk.cross_entropy(float_input(backend, Z), y)
    y[2] = 1
    with pytest.raises(LabelValueError, match="changed in place since"):
        lk.check_pending()


def test_a_verdict_from_a_short_lived_thread_surfaces_in_the_main_one(backend: Any, device: Device) -> None:
    """``nn.DataParallel`` runs each replica's forward (and a loss computed there) in a new thread per call:
    a verdict made in such a thread is read by the main thread's next call, or ``lk.check_pending()``."""
    losses: list[Any] = []

    def replica() -> None:
        losses.append(lk.cross_entropy(float_input(backend, Z), _ids(backend, BAD)))

    t = threading.Thread(target=replica)
    t.start()
    t.join()
    assert np.isnan(as_f64(backend, losses[0]))
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.one_hot(_ids(backend, GOOD), 5)
    assert lk.check_pending() is None


def test_holding_is_per_thread(backend: Any, device: Device) -> None:
    """One thread holding (the Keras loss's two calls) does not keep another's calls from reading."""
    lk.cross_entropy(float_input(backend, Z), _ids(backend, BAD))
    errors: list[BaseException] = []

    def other() -> None:
        try:
            lk.one_hot(_ids(backend, GOOD), 5)
        except BaseException as exc:
            errors.append(exc)

    with _pending.holding():
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], LabelValueError)


def test_diagnose_never_raises_an_earlier_verdict(backend: Any, device: Device) -> None:
    lk.cross_entropy(float_input(backend, Z), _ids(backend, BAD))
    d = lk.diagnose(float_input(backend, Z), _ids(backend, BAD))
    assert not d.ok
    with pytest.raises(LabelValueError):
        lk.check_pending()


def test_calls_held_as_one_read_no_verdict(backend: Any, device: Device) -> None:
    """The Keras loss makes two labelkit calls per batch (the loss, the ignore mask): the second must not
    wait for the first's verdict (a stall in the step); the next batch's call reads it."""
    z, y = float_input(backend, Z), _ids(backend, BAD)
    with _pending.holding(), device.reads() as r:
        lk.cross_entropy(z, y, reduction="none")
        lk.count_valid(z, y)
    assert r.seen == []
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.cross_entropy(z, _ids(backend, GOOD))


def test_torch_module_defaults_step(device: Device) -> None:
    """``labelkit.torch.CrossEntropyLoss()`` as a training step runs it: forward and backward with no
    host read; the bad batch's error comes with the next batch."""
    if device.backend.name != "torch":
        pytest.skip("the PyTorch module")
    import torch

    from labelkit.torch import CrossEntropyLoss

    module = CrossEntropyLoss()
    z = torch.tensor(Z, dtype=torch.float32, requires_grad=True)
    for _ in range(2):  # the first call builds the plan, the second takes it
        with device.reads() as r:
            module(z, torch.tensor(GOOD)).backward()
        assert r.seen in ([], ["read_now"])
    with device.reads() as r:
        loss = module(z, torch.tensor(BAD))
        loss.backward()
    assert r.seen == ["read_now"]  # the previous batch's verdict only
    assert torch.isnan(loss)
    assert torch.isfinite(z.grad).all()  # the valid elements' gradient, as when unchecked
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        module(z, torch.tensor(GOOD))


def test_tracing_never_defers(framework: Any, device: Device) -> None:
    """Under jit or tf.function nothing is checked (no verdict to keep): nothing is left in flight."""
    if framework.name == "torch":
        pytest.skip("torch.compile is covered by tests/test_tracing.py; its trace takes seconds here")
    z, y = float_input(framework, Z), _ids(framework, BAD)
    if framework.name == "jax":
        import jax

        out = jax.jit(lambda a, b: lk.cross_entropy(a, b))(z, y)
    else:
        tf = framework.module
        out = tf.function(lambda a, b: lk.cross_entropy(a, b))(z, y)
    assert np.isnan(as_f64(framework, out))
    assert _pending.RECORDS == []


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the device stays the same across examples
@given(case=sparse_calls())
def test_deferred_outcome_is_the_eager_one_later(backend: Any, device: Device, case: Any) -> None:
    """Any sparse call, ids in range or not: on the device, the call gives what an unchecked call gives,
    and ``lk.check_pending()`` raises exactly the error an eager check raises at the call (or nothing)."""
    logits, labels, _, axis, _, _ = case
    z, y = backend.to_backend(logits), backend.to_backend(labels)
    for fn in (
        lambda check: lk.cross_entropy(z, y, axis=axis, check_values=check),
        lambda check: lk.sparse_categorical_crossentropy(z, y, axis=axis, check_values=check),
    ):
        with device.reads() as r:
            out = fn("auto")
        assert r.seen == []
        deferred = outcome(backend, lambda out=out: out)
        try:
            pending: tuple[Any, ...] = ("value", lk.check_pending())
        except Exception as exc:  # the comparison needs whatever came out
            pending = ("error", type(exc), str(exc))
        with general_path():
            eager = outcome(backend, lambda fn=fn: fn(True))
            unchecked = outcome(backend, lambda fn=fn: fn(False))
        assert deferred[0] == "value" and unchecked[0] == "value"
        np.testing.assert_allclose(deferred[1], unchecked[1], rtol=2e-6, atol=1e-7)
        if eager[0] == "value":
            assert pending[0] == "value", pending
        else:
            assert pending[:2] == ("error", LabelValueError), pending
            assert pending[2].startswith(eager[2]), (pending[2], eager[2])


def test_a_compiled_call_leaves_the_verdict_to_the_next_eager_one(device: Device) -> None:
    """Inside torch.compile a read would be a graph break: a compiled call (fullgraph) with a verdict in
    flight runs, and the verdict surfaces at the next eager call."""
    if device.backend.name != "torch":
        pytest.skip("torch.compile")
    import torch

    z, y = torch.tensor(Z, dtype=torch.float32), torch.tensor(GOOD)
    compiled = torch.compile(lambda a, b: lk.cross_entropy(a, b) + lk.accuracy(a, b), fullgraph=True)
    compiled(z, y)
    lk.cross_entropy(z, torch.tensor(BAD))  # checked on the (simulated) device: in flight
    compiled(z, y)
    assert len(_pending.RECORDS) == 1
    with pytest.raises(LabelValueError, match=r"labels\[2\] is 7"):
        lk.cross_entropy(z, y)
