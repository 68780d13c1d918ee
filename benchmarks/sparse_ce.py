"""Case ``sparse_ce``: sparse cross-entropy at N=8192, C=1000 float32, forward and forward+backward.

On each backend, in one process: ``lk.cross_entropy(z, y)`` (defaults: ``check_values="auto"``, so the
ids are range-checked eagerly on NumPy, PyTorch and TensorFlow) against the framework's native fused
sparse loss and against the common one-hot-then-categorical path; Keras 3's
``sparse_categorical_crossentropy`` on the same backend is shown for reference. The gradient is
taken with respect to the logits with each framework's own autodiff. JAX: every candidate runs
under ``jax.jit`` (labelkit under jit against optax under jit), the gradient with
``jax.value_and_grad``. NumPy has no autodiff: forward only.
"""

from __future__ import annotations

from typing import Any

from benchmarks import _harness as h

NAME = "sparse_ce"
TITLE = "Sparse cross-entropy, N=8192, C=1000 float32"
LIMIT = 1.05
METHOD = (
    "one process per backend; interleaved rounds after warm-up; ratio = median of the per-round ratios to the "
    "native fused call (min-max in brackets); JAX candidates all under jax.jit."
)


def measure(backend: str, *, quick: bool = False, n: int = 8192, c: int = 1000) -> dict[str, Any]:
    import labelkit as lk

    if quick:
        n, c = 1024, 100
    fw = h.framework(backend)
    z_np, y_np = h.data(n, c, label_dtype=h.label_dtype(fw))
    z, y = fw.array(z_np), fw.array(y_np)
    k = h.keras_calls(backend)
    rounds, sample = (5, 0.005) if quick else (21, 0.1)

    impls = {
        "native": fw.sparse_ce,
        "labelkit": lambda z, y: lk.cross_entropy(z, y),
        "one-hot path": fw.onehot_ce,
    }
    labels = {
        "native": fw.calls["sparse_ce"],
        "labelkit": "lk.cross_entropy(z, y)",
        "one-hot path": fw.calls["onehot_ce"],
    }
    if k is not None:
        keras, kcalls = k
        scce = keras.losses.sparse_categorical_crossentropy
        impls["keras"] = lambda z, y: keras.ops.mean(scce(y, z, from_logits=True))
        labels["keras"] = kcalls["sparse_ce"]
    rows: list[dict[str, Any]] = []
    modes = [("forward", False)] + ([("forward+backward", True)] if fw.has_grad else [])
    for what, grad in modes:
        cands = {}
        for name, fn in impls.items():
            g = fw.fwd_bwd(fn) if grad else fn
            jf = fw.jit(g)
            cands[name] = (lambda jf=jf: jf(z, y))
        _agree(fw, cands, grad)
        t = h.compare(cands, baseline="native", block=fw.block, rounds=rounds, sample_s=sample, warmup=2)
        suffix = f"; gradient: {fw.calls['grad']}" if grad else ""
        lab = {name: text + suffix for name, text in labels.items()}
        rows += h.time_rows(t, backend=backend, what=what, labels=lab, baseline=lab["native"])
    return {"rows": rows, "versions": h.versions(backend), "sizes": {"N": n, "C": c}}


def _agree(fw: h.Framework, cands: dict[str, Any], grad: bool) -> None:
    import numpy as np

    def host(out: Any) -> Any:
        if grad:
            return [np.asarray(fw.to_numpy(o), dtype="float64") for o in out]
        return [np.asarray(out if isinstance(out, np.ndarray) else fw.to_numpy(out), dtype="float64")]

    ref = host(cands["native"]())
    for name, f in cands.items():
        got = host(f())
        for a, b in zip(got, ref):
            if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-6):
                raise AssertionError(f"{fw.name}: {name} disagrees with the native call")


def run(ctx: Any) -> dict[str, Any]:
    result = h.gather(
        ctx, NAME, TITLE, METHOD, quick_title="Sparse cross-entropy (quick: N=1024, C=100) float32", keras=True
    )
    result["targets"] = h.ratio_targets(
        result["rows"], LIMIT, lambda row: f"sparse CE {row['what']} ≤ {LIMIT}× native fused"
    )
    return result
