"""Train a Keras classifier whose labels come as (N, 1) class ids, with labelkit's loss.

The one-line change: ``loss=labelkit.keras.CrossEntropy()``. The same loss takes the (N, 1) ids here,
(N,) ids, or one-hot rows, and leaves out the unlabelled examples (``-1``) of the mean. Runs on any
Keras 3 backend:

    KERAS_BACKEND=tensorflow python examples/keras_train.py    # or jax, or torch

The last line printed is ``done: first_loss=... final_loss=... accuracy=... seconds=...``.
"""

from __future__ import annotations

import time

import keras
import numpy as np

import labelkit.keras

N, D, C = 2048, 20, 10


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class; labels of shape (N, 1), a tenth of them unlabelled (-1)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(C, D)) * 0.5
    y = rng.integers(0, C, size=(N, 1))
    x = (centers[y[:, 0]] + rng.normal(size=(N, D))).astype("float32")
    y[rng.uniform(size=N) < 0.1] = -1
    return x, y


def main() -> None:
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    x, y = make_data()
    model = keras.Sequential(
        [keras.Input((D,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(C)]  # logits
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=labelkit.keras.CrossEntropy(ignore_index=-1),  # <- the one-line change
    )
    history = model.fit(x, y, epochs=5, batch_size=128, verbose=2)
    losses = history.history["loss"]

    labelled = y[:, 0] != -1
    predicted = np.argmax(model.predict(x[labelled], verbose=0), axis=-1)
    accuracy = float(np.mean(predicted == y[labelled, 0]))
    print(f"backend: {keras.backend.backend()}")
    print(
        f"done: first_loss={losses[0]:.4f} final_loss={losses[-1]:.4f} accuracy={accuracy:.3f} "
        f"seconds={time.perf_counter() - start:.1f}"
    )


if __name__ == "__main__":
    main()
