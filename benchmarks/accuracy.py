"""Case ``accuracy``: ``lk.accuracy`` against the hand-written correct comparison, N=8192, C=1000 float32.

On each backend, in one process, with the ``(N, 1)`` column ids of the headline: ``lk.accuracy(z, y)``
(defaults: ``check_values="auto"``, so the ids are range-checked eagerly on NumPy, PyTorch and
TensorFlow) against what a user writes once they know the trap — the argmax compared with the squeezed
ids, the mean as float32:

* NumPy: ``(z.argmax(-1) == y[:, 0]).mean(dtype=np.float32)``
* PyTorch: ``(z.argmax(-1) == y[:, 0]).float().mean()``
* TensorFlow: ``tf.reduce_mean(tf.cast(tf.argmax(z, -1) == y[:, 0], tf.float32))``
* JAX: ``jnp.mean(jnp.argmax(z, -1) == y[:, 0], dtype=jnp.float32)``, both under ``jax.jit``

``top_k=5`` is shown for reference, against the framework's top-k where one exists; it has no target.
labelkit answers it with the framework's kernel where that gives labelkit's answer (``Backend.top_k_hit``:
``torch.topk``'s values; TensorFlow's ``in_top_k`` plus a pass that finds ties and a row sum that finds
NaN), and counts ranks elsewhere. It is measured twice: on the random ids of the headline, where the
target is rarely among the top 5 and TensorFlow's ``in_top_k`` stops scanning a row after a few classes,
and on ids that are the argmax for 80 % of the rows (a trained model), where it scans every class.
"""

from __future__ import annotations

from typing import Any

from benchmarks import _harness as h

NAME = "accuracy"
TITLE = "Accuracy, (N, 1) ids, N=8192, C=1000 float32"
LIMIT = 1.05
METHOD = (
    "one process per backend; interleaved rounds after warm-up; ratio = median of the per-round ratios to the "
    "hand-written correct comparison (min-max in brackets); JAX candidates all under jax.jit."
)

HAND = {
    "numpy": "(z.argmax(-1) == y[:, 0]).mean(dtype=np.float32)",
    "torch": "(z.argmax(-1) == y[:, 0]).float().mean()",
    "tensorflow": "tf.reduce_mean(tf.cast(tf.argmax(z, -1) == y[:, 0], tf.float32))",
    "jax": "jnp.mean(jnp.argmax(z, -1) == y[:, 0], dtype=jnp.float32)",
}
TOP5 = {
    "numpy": "(np.argsort(-z, -1, kind='stable')[:, :5] == y).any(-1).mean(dtype=np.float32)",
    "torch": "(torch.topk(z, 5).indices == y).any(-1).float().mean()",
    "tensorflow": "tf.reduce_mean(tf.cast(tf.math.in_top_k(y[:, 0], z, 5), tf.float32))",
    "jax": "jnp.mean((jax.lax.top_k(z, 5)[1] == y).any(-1), dtype=jnp.float32)",
}


def _natives(backend: str) -> tuple[Any, Any]:
    """The hand-written correct top-1 comparison and a top-5 one, in the framework's own ops."""
    if backend == "numpy":
        import numpy as np

        return (lambda z, y: (z.argmax(-1) == y[:, 0]).mean(dtype=np.float32),
                lambda z, y: (np.argsort(-z, -1, kind="stable")[:, :5] == y).any(-1).mean(dtype=np.float32))
    if backend == "torch":
        import torch

        return (lambda z, y: (z.argmax(-1) == y[:, 0]).float().mean(),
                lambda z, y: (torch.topk(z, 5).indices == y).any(-1).float().mean())
    if backend == "tensorflow":
        import tensorflow as tf

        return (lambda z, y: tf.reduce_mean(tf.cast(tf.argmax(z, -1) == y[:, 0], tf.float32)),
                lambda z, y: tf.reduce_mean(tf.cast(tf.math.in_top_k(y[:, 0], z, 5), tf.float32)))
    import jax
    import jax.numpy as jnp

    return (lambda z, y: jnp.mean(jnp.argmax(z, -1) == y[:, 0], dtype=jnp.float32),
            lambda z, y: jnp.mean((jax.lax.top_k(z, 5)[1] == y).any(-1), dtype=jnp.float32))


def measure(backend: str, *, quick: bool = False, n: int = 8192, c: int = 1000) -> dict[str, Any]:
    import numpy as np

    import labelkit as lk

    if quick:
        n, c = 1024, 100
    fw = h.framework(backend)
    z_np, y_np = h.data(n, c, label_dtype=h.label_dtype(fw))
    z, y = fw.array(z_np), fw.array(y_np[:, None])
    # A trained model's ids: the argmax for 80 % of the rows, the random id for the others.
    trained_np = np.where(np.random.default_rng(1).random(n) < 0.8, z_np.argmax(-1), y_np).astype(y_np.dtype)
    trained = fw.array(trained_np[:, None])
    rounds, sample = (5, 0.005) if quick else (21, 0.1)
    hand, top5 = _natives(backend)
    rows: list[dict[str, Any]] = []
    top5_impls = {"framework top-k": top5, "labelkit top_k=5": lambda z, y: lk.accuracy(z, y, top_k=5)}
    top5_labels = {"framework top-k": TOP5[backend], "labelkit top_k=5": "lk.accuracy(z, y, top_k=5)"}
    for what, impls, labels, ids in (
        ("top-1", {"hand-written": hand, "labelkit": lambda z, y: lk.accuracy(z, y)},
         {"hand-written": HAND[backend], "labelkit": "lk.accuracy(z, y)"}, y),
        ("top-5", top5_impls, top5_labels, y),
        ("top-5, 80 % top-1 ids", top5_impls, top5_labels, trained),
    ):
        jitted = {name: fw.jit(fn) for name, fn in impls.items()}
        cands = {name: (lambda jf=jf, ids=ids: jf(z, ids)) for name, jf in jitted.items()}
        values = {name: float(np.asarray(fw.to_numpy(f()), dtype="float64")) for name, f in cands.items()}
        if len(set(values.values())) != 1:
            raise AssertionError(f"{backend} {what}: the candidates disagree: {values}")
        base = next(iter(impls))
        t = h.compare(cands, baseline=base, block=fw.block, rounds=rounds, sample_s=sample, warmup=2)
        rows += h.time_rows(t, backend=backend, what=what, labels=labels, baseline=labels[base])
    return {"rows": rows, "versions": h.versions(backend), "sizes": {"N": n, "C": c}}


def run(ctx: Any) -> dict[str, Any]:
    result = h.gather(ctx, NAME, TITLE, METHOD, quick_title="Accuracy, (N, 1) ids (quick: N=1024, C=100) float32")
    result["targets"] = h.ratio_targets(
        result["rows"], LIMIT, lambda row: f"lk.accuracy ≤ {LIMIT}× the hand-written correct comparison"
    )
    return result
