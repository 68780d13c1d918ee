"""PyTorch DDP (gloo, 2 processes on localhost) vs one device on the same global batch.

Run by ``tests/test_distributed.py``. The recipe under test, per rank::

    local_sum = loss_fn(logits, y)                      # labelkit.torch.CrossEntropyLoss(reduction="sum")
    count = lk.count_valid(logits, y, ignore_index=-100)
    dist.all_reduce(count)                              # the global number of non-ignored labels
    loss = local_sum * world_size / torch.where(count > 0, count, 1.0)
    loss.backward()                                     # DDP averages: Σ_ranks ∇local_sum / count

Prints ``RESULT <json>`` with the largest differences from one device.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from typing import Any

N, D, C, WORLD = 16, 4, 5, 2
SCENARIOS = {
    "ignore": {"ignore_index": -100},
    "ignore_weight_smoothing": {"ignore_index": -100, "weight": [1.0, 2.0, 0.5, 1.5, 1.0], "label_smoothing": 0.1},
}


def _data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    y = rng.integers(0, C, size=(N, 1))
    y[:7] = -100  # rank 0 gets 1 labelled example of 8, rank 1 all 8
    return x, y


def _model(torch: Any) -> Any:
    torch.manual_seed(0)
    return torch.nn.Linear(D, C)


def _run(rank: int, port: int, path: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    import labelkit as lk
    from labelkit.torch import CrossEntropyLoss

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    x, y = _data()
    x, y = torch.tensor(x), torch.tensor(y)
    share = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
    out: dict[str, Any] = {"world_size": dist.get_world_size()}
    for name, kw in SCENARIOS.items():
        kw = dict(kw)
        weight = torch.tensor(kw.pop("weight")) if "weight" in kw else None
        # DDP on this rank's share of the global batch.
        ddp = DDP(_model(torch))
        opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
        logits = ddp(x[share])
        local_sum = CrossEntropyLoss(weight=weight, reduction="sum", **kw)(logits, y[share])
        count = lk.count_valid(logits, y[share], ignore_index=kw["ignore_index"], class_weight=weight)
        dist.all_reduce(count)  # SUM
        loss = local_sum * WORLD / torch.where(count > 0, count, 1.0)  # 0, not NaN, when all are ignored
        loss.backward()
        opt.step()
        reported = loss.detach() / WORLD
        dist.all_reduce(reported)  # the global loss, for logging
        naive = CrossEntropyLoss(weight=weight, **kw)(logits.detach(), y[share]) / WORLD
        dist.all_reduce(naive)  # the average of per-rank means: what the recipe avoids
        if rank == 0:
            # One device, the whole global batch.
            ref = _model(torch)
            ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5)
            ref_loss = CrossEntropyLoss(weight=weight, **kw)(ref(x), y)
            ref_loss.backward()
            grads_before = [p.grad.clone() for p in ref.parameters()]
            ref_opt.step()
            grads = [p.grad for p in ddp.module.parameters()]
            out[name] = {
                "loss": float(reported),
                "ref_loss": float(ref_loss.detach()),
                "loss_diff": abs(float(reported) - float(ref_loss.detach())),
                "grad_diff": max(float((g - r).abs().max()) for g, r in zip(grads, grads_before)),
                "step_diff": max(
                    float((p - r).abs().max()) for p, r in zip(ddp.module.parameters(), ref.parameters())
                ),
                "naive_mean_of_means_diff": abs(float(naive) - float(ref_loss.detach())),
            }
    if rank == 0:
        with open(path, "w") as f:
            json.dump(out, f)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "result.json")
        mp.spawn(_run, args=(_free_port(), path), nprocs=WORLD, join=True)
        with open(path) as f:
            out = json.load(f)
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
