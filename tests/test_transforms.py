"""Framework transforms count as traced (SPEC "Value checks"): ``torch.func.vmap``/``grad``/``jacrev``
hand labelkit tensors that carry no readable values, ``jax.export`` symbolic dims; with the default
``check_values="auto"`` the checks are skipped (an id out of range gives NaN, as under jit), never a
framework error. Also ``torch.compile(dynamic=True)`` and ``jax.vmap`` of the losses and label ops.
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

rng = np.random.default_rng(13)
N, C = 5, 4
Z = rng.standard_normal((N, C)).astype("float32")
IDS = np.array([1, 0, 3, 2, 1])
PROBS = rng.dirichlet(np.ones(C), N).astype("float32")
W = [1.0, 2.0, 0.5, 3.0]


# --- torch.func ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> Any:
    return backend_named("torch").module


PER_EXAMPLE = {
    "ids": (IDS, {}),
    "column-ids": (IDS[:, None], {}),
    "probs": (PROBS, {}),
    "ids-smooth-weight": (IDS, {"label_smoothing": 0.1, "class_weight": W}),
}


@pytest.mark.parametrize("case", list(PER_EXAMPLE))
def test_torch_vmap_per_example_loss(torch: Any, case: str) -> None:
    """Before: "Cannot access data pointer of Tensor that doesn't have storage" (the checks read vmap's
    batched labels)."""
    labels, kw = PER_EXAMPLE[case]
    per_example = torch.func.vmap(lambda z, y: lk.cross_entropy(z, y, task="multiclass", reduction="sum", **kw))
    got = per_example(torch.tensor(Z), torch.tensor(labels))
    target = np.eye(C)[IDS] if labels.dtype.kind == "i" else labels
    expected = O.multiclass(Z, target, reduction="none", **kw).value
    assert_close(got.numpy(), expected)
    eager = lk.cross_entropy(torch.tensor(Z), torch.tensor(labels), reduction="none", **kw)
    assert_close(got.numpy(), eager.numpy())


def test_torch_vmap_id_out_of_range_is_nan_not_an_error(torch: Any) -> None:
    bad = IDS.copy()
    bad[2] = C
    got = torch.func.vmap(lambda z, y: lk.cross_entropy(z, y, task="multiclass", reduction="sum"))(
        torch.tensor(Z), torch.tensor(bad)
    ).numpy()
    assert math.isnan(got[2]) and np.isfinite(np.delete(got, 2)).all()
    with pytest.raises(lk.LabelValueError, match=r"labels\[2\] is 4, outside the valid class ids 0\.\.3"):
        lk.cross_entropy(torch.tensor(Z), torch.tensor(bad))  # eager: checked


def test_torch_vmap_label_ops(torch: Any) -> None:
    z, y = torch.tensor(Z), torch.tensor(IDS)
    hot = torch.func.vmap(lambda z, y: lk.one_hot(y, like=z))(z, y)
    np.testing.assert_array_equal(hot.numpy(), np.eye(C)[IDS])
    ids = torch.func.vmap(lambda z, t: lk.align(z, t, to="sparse", task="multiclass"))(z, torch.tensor(PROBS))
    np.testing.assert_array_equal(ids.numpy(), PROBS.argmax(-1))
    count = torch.func.vmap(lambda z, y: lk.count_valid(z, y, task="multiclass", ignore_index=1))(z, y)
    np.testing.assert_array_equal(count.numpy(), (IDS != 1).astype("float32"))


@pytest.mark.parametrize("labels", ["ids", "probs"])
def test_torch_func_grad_and_jacrev_of_the_logits(torch: Any, labels: str) -> None:
    y = torch.tensor(IDS if labels == "ids" else PROBS)
    target = np.eye(C)[IDS] if labels == "ids" else PROBS
    grad = torch.func.grad(lambda z: lk.cross_entropy(z, y))(torch.tensor(Z))
    assert_close(grad.numpy(), O.multiclass(Z, target).grad)
    jac = torch.func.jacrev(lambda z: lk.cross_entropy(z, y, reduction="none"))(torch.tensor(Z))
    expected = O.multiclass(Z, target, reduction="none").grad  # row i: d l_i / d z_i
    assert_close(np.einsum("iic->ic", jac.numpy()), expected)
    assert_close(jac.numpy().sum(0), expected)  # l_i depends on z_i only


def test_torch_func_grad_of_the_labels(torch: Any) -> None:
    """The labels themselves are grad's wrapped tensors (distillation): the checks must not read them."""
    z = torch.tensor(Z)
    grad = torch.func.grad(lambda t: lk.cross_entropy(z, t))(torch.tensor(PROBS))
    t = torch.tensor(PROBS, requires_grad=True)
    lk.cross_entropy(z, t).backward()  # the eager autograd of the same loss
    assert_close(grad.numpy(), t.grad.numpy())


