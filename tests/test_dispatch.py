"""Dispatch: which backend serves an array, conversion into the logits' framework, the per-type cache,
third-party backends, and many threads dispatching at once."""

from __future__ import annotations

import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from labelkit.backends import PRIMITIVES, Backend
from labelkit.backends.numpy import NumpyBackend

import labelkit as lk
from conftest import backend_named, installed
from labelkit import _dispatch
from labelkit.errors import BackendError

# --- backend_of, available_backends --------------------------------------------------------------


def test_backend_of_a_framework_array(backend):
    assert lk.backend_of(backend.to_backend(np.zeros(3, np.float32))) == backend.name
    assert lk.backend_of(backend.to_backend(np.zeros((2, 2), np.int64))) == backend.name


@pytest.mark.parametrize(
    "value",
    [[1, 2], [[0.5], [1.5]], (1, 2), 3, 2.5, True, np.float32(1.0), np.int64(3), np.zeros(2)],
    ids=["list", "nested-list", "tuple", "int", "float", "bool", "np.float32", "np.int64", "ndarray"],
)
def test_backend_of_python_and_numpy_values_is_numpy(value):
    assert lk.backend_of(value) == "numpy"


@pytest.mark.parametrize(
    "value", ["abc", {"a": 1}, None, object(), {1, 2}], ids=["str", "dict", "None", "object", "set"]
)
def test_backend_of_something_else_raises(value):
    with pytest.raises(BackendError, match=r"x: expected an array \(NumPy, PyTorch, TensorFlow or JAX\).*got"):
        lk.backend_of(value)


def test_available_backends_lists_the_installed_ones():
    names = lk.available_backends()
    assert isinstance(names, tuple)
    assert names[0] == "numpy"
    for name in ("torch", "tensorflow", "jax"):
        assert (name in names) == installed(name), name


# --- conversion into the logits' framework -------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [np.array([[2], [0]]), [[2], [0]], [2, 0], np.array([2, 0], np.uint8), [2.0, 0.0]],
    ids=["numpy-column", "list-column", "list", "numpy-uint8", "list-float"],
)
def test_host_labels_are_converted_into_the_logits_framework(framework, labels):
    logits = framework.to_backend(np.zeros((2, 3), np.float32))
    spec = lk.validate(logits, labels)
    assert spec.backend == framework.name
    out = lk.align(logits, labels, to="one_hot")
    assert framework.is_native(out)
    np.testing.assert_array_equal(framework.to_numpy(out), [[0, 0, 1], [1, 0, 0]])
    sparse = lk.align(logits, labels, to="sparse")
    assert framework.is_native(sparse)
    np.testing.assert_array_equal(framework.to_numpy(sparse), [2, 0])


def test_scalars_are_converted_into_the_logits_framework(framework):
    like = framework.to_backend(np.zeros(4, np.float32))  # one example's 4 logits
    for scalar in (2, np.int64(2), np.int32(2), 2.0):
        out = lk.one_hot(scalar, like=like)
        assert framework.is_native(out), type(scalar)
        np.testing.assert_array_equal(framework.to_numpy(out), [0, 0, 1, 0])


def test_numpy_logits_with_framework_labels_use_the_framework(framework):
    """The one framework array in a call decides, whichever argument it is."""
    labels = framework.to_backend(np.array([1, 0]))
    assert lk.infer(np.zeros((2, 3), np.float32), labels).backend == framework.name
    out = lk.align(np.zeros((2, 3), np.float32), labels, to="one_hot")
    assert framework.is_native(out)


def test_lists_alone_are_served_by_numpy():
    spec = lk.validate([[0.1, 0.9], [0.8, 0.2]], [[1], [0]])
    assert spec.backend == "numpy"
    assert isinstance(lk.align([[0.1, 0.9]], [1], to="one_hot"), np.ndarray)


# --- JAX tracers, TF symbolic tensors and variables ----------------------------------------------


