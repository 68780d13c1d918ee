"""Train a PyTorch classifier whose labels come as (N, 1) class ids, with labelkit's loss module.

The one-line change: ``labelkit.torch.CrossEntropyLoss()`` where the code had
``torch.nn.CrossEntropyLoss()`` — which raises ``RuntimeError: 0D or 1D target tensor expected`` on
(N, 1) targets. Everything else (``ignore_index=-100``, ``weight``, ``label_smoothing``, the class axis
at dim 1) is PyTorch's.

    python examples/torch_train.py

The last line printed is ``done: first_loss=... final_loss=... accuracy=... seconds=...``.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import labelkit.torch

N, D, C = 2048, 20, 10


def make_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs, one per class; labels of shape (N, 1), a tenth of them unlabelled (-100)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(C, D)) * 0.5
    y = rng.integers(0, C, size=(N, 1))
    x = (centers[y[:, 0]] + rng.normal(size=(N, D))).astype("float32")
    y[rng.uniform(size=N) < 0.1] = -100
    return torch.from_numpy(x), torch.from_numpy(y)


def main() -> None:
    start = time.perf_counter()
    torch.manual_seed(0)
    x, y = make_data()
    model = torch.nn.Sequential(torch.nn.Linear(D, 64), torch.nn.ReLU(), torch.nn.Linear(64, C))
    loss_fn = labelkit.torch.CrossEntropyLoss()  # <- the one-line change (was torch.nn.CrossEntropyLoss())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    epoch_losses = []
    for epoch in range(5):
        order = torch.randperm(N)
        total, batches = 0.0, 0
        for i in range(0, N, 128):
            idx = order[i : i + 128]
            loss = loss_fn(model(x[idx]), y[idx])  # y[idx] has shape (128, 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        epoch_losses.append(total / batches)
        print(f"epoch {epoch + 1}: loss {epoch_losses[-1]:.4f}")

    with torch.no_grad():
        labelled = y[:, 0] != -100
        accuracy = (model(x[labelled]).argmax(dim=1) == y[labelled, 0]).float().mean().item()
    print(
        f"done: first_loss={epoch_losses[0]:.4f} final_loss={epoch_losses[-1]:.4f} accuracy={accuracy:.3f} "
        f"seconds={time.perf_counter() - start:.1f}"
    )


if __name__ == "__main__":
    main()
