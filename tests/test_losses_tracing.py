"""The losses under the three compilers: ``jax.jit``/``jax.grad``/``jax.vmap``, ``tf.function`` (with
``TensorSpec((None, 1000))`` and ``TensorSpec((None, 1), tf.int64)``, also ``jit_compile=True``) and
``torch.compile(fullgraph=True)`` (a graph break fails the test).

While tracing, value checks are skipped (``check_values="auto"``), and SPEC's rule takes over: an id out
of range gives a NaN loss for its element on every backend (never a wrapped or silent finite number),
so the mean is NaN too. ``check_values=True`` inside ``tf.function`` becomes an in-graph assert.

torch.compile costs seconds per function: two functions are compiled (module-scoped fixtures), each
called with one set of shapes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from conftest import backend_named
from loss_helpers import assert_close

rng = np.random.default_rng(11)
C = 1000
N = 6
Z = rng.standard_normal((N, C)).astype("float32")
IDS = np.array([3, 999, 0, 512, 7, 42])
W = (1.0 + rng.random(C)).astype("float32")

SMALL_Z = rng.standard_normal((4, 5)).astype("float32")
SMALL_IDS = np.array([1, 4, 0, 2])

# keyword arguments: the fused sparse path, and the general one (smoothing, weights, ignore_index)
PATHS = {
    "fused": {},
    "smooth": {"label_smoothing": 0.1},
    "weight": {"class_weight": W},
    "ignore-weight-smooth": {"ignore_index": -100, "class_weight": W, "label_smoothing": 0.1},
}


def _with_bad(bad: int) -> np.ndarray:
    ids = IDS.copy()
    ids[1] = bad
    return ids


def _expected(ids: np.ndarray, reduction: str, **kw: Any) -> O.Result:
    return O.sparse(Z, ids, reduction=reduction, **kw)


# --- JAX -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax() -> Any:
    backend_named("jax")
    import jax

    return jax


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("labels", ["sparse", "column"])
def test_jax_jit_and_grad(jax: Any, labels: str, path: str) -> None:
    jnp = jax.numpy
    kw = PATHS[path]
    y = IDS[:, None] if labels == "column" else IDS
    if "ignore_index" in kw:
        y = np.where(y == 0, -100, y)
    loss = jax.jit(jax.value_and_grad(lambda z, y: lk.cross_entropy(z, y, **kw)))
    value, grad = loss(jnp.asarray(Z), jnp.asarray(y))
    expected = _expected(y.reshape(N), "mean", **kw)
    assert_close(np.asarray(value), expected.value)
    assert_close(np.asarray(grad), expected.grad)


@pytest.mark.parametrize("fmt", ["one_hot-smooth", "binary", "multilabel-weight"])
def test_jax_jit_other_formats(jax: Any, fmt: str) -> None:
    jnp = jax.numpy
    t_ml = (rng.random((4, 5)) > 0.5).astype("float32")
    z, y, kw, oracle = {
        "one_hot-smooth": (SMALL_Z, np.eye(5, dtype="float32")[SMALL_IDS], {"label_smoothing": 0.2},
                           lambda: O.sparse(SMALL_Z, SMALL_IDS, label_smoothing=0.2)),
        "binary": (SMALL_Z[:, :1], (SMALL_IDS % 2).astype("float32"), {},
                   lambda: O.binary(SMALL_Z[:, 0], SMALL_IDS % 2)),
        "multilabel-weight": (SMALL_Z, t_ml, {"task": "multilabel", "class_weight": [1.0, 2.0, 3.0, 0.5, 1.0]},
                              lambda: O.multilabel(SMALL_Z, t_ml, class_weight=[1.0, 2.0, 3.0, 0.5, 1.0])),
    }[fmt]
    value, grad = jax.jit(jax.value_and_grad(lambda z, y: lk.cross_entropy(z, y, **kw)))(jnp.asarray(z), jnp.asarray(y))
    expected = oracle()
    assert_close(np.asarray(value), expected.value)
    assert_close(np.asarray(grad), expected.grad.reshape(z.shape))


def test_jax_vmap_over_a_leading_axis(jax: Any) -> None:
    jnp = jax.numpy
    z = rng.standard_normal((3, 4, 5)).astype("float32")  # 3 batches of (4, 5)
    y = rng.integers(0, 5, size=(3, 4))
    per_batch = jax.vmap(lambda z, y: lk.cross_entropy(z, y, label_smoothing=0.1))(jnp.asarray(z), jnp.asarray(y))
    expected = [O.sparse(z[b], y[b], label_smoothing=0.1).value for b in range(3)]
    assert_close(np.asarray(per_batch), np.asarray(expected))
    grads = jax.vmap(jax.grad(lambda z, y: lk.cross_entropy(z, y)))(jnp.asarray(z), jnp.asarray(y))
    assert_close(np.asarray(grads), np.stack([O.sparse(z[b], y[b]).grad for b in range(3)]))


@pytest.mark.parametrize("bad", [1000, -1, 5000])
@pytest.mark.parametrize("path", list(PATHS))
def test_jax_jit_id_out_of_range_is_nan(jax: Any, path: str, bad: int) -> None:
    jnp = jax.numpy
    kw = PATHS[path]
    ids = _with_bad(bad)
    f = jax.jit(lambda z, y: (lk.cross_entropy(z, y, reduction="none", **kw), lk.cross_entropy(z, y, **kw)))
    per_element, mean = f(jnp.asarray(Z), jnp.asarray(ids))
    per_element = np.asarray(per_element)
    assert math.isnan(per_element[1])
    assert np.isfinite(np.delete(per_element, 1)).all()
    assert_close(per_element, _expected(ids, "none", **kw).value)
    assert math.isnan(float(mean))


def test_jax_eager_id_out_of_range_raises(jax: Any) -> None:
    with pytest.raises(lk.LabelValueError, match=r"labels\[1\] is 1000, outside the valid class ids 0\.\.999"):
        lk.cross_entropy(jax.numpy.asarray(Z), jax.numpy.asarray(_with_bad(1000)))


# --- TensorFlow ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf() -> Any:
    return backend_named("tensorflow").module


SIGNATURE_IDS = ["graph", "jit_compile"]


_TRACED: dict[tuple[bool, str], Any] = {}


def _traced(tf: Any, jit_compile: bool, path: str) -> Any:
    """The loss and its gradient inside tf.function with (None, 1000) logits and (None, 1) int64 labels.

    One function per (jit_compile, path), shared by the tests: each traces (and compiles) once.
    """
    if (jit_compile, path) in _TRACED:
        return _TRACED[jit_compile, path]
    kw = PATHS[path]

    @tf.function(
        input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, 1), tf.int64)], jit_compile=jit_compile
    )
    def step(z: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = lk.cross_entropy(z, y, **kw)
        per_element = lk.cross_entropy(z, y, reduction="none", **kw)
        return loss, tape.gradient(loss, z), per_element

    return _TRACED.setdefault((jit_compile, path), step)


@pytest.mark.parametrize("jit_compile", [False, True], ids=SIGNATURE_IDS)
@pytest.mark.parametrize("path", list(PATHS))
def test_tf_function_with_none_batch_and_column_labels(tf: Any, path: str, jit_compile: bool) -> None:
    kw = PATHS[path]
    ids = np.where(IDS == 0, -100, IDS) if "ignore_index" in kw else IDS
    step = _traced(tf, jit_compile, path)
    loss, grad, per_element = step(tf.constant(Z), tf.constant(ids[:, None], tf.int64))
    expected = _expected(ids, "mean", **kw)
    assert_close(loss.numpy(), expected.value)
    assert_close(grad.numpy(), expected.grad)
    assert_close(per_element.numpy(), _expected(ids, "none", **kw).value)
    # the same concrete function, another batch size; then an empty batch: 0 and a zero gradient
    loss2, _, _ = step(tf.constant(Z[:2]), tf.constant(ids[:2, None], tf.int64))
    assert_close(loss2.numpy(), O.sparse(Z[:2], ids[:2], reduction="mean", **kw).value)
    empty, empty_grad, _ = step(tf.zeros((0, C)), tf.zeros((0, 1), tf.int64))
    assert float(empty) == 0.0
    assert empty_grad.shape == (0, C)


@pytest.mark.parametrize("jit_compile", [False, True], ids=SIGNATURE_IDS)
@pytest.mark.parametrize("bad", [1000, -1])
@pytest.mark.parametrize("path", ["fused", "ignore-weight-smooth"])
def test_tf_function_id_out_of_range_is_nan(tf: Any, path: str, bad: int, jit_compile: bool) -> None:
    kw = PATHS[path]
    ids = _with_bad(bad)
    loss, _, per_element = _traced(tf, jit_compile, path)(tf.constant(Z), tf.constant(ids[:, None], tf.int64))
    per_element = per_element.numpy()
    assert math.isnan(per_element[1])
    assert np.isfinite(np.delete(per_element, 1)).all()
    assert_close(per_element, _expected(ids, "none", **kw).value)
    assert math.isnan(float(loss))


def test_tf_function_check_values_true_is_an_in_graph_assert(tf: Any) -> None:
    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, 1), tf.int64)])
    def checked(z: Any, y: Any) -> Any:
        return lk.cross_entropy(z, y, check_values=True)

    good = checked(tf.constant(Z), tf.constant(IDS[:, None], tf.int64))
    assert_close(good.numpy(), _expected(IDS, "mean").value)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside \[0, 1000\)"):
        checked(tf.constant(Z), tf.constant(_with_bad(1000)[:, None], tf.int64))


# Each value check as an in-graph assert: (labels, task, what the message says).
GRAPH_CHECKS = {
    "rows-sum": ([[0.5, 0.5, 0.5, 0.0, 0.0]], "auto", r"labels: a row does not sum to 1 along axis 1 \(tolerance"),
    "rows-negative": ([[-0.5, 1.5, 0.0, 0.0, 0.0]], "auto", r"labels: a row has a negative entry .*not logits"),
    "rows-nan": ([[np.nan, 1.0, 0.0, 0.0, 0.0]], "auto", r"labels: an entry is NaN or Inf .*must be finite"),
    "ids-float": ([[1.5]], "auto", r"labels: a class id is not a whole number .*Round or cast"),
    "ids-range": ([[5.0]], "auto", r"labels: a class id is outside \[0, 5\), the valid class ids 0\.\.4"),
    "multilabel": ([[0.0, 2.0, 0.0, 1.0, 0.0]], "multilabel", r"labels: a target is outside \[0, 1\] .*Multi-hot"),
}


@pytest.mark.parametrize("case", list(GRAPH_CHECKS))
def test_tf_function_check_values_true_in_graph_for_every_rule(tf: Any, case: str) -> None:
    """Before: one-hot or probability rows crashed the trace (``float('<in graph>')`` in _checks.py)."""
    bad, task, message = GRAPH_CHECKS[case]
    width = len(bad[0])

    @tf.function(input_signature=[tf.TensorSpec((None, 5)), tf.TensorSpec((None, width))])
    def checked(z: Any, y: Any) -> Any:
        lk.validate(z, y, task=task, check_values=True)
        return lk.cross_entropy(z, y, task=task, check_values=True)

    good = np.eye(5, dtype="float32")[SMALL_IDS] if width == 5 else SMALL_IDS[:, None].astype("float32")
    expected = O.multilabel(SMALL_Z, good).value if task == "multilabel" else O.sparse(SMALL_Z, SMALL_IDS).value
    assert_close(checked(tf.constant(SMALL_Z), tf.constant(good)).numpy(), expected)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labelkit LabelValueError: " + message):
        checked(tf.constant(SMALL_Z[:1]), tf.constant(bad, tf.float32))


def test_tf_function_check_values_true_binary_targets(tf: Any) -> None:
    @tf.function(input_signature=[tf.TensorSpec((None,)), tf.TensorSpec((None,))])
    def checked(z: Any, y: Any) -> Any:
        return lk.cross_entropy(z, y, check_values=True)

    assert_close(checked(tf.constant(SMALL_Z[:, 0]), tf.constant([0.0, 1.0, 1.0, 0.0])).numpy(),
                 O.binary(SMALL_Z[:, 0], [0, 1, 1, 0]).value)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels: a target is outside \[0, 1\].*Class ids belong"):
        checked(tf.constant(SMALL_Z[:, 0]), tf.constant([0.0, 3.0, 1.0, 0.0]))


def test_tf_function_dense_rows_with_unknown_batch(tf: Any) -> None:
    @tf.function(input_signature=[tf.TensorSpec((None, 5)), tf.TensorSpec((None, 5))], jit_compile=True)
    def dense(z: Any, t: Any) -> Any:
        return lk.cross_entropy(z, t, label_smoothing=0.1, class_weight=[1.0, 2.0, 3.0, 4.0, 5.0])

    t = np.eye(5, dtype="float32")[SMALL_IDS]
    expected = O.sparse(SMALL_Z, SMALL_IDS, label_smoothing=0.1, class_weight=[1.0, 2.0, 3.0, 4.0, 5.0]).value
    assert_close(dense(tf.constant(SMALL_Z), tf.constant(t)).numpy(), expected)
    assert float(dense(tf.zeros((0, 5)), tf.zeros((0, 5)))) == 0.0


# --- PyTorch -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> Any:
    return backend_named("torch").module


@pytest.fixture(scope="module")
def compiled_fused(torch: Any) -> Any:
    """Column labels through the fused kernel: the per-element losses and the mean, fullgraph."""

    def fn(z: Any, y: Any) -> Any:
        return lk.cross_entropy(z, y, reduction="none"), lk.cross_entropy(z, y)

    return torch.compile(fn, fullgraph=True, dynamic=False)


@pytest.fixture(scope="module")
def compiled_general(torch: Any) -> Any:
    """Smoothing, class weights and ignore_index (the general path), fullgraph."""
    w = torch.tensor(W)

    def fn(z: Any, y: Any) -> Any:
        kw = {"class_weight": w, "label_smoothing": 0.1, "ignore_index": -100}
        return lk.cross_entropy(z, y, reduction="none", **kw), lk.cross_entropy(z, y, **kw)

    return torch.compile(fn, fullgraph=True, dynamic=False)


TORCH_KW = {"compiled_fused": {}, "compiled_general": PATHS["ignore-weight-smooth"]}


@pytest.mark.parametrize("compiled", list(TORCH_KW))
def test_torch_compile_fullgraph_value_and_grad(torch: Any, compiled: str, request: pytest.FixtureRequest) -> None:
    fn = request.getfixturevalue(compiled)
    kw = TORCH_KW[compiled]
    ids = np.where(IDS == 0, -100, IDS) if kw else IDS
    z = torch.tensor(Z, requires_grad=True)
    per_element, mean = fn(z, torch.tensor(ids[:, None]))
    mean.backward()
    assert_close(per_element.detach().numpy(), _expected(ids, "none", **kw).value)
    expected = _expected(ids, "mean", **kw)
    assert_close(mean.detach().numpy(), expected.value)
    assert_close(z.grad.numpy(), expected.grad)


@pytest.mark.parametrize("bad", [1000, -1])
@pytest.mark.parametrize("compiled", list(TORCH_KW))
def test_torch_compile_id_out_of_range_is_nan(
    torch: Any, compiled: str, bad: int, request: pytest.FixtureRequest
) -> None:
    fn = request.getfixturevalue(compiled)
    ids = _with_bad(bad)
    # the inputs of the value-and-grad test (logits that require grad): the same graph, no recompilation
    per_element, mean = fn(torch.tensor(Z, requires_grad=True), torch.tensor(ids[:, None]))
    per_element = per_element.detach().numpy()
    assert math.isnan(per_element[1])
    assert np.isfinite(np.delete(per_element, 1)).all()
    assert_close(per_element, _expected(ids, "none", **TORCH_KW[compiled]).value)
    assert math.isnan(mean.item())
    mean.backward()  # and the backward graph runs
