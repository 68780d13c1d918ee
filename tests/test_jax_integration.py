"""labelkit inside JAX transformations: ``jax.jit``, ``jax.grad``, ``jax.vmap``, and a jitted optax step.

Every labelkit function is pure and reads only static shapes, so it traces once per shape; values are
not checked while tracing (SPEC "Value checks").
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import labelkit as lk
from conftest import backend_named

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def jax() -> Any:
    return backend_named("jax").module


@pytest.fixture(scope="module")
def jnp(jax: Any) -> Any:
    import jax.numpy as jnp

    return jnp


@pytest.fixture(scope="module")
def optax(jax: Any) -> Any:
    return pytest.importorskip("optax")


def _data(jnp: Any, n: int = 16, c: int = 7, seed: int = 0, ignore: float = 0.0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    logits = jnp.asarray(rng.normal(size=(n, c)).astype("float32") * 2)
    ids = rng.integers(0, c, size=(n, 1)).astype("int32")
    ids[rng.uniform(size=(n, 1)) < ignore] = -1
    return logits, jnp.asarray(ids)


KWARGS = {
    "plain": {},
    "ignore": {"ignore_index": -1},
    "weights-smoothing-ignore": {"ignore_index": -1, "class_weight": [1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.7],
                                 "label_smoothing": 0.1},
    "sum": {"reduction": "sum", "ignore_index": -1},
}


@pytest.mark.parametrize("name", list(KWARGS))
def test_jit_equals_eager(jax: Any, jnp: Any, name: str) -> None:
    kwargs = KWARGS[name]
    logits, labels = _data(jnp, ignore=0.3 if "ignore_index" in kwargs else 0.0)
    eager = lk.cross_entropy(logits, labels, **kwargs)
    jitted = jax.jit(functools.partial(lk.cross_entropy, **kwargs))(logits, labels)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=RTOL, atol=ATOL)


def test_jit_one_hot_equals_sparse(jax: Any, jnp: Any) -> None:
    logits, labels = _data(jnp)
    f = jax.jit(lk.cross_entropy)
    one_hot = lk.one_hot(labels, like=logits)
    np.testing.assert_allclose(np.asarray(f(logits, one_hot)), np.asarray(f(logits, labels)), rtol=RTOL)


def test_grad_equals_optax(jax: Any, jnp: Any, optax: Any) -> None:
    logits, labels = _data(jnp)
    ours = jax.jit(jax.grad(lambda z: lk.cross_entropy(z, labels)))(logits)
    theirs = jax.jit(jax.grad(lambda z: optax.softmax_cross_entropy_with_integer_labels(z, labels[:, 0]).mean()))(
        logits
    )
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=RTOL, atol=ATOL)


def test_grad_with_ignore_index_is_the_masked_mean(jax: Any, jnp: Any, optax: Any) -> None:
    logits, labels = _data(jnp, ignore=0.4)
    keep = labels[:, 0] != -1

    def masked(z: Any) -> Any:
        per = optax.softmax_cross_entropy_with_integer_labels(z, jnp.where(keep, labels[:, 0], 0))
        return jnp.sum(jnp.where(keep, per, 0.0)) / jnp.sum(keep)

    ours = jax.jit(jax.grad(lambda z: lk.cross_entropy(z, labels, ignore_index=-1)))(logits)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(jax.jit(jax.grad(masked))(logits)), rtol=RTOL, atol=ATOL)
    assert np.all(np.asarray(ours)[~np.asarray(keep)] == 0.0)


def test_grad_all_ignored_is_zero(jax: Any, jnp: Any) -> None:
    logits, _ = _data(jnp)
    labels = jnp.full((logits.shape[0], 1), -1)
    value, grad = jax.jit(jax.value_and_grad(lambda z: lk.cross_entropy(z, labels, ignore_index=-1)))(logits)
    assert float(value) == 0.0
    assert np.all(np.asarray(grad) == 0.0)


def test_vmap_over_sequences(jax: Any, jnp: Any) -> None:
    # (N, T, C) logits with (N, T, 1) labels: vmap over N sees (T, C) and (T, 1).
    rng = np.random.default_rng(3)
    logits = jnp.asarray(rng.normal(size=(4, 6, 5)).astype("float32"))
    labels = jnp.asarray(rng.integers(0, 5, size=(4, 6, 1)).astype("int32"))
    per_sequence = jax.jit(jax.vmap(lk.cross_entropy))(logits, labels)
    expected = jax.jit(lambda z, y: lk.cross_entropy(z, y, reduction="none").mean(axis=1))(logits, labels)
    np.testing.assert_allclose(np.asarray(per_sequence), np.asarray(expected), rtol=RTOL, atol=ATOL)


def test_vmap_per_example_needs_task_multiclass(jax: Any, jnp: Any) -> None:
    # Under a per-example vmap the logits are (C,): rank-1 logits read as binary unless told otherwise.
    logits, labels = _data(jnp)
    per_example = jax.jit(jax.vmap(lambda z, y: lk.cross_entropy(z, y, task="multiclass")))(logits, labels[:, 0])
    expected = jax.jit(functools.partial(lk.cross_entropy, reduction="none"))(logits, labels)
    np.testing.assert_allclose(np.asarray(per_example), np.asarray(expected), rtol=RTOL, atol=ATOL)


def test_per_example_gradients_with_vmap_of_grad(jax: Any, jnp: Any) -> None:
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(8, 3)).astype("float32"))
    labels = jnp.asarray(rng.integers(0, 5, size=(8, 1)).astype("int32"))
    w = jnp.asarray(rng.normal(size=(3, 5)).astype("float32"))

    def loss(w: Any, x: Any, y: Any) -> Any:
        return lk.cross_entropy(x @ w, y)

    per_example = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))(w, x[:, None], labels[:, None])
    np.testing.assert_allclose(
        np.asarray(per_example.mean(axis=0)), np.asarray(jax.jit(jax.grad(loss))(w, x, labels)), rtol=1e-4, atol=1e-6
    )


def test_jitted_optax_step_decreases_the_loss(jax: Any, jnp: Any, optax: Any) -> None:
    # The pattern of docs/integrations.md: loss from lk.cross_entropy on (N, 1) labels, one jitted step.
    rng = np.random.default_rng(5)
    n, d, c = 256, 10, 6
    centers = rng.normal(size=(c, d)) * 2
    ids = rng.integers(0, c, size=(n, 1))
    x = jnp.asarray((centers[ids[:, 0]] + rng.normal(size=(n, d))).astype("float32"))
    ids[rng.uniform(size=(n, 1)) < 0.1] = -1  # some unlabelled examples
    y = jnp.asarray(ids.astype("int32"))
    params = {"w": jnp.zeros((d, c)), "b": jnp.zeros((c,))}
    optimizer = optax.adam(0.05)
    opt_state = optimizer.init(params)

    def loss_fn(params: Any, x: Any, y: Any) -> Any:
        logits = x @ params["w"] + params["b"]
        return lk.cross_entropy(logits, y, ignore_index=-1)

    @jax.jit
    def step(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    for _ in range(40):
        params, opt_state, loss = step(params, opt_state, x, y)
        losses.append(float(loss))
    assert losses[0] == pytest.approx(np.log(c), rel=1e-5)  # zero weights: uniform softmax
    assert losses[-1] < 0.5 * losses[0], losses
    assert step._cache_size() == 1  # traced once