def test_jax_tracers_dispatch_to_jax():
    jax = backend_named("jax").module
    import jax.numpy as jnp

    seen = {}

    @jax.jit
    def f(logits, labels):
        seen["backend_of"] = lk.backend_of(logits)
        seen["tracer_type"] = type(logits)
        seen["spec"] = lk.infer(logits, labels)
        return lk.one_hot(labels, like=logits)

    out = f(jnp.zeros((2, 3)), jnp.array([[2], [0]]))
    assert seen["backend_of"] == "jax"
    assert not issubclass(seen["tracer_type"], jax.Array)  # why the cache must not rely on issubclass
    assert seen["spec"].backend == "jax" and seen["spec"].squeeze
    np.testing.assert_array_equal(np.asarray(out), [[0, 0, 1], [1, 0, 0]])
    # The tracer type is now cached; it is still recognised on the next trace.
    out = jax.jit(lambda lg, y: lk.align(lg, y, to="sparse"))(jnp.zeros((2, 3)), jnp.array([[1], [2]]))
    np.testing.assert_array_equal(np.asarray(out), [1, 2])


def test_jax_tracers_under_grad_and_vmap():
    jax = backend_named("jax").module
    import jax.numpy as jnp

    def f(logits, labels):
        return jnp.sum(logits * lk.one_hot(labels, like=logits))

    g = jax.grad(f)(jnp.zeros((2, 3)), jnp.array([2, 0]))
    np.testing.assert_array_equal(np.asarray(g), [[0, 0, 1], [1, 0, 0]])
    v = jax.vmap(lambda lg, y: lk.one_hot(y, like=lg))(jnp.zeros((2, 3)), jnp.array([2, 0]))
    np.testing.assert_array_equal(np.asarray(v), [[0, 0, 1], [1, 0, 0]])


def test_tf_symbolic_tensors_dispatch_to_tensorflow():
    tf = backend_named("tensorflow").module
    seen = {}

    @tf.function
    def f(logits, labels):
        seen["backend_of"] = lk.backend_of(logits)
        seen["spec"] = lk.infer(logits, labels)
        return lk.one_hot(labels, like=logits)

    out = f(tf.zeros((2, 3)), tf.constant([[2], [0]]))
    assert seen["backend_of"] == "tensorflow"
    assert seen["spec"].backend == "tensorflow"
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 1], [1, 0, 0]])


