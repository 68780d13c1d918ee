"""Train a JAX classifier whose labels come as (N, 1) class ids: a jitted optax step with lk.cross_entropy.

The one-line change: ``lk.cross_entropy(logits, labels, ignore_index=-1)`` where the code had
``optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()`` — which, given (N, 1)
labels, broadcasts instead of raising, and reads the padding label -1 as class C-1.
``lk.cross_entropy`` is pure and reads only static shapes: it traces once under ``jax.jit``.

    python examples/jax_train.py

The last line printed is ``done: first_loss=... final_loss=... accuracy=... seconds=...``.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import labelkit as lk

N, D, C, H = 2048, 20, 10, 64


def make_data(seed: int = 0) -> tuple[jax.Array, jax.Array]:
    """Gaussian blobs, one per class; labels of shape (N, 1), a tenth of them unlabelled (-1)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(C, D)) * 0.5
    y = rng.integers(0, C, size=(N, 1))
    x = (centers[y[:, 0]] + rng.normal(size=(N, D))).astype("float32")
    y[rng.uniform(size=N) < 0.1] = -1
    return jnp.asarray(x), jnp.asarray(y.astype("int32"))


def init_params(key: jax.Array) -> dict[str, jax.Array]:
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (D, H)) / np.sqrt(D),
        "b1": jnp.zeros(H),
        "w2": jax.random.normal(k2, (H, C)) / np.sqrt(H),
        "b2": jnp.zeros(C),
    }


def model(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    hidden = jax.nn.relu(x @ params["w1"] + params["b1"])
    return hidden @ params["w2"] + params["b2"]  # logits (N, C)


def loss_fn(params: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    return lk.cross_entropy(model(params, x), y, ignore_index=-1)  # <- the one-line change


optimizer = optax.adam(1e-2)


@jax.jit
def train_step(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def main() -> None:
    start = time.perf_counter()
    x, y = make_data()
    params = init_params(jax.random.key(0))
    opt_state = optimizer.init(params)
    rng = np.random.default_rng(1)

    epoch_losses = []
    for epoch in range(5):
        order = rng.permutation(N)
        losses = []
        for i in range(0, N, 128):
            idx = order[i : i + 128]
            params, opt_state, loss = train_step(params, opt_state, x[idx], y[idx])
            losses.append(loss)
        epoch_losses.append(float(jnp.mean(jnp.stack(losses))))
        print(f"epoch {epoch + 1}: loss {epoch_losses[-1]:.4f}")

    labelled = np.asarray(y[:, 0]) != -1
    predicted = np.asarray(jnp.argmax(model(params, x), axis=-1))
    accuracy = float(np.mean(predicted[labelled] == np.asarray(y[:, 0])[labelled]))
    print(
        f"done: first_loss={epoch_losses[0]:.4f} final_loss={epoch_losses[-1]:.4f} accuracy={accuracy:.3f} "
        f"seconds={time.perf_counter() - start:.1f}"
    )


if __name__ == "__main__":
    main()
