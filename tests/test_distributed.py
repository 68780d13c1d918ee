"""Data-parallel training on the engines users already run: the same loss and gradients as one device.

Each engine runs in a fresh process (``tests/workers/``): ``tf.distribute.MirroredStrategy`` over two
logical CPUs with a custom training loop, PyTorch DDP with gloo and 2 processes, and a JAX batch sharded
over 4 host devices (``jit`` on sharded arrays, and ``shard_map`` + ``psum``). Every global batch has
``ignore_index`` labels spread unevenly over the replicas, so that averaging per-replica means would
differ from the one-device loss: the recipe — ``reduction="sum"`` per replica over the globally
all-reduced ``lk.count_valid`` — must not. A second scenario adds class weights and label smoothing.

Also, in-process: ``lk.count_valid`` is the denominator of ``reduction="mean"`` on every backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import labelkit as lk
from subproc import need, run_worker

TOL = 1e-5  # float32 loss and gradients
NAIVE = 1e-3  # averaging per-replica means must visibly differ (the data is built so)
SCENARIOS = ("ignore", "ignore_weight_smoothing")


# --- tf.distribute -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf_report() -> dict[str, Any]:
    need("tensorflow", "keras")
    return run_worker("tf_distributed_worker.py")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_mirrored_strategy_matches_one_device(tf_report: dict[str, Any], scenario: str) -> None:
    assert tf_report["replicas"] == 2
    r = tf_report[scenario]
    assert r["loss_diff"] <= TOL, r
    assert r["grad_diff"] <= TOL, r
    assert r["step_diff"] <= TOL, r  # optimizer.apply_gradients in the replica context
    assert r["naive_mean_of_means_diff"] > NAIVE, r


# --- PyTorch DDP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ddp_report() -> dict[str, Any]:
    need("torch")
    return run_worker("ddp_worker.py")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ddp_matches_one_device(ddp_report: dict[str, Any], scenario: str) -> None:
    assert ddp_report["world_size"] == 2
    r = ddp_report[scenario]
    assert r["loss_diff"] <= TOL, r
    assert r["grad_diff"] <= TOL, r
    assert r["step_diff"] <= TOL, r
    assert r["naive_mean_of_means_diff"] > NAIVE, r


# --- JAX sharding --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax_report() -> dict[str, Any]:
    need("jax", "optax")
    return run_worker("jax_sharding_worker.py", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("axes", ["explicit", "auto"])
def test_jax_sharded_batch_matches_one_device(jax_report: dict[str, Any], axes: str, scenario: str) -> None:
    assert jax_report["devices"] == 4 and jax_report[f"{axes}_shards"] == 4
    r = jax_report[f"{axes}_{scenario}"]
    assert r["gspmd_loss_diff"] <= TOL, r
    assert r["gspmd_grad_diff"] <= TOL, r
    assert r["shard_map_loss_diff"] <= TOL, r
    assert r["shard_map_grad_diff"] <= TOL, r
    assert r["naive_mean_of_means_diff"] > NAIVE, r


def test_jax_sharded_training_follows_one_device(jax_report: dict[str, Any]) -> None:
    one = jax_report["train"]["one"]
    assert one[-1] < one[0]
    assert jax_report["train_diff"] <= TOL


# --- count_valid, on every backend ----------------------------------------------------------------

COUNT_CASES: dict[str, tuple[tuple[int, ...], str, dict[str, Any]]] = {
    "sparse": ((8, 5), "ids", {}),
    "column-ignore": ((8, 5), "column", {"ignore_index": -1}),
    "column-ignore-weight": ((8, 5), "column", {"ignore_index": -1, "class_weight": [1.0, 2.0, 0.5, 1.5, 3.0]}),
    "sequence-ignore-weight": ((2, 3, 4), "ids", {"ignore_index": -1, "class_weight": [1.0, 2.0, 0.5, 1.5]}),
    "channels-first-ignore": ((2, 4, 3), "column-axis1", {"ignore_index": -1, "axis": 1}),
    "probs": ((8, 5), "probs", {}),
    "probs-weight": ((8, 5), "probs", {"class_weight": [1.0, 2.0, 0.5, 1.5, 3.0]}),
    "binary": ((8, 1), "binary", {}),
    "binary-weight": ((8,), "binary", {"class_weight": [0.3, 2.0]}),
    "multilabel-weight": ((8, 5), "multi_hot", {"task": "multilabel", "class_weight": [1.0, 2.0, 0.5, 1.5, 3.0]}),
}


def _labels(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind in ("probs", "multi_hot"):
        if kind == "probs":
            return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype("float32")
        return rng.integers(0, 2, size=shape).astype("float32")
    if kind == "binary":
        return rng.integers(0, 2, size=shape).astype("float32")
    axis = 1 if kind == "column-axis1" else len(shape) - 1
    c = shape[axis]
    batch = shape[:axis] + shape[axis + 1 :]
    ids = rng.integers(0, c, size=batch)
    ids[rng.uniform(size=batch) < 0.3] = -1
    if kind == "ids":
        ids[ids == -1] = 0
        return ids
    return np.expand_dims(ids, axis)


@pytest.mark.parametrize("case", list(COUNT_CASES))
def test_count_valid_is_the_mean_denominator(backend: Any, case: str) -> None:
    shape, kind, kw = COUNT_CASES[case]
    rng = np.random.default_rng(len(case))
    logits = backend.to_backend(rng.normal(size=shape).astype("float32"))
    labels = backend.to_backend(_labels(rng, shape, kind))
    count_kw = {k: v for k, v in kw.items() if k != "reduction"}
    count = lk.count_valid(logits, labels, **count_kw)
    mean = lk.cross_entropy(logits, labels, **kw)
    assert backend.is_native(count) or isinstance(count, np.generic)  # NumPy may give a NumPy scalar
    assert backend.dtype_name(count) == "float32"
    total = lk.cross_entropy(logits, labels, reduction="sum", **kw)
    np.testing.assert_allclose(
        backend.to_numpy(total) / backend.to_numpy(count), backend.to_numpy(mean), rtol=1e-5, atol=1e-6
    )


def test_count_valid_counts_non_ignored(backend: Any) -> None:
    logits = backend.to_backend(np.zeros((5, 3), "float32"))
    labels = backend.to_backend(np.array([[0], [-100], [2], [-100], [1]]))
    assert float(backend.to_numpy(lk.count_valid(logits, labels, ignore_index=-100))) == 3.0
    as64 = lk.count_valid(backend.to_backend(np.zeros((5, 3), "float64")), labels, ignore_index=-100)
    assert backend.dtype_name(as64) == backend.canonical("float64")  # the loss's dtype
    weighted = lk.count_valid(logits, labels, ignore_index=-100, class_weight=[1.0, 2.0, 4.0])
    assert float(backend.to_numpy(weighted)) == 1.0 + 4.0 + 2.0


def test_count_valid_all_ignored_is_zero(backend: Any) -> None:
    logits = backend.to_backend(np.zeros((3, 4), "float32"))
    labels = backend.to_backend(np.full((3, 1), -1))
    assert float(backend.to_numpy(lk.count_valid(logits, labels, ignore_index=-1))) == 0.0


def test_count_valid_checks_shapes() -> None:
    with pytest.raises(lk.ShapeMismatchError, match=r"labels have shape \(4, 2\) but logits have shape \(4, 3\)"):
        lk.count_valid(np.zeros((4, 3), "float32"), np.zeros((4, 2), "int64"))