def test_tf_variable_dispatches_to_tensorflow():
    tf = backend_named("tensorflow").module
    logits = tf.Variable(tf.zeros((2, 3)))
    labels = tf.Variable([[2], [0]])
    assert lk.backend_of(logits) == "tensorflow"
    assert lk.validate(logits, labels).backend == "tensorflow"
    out = lk.one_hot(labels, like=logits)
    assert isinstance(out, tf.Tensor)
    np.testing.assert_array_equal(out.numpy(), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(lk.align(logits, [2, 0], to="sparse").numpy(), [2, 0])


# --- the per-type cache --------------------------------------------------------------------------


@pytest.fixture
def count_detections(monkeypatch):
    calls: list[type] = []
    real = _dispatch._detect

    def counting(x):
        calls.append(type(x))
        return real(x)

    monkeypatch.setattr(_dispatch, "_detect", counting)
    return calls


def test_each_type_is_detected_once(backend, count_detections):
    x = backend.to_backend(np.zeros(3, np.float32))
    _dispatch._CACHE.pop(type(x), None)
    for _ in range(5):
        assert lk.backend_of(x) == backend.name
        lk.infer(backend.to_backend(np.zeros((2, 3), np.float32)), backend.to_backend(np.zeros(2, np.int32)))
    assert count_detections.count(type(x)) == 1


def test_a_numpy_subclass_is_served_by_numpy(count_detections):
    class Mine(np.ndarray):
        pass

    x = np.zeros((2, 3), np.float32).view(Mine)
    assert lk.backend_of(x) == "numpy"
    assert lk.backend_of(x) == "numpy"
    assert count_detections == [Mine]


def test_unknown_types_are_not_cached(count_detections):
    class Unknown:
        pass

    for _ in range(2):
        with pytest.raises(BackendError, match=r"got .*Unknown"):
            lk.backend_of(Unknown())
    assert Unknown not in _dispatch._CACHE


# --- third-party backends ------------------------------------------------------------------------


def _toy_module() -> types.ModuleType:
    """A fake array library: ``toyarray.ToyArray`` wraps a NumPy array."""
    mod = types.ModuleType("toyarray")

    class ToyArray:
        def __init__(self, data: Any) -> None:
            self.data = np.asarray(data)

        @property
        def shape(self) -> tuple[int, ...]:
            return self.data.shape

        def _op(self, other, fn):
            other = other.data if isinstance(other, ToyArray) else other
            return ToyArray(fn(self.data, other))

        def __eq__(self, o):  # type: ignore[override]
            return self._op(o, np.equal)

        def __ne__(self, o):  # type: ignore[override]
            return self._op(o, np.not_equal)

        def __lt__(self, o):
            return self._op(o, np.less)

        def __gt__(self, o):
            return self._op(o, np.greater)

        def __ge__(self, o):
            return self._op(o, np.greater_equal)

        def __le__(self, o):
            return self._op(o, np.less_equal)

        def __and__(self, o):
            return self._op(o, np.logical_and)

        def __or__(self, o):
            return self._op(o, np.logical_or)

        def __sub__(self, o):
            return self._op(o, np.subtract)

        def __invert__(self):
            return ToyArray(~self.data)

        __hash__ = None  # type: ignore[assignment]

    ToyArray.__module__ = "toyarray"
    ToyArray.__qualname__ = "ToyArray"
    mod.ToyArray = ToyArray
    return mod


class ToyBackend(Backend):
    """Every primitive delegates to the NumPy backend on the wrapped array and wraps the result."""

    name = "toy"
    modules = ("toyarray",)

    def __init__(self, module: types.ModuleType) -> None:
        self.ToyArray = module.ToyArray
        self._np = NumpyBackend()

    def owns(self, x: Any) -> bool:
        return isinstance(x, self.ToyArray)

    def asarray(self, obj: Any, like: Any) -> Any:
        return self.ToyArray(obj)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.data


def _delegate(name: str):
    def method(self, *args, **kwargs):
        args = [a.data if isinstance(a, self.ToyArray) else a for a in args]
        out = getattr(self._np, name)(*args, **kwargs)
        return self.ToyArray(out) if isinstance(out, (np.ndarray, np.generic)) else out

    return method


for _name in PRIMITIVES:
    if _name not in ToyBackend.__dict__:
        setattr(ToyBackend, _name, _delegate(_name))


@pytest.fixture
def toy(monkeypatch):
    """Registers the toy backend for one test, and takes it out again afterwards."""
    mod = _toy_module()
    monkeypatch.setitem(sys.modules, "toyarray", mod)
    monkeypatch.setattr(_dispatch, "_FACTORIES", dict(_dispatch._FACTORIES))
    monkeypatch.setattr(_dispatch, "_INSTANCES", dict(_dispatch._INSTANCES))
    monkeypatch.setattr(_dispatch, "_CACHE", {})
    return mod


def test_register_backend_serves_a_third_party_array(toy):
    x = toy.ToyArray(np.zeros((2, 3), np.float32))
    with pytest.raises(BackendError, match=r"got toyarray\.ToyArray"):
        lk.backend_of(x)  # unknown before registration, and not cached as unknown
    lk.register_backend(ToyBackend(toy))
    assert lk.backend_of(x) == "toy"
    labels = toy.ToyArray([[2], [0]])
    spec = lk.validate(x, labels)
    assert (spec.backend, spec.label_format, spec.squeeze) == ("toy", "sparse", True)
    out = lk.one_hot(labels, like=x)
    assert isinstance(out, toy.ToyArray)
    np.testing.assert_array_equal(out.data, [[0, 0, 1], [1, 0, 0]])
    # NumPy labels are converted into the toy framework, as for the shipped ones.
    out = lk.align(x, np.array([1, 2]), to="one_hot")
    assert isinstance(out, toy.ToyArray)
    with pytest.raises(lk.LabelValueError, match=r"labels\[1\] is 3, outside the valid class ids 0\.\.2"):
        lk.validate(x, toy.ToyArray([0, 3]))


def test_register_backend_refuses_what_is_not_a_backend(toy):
    with pytest.raises(BackendError, match=r"register_backend: expected a labelkit\.backends\.Backend instance"):
        lk.register_backend("toy")  # type: ignore[arg-type]
    with pytest.raises(BackendError, match=r"with a name"):
        lk.register_backend(Backend())


def test_entry_point_backends_are_loaded_on_demand(toy, monkeypatch):
    class FakeEntryPoint:
        name = "toy"

        def load(self):
            # A plug-in names its Backend class; labelkit instantiates it.
            return type("PluginBackend", (ToyBackend,), {"__init__": lambda self: ToyBackend.__init__(self, toy)})

    class BrokenEntryPoint:
        name = "broken"

        def load(self):
            raise ImportError("no such module")

    import importlib.metadata

    def entry_points(group: str):
        assert group == "labelkit.backends"
        return [BrokenEntryPoint(), FakeEntryPoint()]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(_dispatch, "_ENTRY_POINTS_LOADED", False)
    with pytest.warns(UserWarning, match=r"backend entry point 'broken' failed to load"):
        assert lk.backend_of(toy.ToyArray([1.0])) == "toy"


# --- threads -------------------------------------------------------------------------------------


def test_many_threads_dispatching_at_once(backend, monkeypatch):
    """32 threads start together on an empty cache; every call must give the right answer."""
    monkeypatch.setattr(_dispatch, "_CACHE", {})
    n_threads, rounds = 32, 20
    logits = backend.to_backend(np.zeros((4, 5), np.float32))
    labels = [backend.to_backend(np.array([[i % 5], [0], [1], [4]])) for i in range(n_threads)]
    barrier = threading.Barrier(n_threads)
    expected = np.eye(5, dtype=np.float32)

    def work(i: int) -> list[Any]:
        barrier.wait()
        out = []
        for _ in range(rounds):
            out.append((lk.backend_of(logits), lk.infer(logits, labels[i]).backend))
        hot = backend.to_numpy(lk.one_hot(labels[i], like=logits))
        np.testing.assert_array_equal(hot, expected[[i % 5, 0, 1, 4]])
        return out

    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(work, range(n_threads)))
    assert {pair for r in results for pair in r} == {(backend.name, backend.name)}
    assert _dispatch._CACHE[type(logits)].name == backend.name


