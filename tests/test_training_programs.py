"""Real training programs, as a user writes them, with the framework's own loss and with labelkit's.

Each trains a small MLP on scikit-learn's bundled digits (1797 8x8 images, nothing downloaded) from the
same seed and data, with the labels shaped as datasets yield them (``(N, 1)`` columns where the
framework allows), and checks that the loss curves are equal step by step and that the model learns.
Keras runs on its TensorFlow, JAX and PyTorch backends (in the Keras worker's process, one per backend,
shared with ``tests/test_keras.py``); PyTorch and JAX + optax run here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from keras_runs import KERAS_BACKENDS, keras_report
from subproc import need

RTOL = 1e-5  # float32 curves: the same computation up to the order of float operations
N, BATCH, EPOCHS = 640, 64, 4


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The first ``N`` digits: features scaled to [0, 1] (float32), labels 0..9 (int64, shape (N,))."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data[:N] / 16.0).astype("float32"), digits.target[:N].astype("int64")


# --- Keras: model.fit on each backend ----------------------------------------------------------------


@pytest.fixture(scope="module", params=KERAS_BACKENDS, ids=[f"keras-{b}" for b in KERAS_BACKENDS])
def keras_training(request: pytest.FixtureRequest) -> dict[str, Any]:
    program = keras_report(request.param)["training_program"]
    assert program is not None, "scikit-learn is missing in the worker's environment (the test extra installs it)"
    return program


def test_keras_fit_on_digits_equals_sparse_categorical_crossentropy(keras_training: dict[str, Any]) -> None:
    ours = keras_training["labelkit"]
    np.testing.assert_allclose(ours, keras_training["native"], rtol=RTOL)
    assert ours[-1] < 0.5 * ours[0], ours
    assert keras_training["accuracy"] == keras_training["native_accuracy"] and keras_training["accuracy"] > 0.8


def test_keras_fit_on_digits_with_a_softmax_output(keras_training: dict[str, Any]) -> None:
    # Dense(10, activation="softmax") with from_logits=False, as Keras' own default expects.
    np.testing.assert_allclose(keras_training["labelkit_softmax"], keras_training["native_softmax"], rtol=RTOL)


# --- PyTorch: a plain training loop ----------------------------------------------------------------


def _torch_curve(make_loss: Any, column: bool) -> tuple[list[float], float]:
    import torch

    import labelkit.torch  # noqa: F401  (the module under test; imported with torch)

    x_np, y_np = _digits()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = make_loss()
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    curve = []
    for _ in range(EPOCHS):
        for i in range(0, N, BATCH):
            xb, yb = x[i : i + BATCH], y[i : i + BATCH]
            loss = loss_fn(model(xb), yb[:, None] if column else yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            curve.append(float(loss.detach()))
    with torch.no_grad():
        accuracy = float((model(x).argmax(-1) == y).float().mean())
    return curve, accuracy


def test_pytorch_loop_on_digits_equals_cross_entropy_loss() -> None:
    need("torch")
    import torch

    import labelkit as lk
    import labelkit.torch

    native, native_accuracy = _torch_curve(torch.nn.CrossEntropyLoss, column=False)
    drop_in, accuracy = _torch_curve(labelkit.torch.CrossEntropyLoss, column=False)
    functional, _ = _torch_curve(lambda: lk.cross_entropy, column=True)  # (N, 1) labels, class axis last
    np.testing.assert_allclose(drop_in, native, rtol=RTOL)
    np.testing.assert_allclose(functional, native, rtol=RTOL)
    assert np.mean(native[-10:]) < 0.5 * np.mean(native[:10])
    assert accuracy == native_accuracy and accuracy > 0.8


# --- JAX + optax: a jitted training step -----------------------------------------------------------


def _jax_curve(loss_of: Any) -> tuple[list[float], float]:
    import jax
    import jax.numpy as jnp
    import optax

    x_np, y_np = _digits()
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params = {
        "w1": jax.random.normal(k1, (64, 32)) * 0.125,
        "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32, 10)) * 0.18,
        "b2": jnp.zeros(10),
    }

    def forward(p: Any, x: Any) -> Any:
        return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    optimizer = optax.adam(0.01)
    state = optimizer.init(params)

    @jax.jit
    def step(p: Any, s: Any, x: Any, y: Any) -> Any:
        loss, grads = jax.value_and_grad(lambda q: loss_of(forward(q, x), y))(p)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    curve = []
    for _ in range(EPOCHS):
        for i in range(0, N, BATCH):
            params, state, loss = step(params, state, x[i : i + BATCH], y[i : i + BATCH])
            curve.append(float(loss))
    accuracy = float(jnp.mean(jnp.argmax(forward(params, x), -1) == y))
    return curve, accuracy


def test_jax_optax_loop_on_digits_equals_optax() -> None:
    need("jax", "optax")
    import optax

    import labelkit as lk

    native, native_accuracy = _jax_curve(lambda z, y: optax.softmax_cross_entropy_with_integer_labels(z, y).mean())
    ours, accuracy = _jax_curve(lambda z, y: lk.cross_entropy(z, y[:, None]))  # (N, 1) labels under jit
    np.testing.assert_allclose(ours, native, rtol=RTOL)
    assert np.mean(native[-10:]) < 0.5 * np.mean(native[:10])
    assert accuracy == native_accuracy and accuracy > 0.8
