"""A JAX batch sharded over 4 host devices vs one device on the same global batch.

Run by ``tests/test_distributed.py`` with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (it
must be set before JAX starts). Two recipes:

* ``jax.jit`` on sharded arrays (GSPMD): the loss is written for the global batch, as on one device;
  XLA inserts the collectives, so ``lk.cross_entropy(..., reduction="mean")`` is the global mean.
* ``jax.shard_map`` (per-device code): ``lax.psum`` the per-shard ``reduction="sum"`` losses and the
  per-shard ``lk.count_valid`` counts, then divide.

Prints ``RESULT <json>`` with the largest differences from one device.
"""

from __future__ import annotations

import json
import sys
from typing import Any

N, D, C, DEVICES = 32, 4, 5, 4
SCENARIOS = {
    "ignore": {"ignore_index": -1},
    "ignore_weight_smoothing": {"ignore_index": -1, "class_weight": [1.0, 2.0, 0.5, 1.5, 1.0], "label_smoothing": 0.1},
}


def _max_diff(a: Any, b: Any) -> float:
    import jax
    import numpy as np

    return max(
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def _scenario(mesh: Any, kw: dict[str, Any], single: tuple[Any, ...], sharded: tuple[Any, ...]) -> dict[str, Any]:
    """One device vs jit on sharded arrays vs shard_map + psum, for one set of loss arguments."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P

    import labelkit as lk

    count_kw = {k: v for k, v in kw.items() if k in ("ignore_index", "class_weight")}

    def loss_fn(params: Any, x: Any, y: Any) -> Any:
        return lk.cross_entropy(x @ params["w"] + params["b"], y, **kw)

    def per_shard(params: Any, x: Any, y: Any) -> Any:
        logits = x @ params["w"] + params["b"]
        total = jax.lax.psum(lk.cross_entropy(logits, y, reduction="sum", **kw), "data")
        count = jax.lax.psum(lk.count_valid(logits, y, **count_kw), "data")
        return total / jnp.where(count > 0, count, 1.0)

    def naive_shard(params: Any, x: Any, y: Any) -> Any:
        return jax.lax.pmean(lk.cross_entropy(x @ params["w"] + params["b"], y, **kw), "data")

    specs = {"mesh": mesh, "in_specs": (P(), P("data"), P("data")), "out_specs": P()}
    ref_loss, ref_grads = jax.jit(jax.value_and_grad(loss_fn))(*single)
    gspmd_loss, gspmd_grads = jax.jit(jax.value_and_grad(loss_fn))(*sharded)
    sm_loss, sm_grads = jax.jit(jax.value_and_grad(jax.shard_map(per_shard, **specs)))(*sharded)
    naive = jax.jit(jax.shard_map(naive_shard, **specs))(*sharded)
    return {
        "ref_loss": float(ref_loss),
        "gspmd_loss": float(gspmd_loss),
        "gspmd_loss_diff": abs(float(gspmd_loss) - float(ref_loss)),
        "gspmd_grad_diff": _max_diff(gspmd_grads, ref_grads),
        "shard_map_loss": float(sm_loss),
        "shard_map_loss_diff": abs(float(sm_loss) - float(ref_loss)),
        "shard_map_grad_diff": _max_diff(sm_grads, ref_grads),
        "naive_mean_of_means_diff": abs(float(naive) - float(ref_loss)),
    }


def main() -> None:
    import jax
    import numpy as np
    import optax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import labelkit as lk

    assert len(jax.devices()) == DEVICES, jax.devices()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    y = rng.integers(0, C, size=(N, 1)).astype("int32")
    y[:7] = -1  # shard 0 gets 1 labelled example of 8; the others (nearly) all of theirs
    y[8:10] = -1
    params = {"w": rng.normal(size=(D, C)).astype("float32"), "b": rng.normal(size=(C,)).astype("float32")}
    one = jax.devices()[0]
    x1, y1, p1 = jax.device_put(x, one), jax.device_put(y, one), jax.device_put(params, one)
    out: dict[str, Any] = {"devices": len(jax.devices())}

    # jax.make_mesh's default axes are Explicit (sharding in the types); Auto leaves it to GSPMD.
    for axes in ("explicit", "auto"):
        axis_type = getattr(jax.sharding.AxisType, axes.capitalize())
        mesh = jax.make_mesh((DEVICES,), ("data",), axis_types=(axis_type,))
        data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
        xs, ys, ps = jax.device_put(x, data), jax.device_put(y, data), jax.device_put(params, replicated)
        out[f"{axes}_shards"] = len(xs.addressable_shards)
        for name, kw in SCENARIOS.items():
            out[f"{axes}_{name}"] = _scenario(mesh, kw, (p1, x1, y1), (ps, xs, ys))

    # A jitted optax step on the sharded batch (default, explicit axes): the same trajectory as on one
    # device, and it learns.
    mesh = jax.make_mesh((DEVICES,), ("data",))
    data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    sharded = (jax.device_put(params, replicated), jax.device_put(x, data), jax.device_put(y, data))
    optimizer = optax.sgd(0.5)

    def loss_fn(params: Any, x: Any, y: Any) -> Any:
        return lk.cross_entropy(x @ params["w"] + params["b"], y, ignore_index=-1)

    @jax.jit
    def step(params: Any, state: Any, x: Any, y: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    trajectories = {}
    for tag, (p, xx, yy) in {"one": (p1, x1, y1), "sharded": sharded}.items():
        state, losses = optimizer.init(p), []
        for _ in range(10):
            p, state, loss = step(p, state, xx, yy)
            losses.append(float(loss))
        trajectories[tag] = losses
    out["train"] = trajectories
    out["train_diff"] = max(abs(a - b) for a, b in zip(trajectories["one"], trajectories["sharded"]))
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