# --- devices and subclasses ----------------------------------------------------------------------


def test_host_labels_follow_the_torch_logits_device():
    """NumPy labels land on the logits' device (``meta`` here: a device every torch build has)."""
    torch = backend_named("torch").module
    logits = torch.zeros(2, 3, device="meta")
    out = lk.one_hot(np.array([[2], [0]]), like=logits)
    assert out.device == logits.device and tuple(out.shape) == (2, 3)
    assert lk.align(logits, [2, 0], to="sparse").device == logits.device


def test_torch_parameter_dispatches_to_torch():
    torch = backend_named("torch").module
    logits = torch.nn.Parameter(torch.zeros(2, 3))
    assert lk.backend_of(logits) == "torch"
    out = lk.one_hot([2, 0], like=logits)
    np.testing.assert_array_equal(out.detach().numpy(), [[0, 0, 1], [1, 0, 0]])


def test_a_backend_written_for_the_first_one_hot_signature_still_works(toy):
    """A plug-in that overrides ``one_hot(ids, num_classes, axis, dtype)`` and knows nothing of
    ``one_hot_in_range`` gets ids in the default int, with checks on or off."""
    seen = []

    class OldToy(ToyBackend):
        one_hot_in_range = Backend.one_hot_in_range  # what a plug-in written before it inherits

        def one_hot(self, ids, num_classes, axis, dtype):
            seen.append(ids.data.dtype)
            return Backend.one_hot(self, ids, num_classes, axis, dtype)

    lk.register_backend(OldToy(toy))
    labels = toy.ToyArray(np.array([2, 0, 7, 255], np.uint8))
    rows = lk.one_hot(labels, 300, check_values=False)  # uint8 ids against 300 classes: no wrap
    assert rows.data.shape == (4, 300)
    np.testing.assert_array_equal(rows.data.argmax(axis=1), [2, 0, 7, 255])
    rows = lk.one_hot(labels, 5, check_values=False)  # out of range: zero rows
    np.testing.assert_array_equal(rows.data.sum(axis=1), [1, 1, 0, 0])
    np.testing.assert_array_equal(lk.one_hot(toy.ToyArray(np.array([2, 0], np.uint8)), 3).data, [[0, 0, 1], [1, 0, 0]])
    assert len(seen) == 3 and all(d == np.int64 for d in seen)