def test_torch_vmap_of_grad_per_example_gradients(torch: Any) -> None:
    per_example = torch.func.vmap(torch.func.grad(lambda z, y: lk.cross_entropy(z, y, task="multiclass")))
    got = per_example(torch.tensor(Z), torch.tensor(IDS))
    assert_close(got.numpy(), O.sparse(Z, IDS, reduction="none").grad)


def test_torch_compile_dynamic_shapes(torch: Any) -> None:
    def fn(z: Any, y: Any, t: Any) -> Any:
        return (
            lk.cross_entropy(z, y, ignore_index=-100),
            lk.cross_entropy(z, y, reduction="none", ignore_index=-100, label_smoothing=0.1),
            lk.cross_entropy(z, t),
            lk.count_valid(z, y, ignore_index=-100),
            lk.one_hot(y, like=z, ignore_index=-100),
            lk.align(z, t, to="sparse"),
        )

    compiled = torch.compile(fn, fullgraph=True, dynamic=True, backend="aot_eager")
    for n, c in [(4, 5), (7, 5), (6, 9)]:  # new batch sizes and class counts: symbolic sizes, one graph each
        z = torch.tensor(rng.standard_normal((n, c)).astype("float32"))
        y = torch.tensor(rng.integers(0, c, (n, 1)))
        y[0] = -100
        t = torch.softmax(torch.tensor(rng.standard_normal((n, c)).astype("float32")), -1)
        for got, want in zip(compiled(z, y, t), fn(z, y, t)):
            assert_close(got.numpy(), want.numpy())


# --- JAX -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax() -> Any:
    backend_named("jax")
    import jax

    return jax


@pytest.mark.parametrize("case", list(PER_EXAMPLE))
def test_jax_vmap_per_example_loss(jax: Any, case: str) -> None:
    jnp = jax.numpy
    labels, kw = PER_EXAMPLE[case]
    per_example = jax.vmap(lambda z, y: lk.cross_entropy(z, y, task="multiclass", reduction="sum", **kw))
    got = per_example(jnp.asarray(Z), jnp.asarray(labels))
    target = np.eye(C)[IDS] if labels.dtype.kind == "i" else labels
    assert_close(np.asarray(got), O.multiclass(Z, target, reduction="none", **kw).value)
    grads = jax.vmap(jax.grad(lambda z, y: lk.cross_entropy(z, y, task="multiclass", reduction="sum", **kw)))(
        jnp.asarray(Z), jnp.asarray(labels)
    )
    assert_close(np.asarray(grads), O.multiclass(Z, target, reduction="none", **kw).grad)


def test_jax_vmap_label_ops(jax: Any) -> None:
    jnp = jax.numpy
    z, y = jnp.asarray(Z), jnp.asarray(IDS)
    np.testing.assert_array_equal(np.asarray(jax.vmap(lambda z, y: lk.one_hot(y, like=z))(z, y)), np.eye(C)[IDS])
    ids = jax.vmap(lambda z, t: lk.align(z, t, to="sparse", task="multiclass"))(z, jnp.asarray(PROBS))
    np.testing.assert_array_equal(np.asarray(ids), PROBS.argmax(-1))


def _export_batch(jax: Any, fn: Any, labels_shape: str, labels_dtype: Any) -> Any:
    """``jax.export`` of ``fn`` with logits of shape ``(b, 4)`` and labels of ``labels_shape`` (``b``
    symbolic, one scope)."""
    from jax import export

    dims = export.symbolic_shape(f"b, {C}, {labels_shape}")
    return export.export(jax.jit(fn))(
        jax.ShapeDtypeStruct(dims[:2], jax.numpy.float32), jax.ShapeDtypeStruct(dims[2:], labels_dtype)
    )


EXPORTED = {
    "ids": ("b", IDS),
    "column-ids": ("b, 1", IDS[:, None]),
    "probs": (f"b, {C}", PROBS),
}


@pytest.mark.parametrize("case", list(EXPORTED))
def test_jax_export_with_a_symbolic_batch(jax: Any, case: str) -> None:
    """Before: ``float(_DimExpr)`` in ``_losses._ones`` (TypeError) while exporting."""
    jnp = jax.numpy
    shape, labels = EXPORTED[case]
    dtype = jnp.int32 if labels.dtype.kind == "i" else jnp.float32

    def fn(z: Any, y: Any) -> Any:
        return (
            lk.cross_entropy(z, y),
            lk.cross_entropy(z, y, reduction="none", label_smoothing=0.1, class_weight=W),
            lk.count_valid(z, y),
            lk.align(z, y, to="one_hot"),
        )

    exported = _export_batch(jax, fn, shape, dtype)
    for n in (N, 2):  # one export, any batch size
        z, y = jnp.asarray(Z[:n]), jnp.asarray(labels[:n].astype(dtype))
        for got, want in zip(exported.call(z, y), fn(z, y)):
            assert_close(np.asarray(got), np.asarray(want))
    target = np.eye(C)[IDS] if labels.dtype.kind == "i" else labels
    assert_close(np.asarray(exported.call(jnp.asarray(Z), jnp.asarray(labels.astype(dtype)))[0]),
                 O.multiclass(Z, target).value)
