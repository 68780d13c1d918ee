"""Case ``args``: the argument matrix — every argument combination against the native call with the same arguments.

Configurations: ``plain``; ``ignore`` (``ignore_index=-100``, a tenth of the ids set to it);
``weights`` (``class_weight``, C positive weights); ``smoothing`` (``label_smoothing=0.1``); ``all``
(the three together); each with ``reduction="mean"``, ``"sum"`` and ``"none"``, and each with sparse ids
``(N,)``, column ids ``(N, 1)`` and one-hot rows ``(N, C)``. Forward+backward (the gradient with respect
to the logits; ``"none"`` is summed first, on both sides).

The native call takes the same arguments: on PyTorch ``F.cross_entropy(z, y, weight=, ignore_index=,
reduction=, label_smoothing=)`` (column ids squeezed first, as PyTorch needs); on TensorFlow and JAX, where
no fused call takes them all, the masked expression a user writes: the fused sparse kernel
(``tf.nn.sparse_softmax_cross_entropy_with_logits``, ``optax.softmax_cross_entropy_with_integer_labels``)
when nothing is smoothed, else ``log_softmax`` and a gather; weights gathered; ignored ids masked; the mean
over ``Σ w[y_i]`` of the counted elements. One-hot rows carry no ignored ids (a zero row is not one-hot):
their ``ignore`` rows pass ``ignore_index=-100`` and ignore nothing. JAX: both sides under ``jax.jit``.
"""

from __future__ import annotations

from typing import Any

from benchmarks import _harness as h

NAME = "args"
TITLE = "Argument matrix: sparse CE with ignore_index / class_weight / label_smoothing, N=4096, C=1000, fwd+bwd"
LIMIT = 1.05
METHOD = (
    "one process per framework; every configuration a paired comparison with the native call taking the same "
    "arguments (interleaved rounds after warm-up; ratio = median of the per-round ratios, min-max in brackets)."
)
FRAMEWORKS = ("torch", "tensorflow", "jax")
CONFIGS = {
    "plain": {},
    "ignore": {"ignore_index": -100},
    "weights": {"class_weight": True},
    "smoothing": {"label_smoothing": 0.1},
    "all": {"ignore_index": -100, "class_weight": True, "label_smoothing": 0.1},
}
REDUCTIONS = ("mean", "sum", "none")
LABELS = ("sparse", "column", "one-hot")


def _inputs(n: int, c: int, ignore: bool, labels: str, seed: int = 0) -> tuple[Any, Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c), dtype=np.float32)
    ids = rng.integers(0, c, size=n)
    if ignore and labels != "one-hot":
        ids[rng.uniform(size=n) < 0.1] = -100
    w = rng.uniform(0.5, 2.0, size=c).astype(np.float32)
    if labels == "one-hot":
        y = np.eye(c, dtype=np.float32)[ids]
    elif labels == "column":
        y = ids[:, None]
    else:
        y = ids
    return z, y, w


# --- the native calls ----------------------------------------------------------------------------


def _torch_native(fw: Any, labels: str, kw: dict[str, Any], w: Any) -> Any:
    F = fw.F
    weight = w if kw.get("class_weight") else None
    ignore = kw.get("ignore_index", -100)
    eps = kw.get("label_smoothing", 0.0)

    def fn(z: Any, y: Any, reduction: str) -> Any:
        if labels == "column":
            y = y.squeeze(1)
        return F.cross_entropy(z, y, weight=weight, ignore_index=ignore, reduction=reduction, label_smoothing=eps)

    return fn


def _masked(ops: dict[str, Any], labels: str, kw: dict[str, Any], w: Any, c: int) -> Any:
    """The masked mean a TensorFlow or JAX user writes, from that framework's ``ops``."""
    weight = w if kw.get("class_weight") else None
    ignore = kw.get("ignore_index")
    eps = kw.get("label_smoothing", 0.0)

    def fn(z: Any, y: Any, reduction: str) -> Any:
        if labels == "one-hot":
            t = y if eps == 0.0 else y * (1.0 - eps) + eps / c
            logp = ops["log_softmax"](z)
            per = -ops["sum"](t * logp * (1.0 if weight is None else weight), -1)
            count = ops["sum"](y * weight) if weight is not None else float(z.shape[0])
        else:
            if labels == "column":
                y = ops["squeeze"](y)
            mask = None if ignore is None else y != ignore
            safe = y if mask is None else ops["where"](mask, y, 0)
            if eps == 0.0:
                per = ops["sparse"](z, safe)
                wy = None if weight is None else ops["take"](weight, safe)
                per = per if wy is None else per * wy
            else:
                logp = ops["log_softmax"](z)
                picked = -ops["pick"](logp, safe)
                wy = None if weight is None else ops["take"](weight, safe)
                smooth = -ops["sum"](logp * (1.0 if weight is None else weight), -1) / c
                per = (1.0 - eps) * (picked if wy is None else picked * wy) + eps * smooth
            if mask is not None:
                keep = ops["float"](mask)
                per = per * keep
                count = ops["sum"](keep if wy is None else keep * wy)
            else:
                count = ops["sum"](wy) if wy is not None else float(z.shape[0])
        if reduction == "none":
            return per
        total = ops["sum"](per)
        return total if reduction == "sum" else total / count

    return fn


def _ops(fw: Any) -> dict[str, Any]:
    if fw.name == "tensorflow":
        tf = fw.tf
        return {
            "log_softmax": tf.nn.log_softmax,
            "sum": lambda x, axis=None: tf.reduce_sum(x, axis),
            "squeeze": lambda y: tf.squeeze(y, 1),
            "where": tf.where,
            "sparse": lambda z, y: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z),
            "take": tf.gather,
            "pick": lambda logp, y: tf.gather(logp, y, batch_dims=1),
            "float": lambda m: tf.cast(m, tf.float32),
        }
    jnp = fw.jax.numpy
    return {
        "log_softmax": fw.jax.nn.log_softmax,
        "sum": lambda x, axis=None: jnp.sum(x, axis),
        "squeeze": lambda y: jnp.squeeze(y, 1),
        "where": jnp.where,
        "sparse": fw.optax.softmax_cross_entropy_with_integer_labels,
        "take": jnp.take,
        "pick": lambda logp, y: jnp.take_along_axis(logp, y[:, None], axis=-1)[:, 0],
        "float": lambda m: m.astype(jnp.float32),
    }


def _native_text(fw: Any, labels: str, kw: dict[str, Any]) -> str:
    if fw.name == "torch":
        args = ", ".join(
            [a for a in ("weight=w" if kw.get("class_weight") else "",
                         f"ignore_index={kw['ignore_index']}" if "ignore_index" in kw else "",
                         f"label_smoothing={kw['label_smoothing']}" if "label_smoothing" in kw else "") if a]
            + ["reduction=r"]
        )
        return f"F.cross_entropy(z, {'y.squeeze(1)' if labels == 'column' else 'y'}, {args})"
    return "masked expression (see the case's docstring)"


def _labelkit_text(labels: str, kw: dict[str, Any]) -> str:
    parts = [f"{k}={'w' if k == 'class_weight' else v}" for k, v in kw.items()]
    return "lk.cross_entropy(z, y, " + ", ".join([*parts, "reduction=r"]) + ")"


# --- measurement ---------------------------------------------------------------------------------


def _grad_fn(fw: Any, fn: Any) -> Any:
    """``fn(z, y) -> loss`` as a call that also computes the gradient of its sum with respect to ``z``."""
    if fw.name == "torch":
        torch = fw.torch

        def run(z: Any, y: Any) -> Any:
            loss = fn(z, y)
            (g,) = torch.autograd.grad(loss.sum(), z)
            return loss.detach(), g

        return run
    if fw.name == "tensorflow":
        tf = fw.tf

        def run_tf(z: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss = fn(z, y)
                total = tf.reduce_sum(loss)
            return loss, tape.gradient(total, z)

        return run_tf
    jax = fw.jax

    def total(z: Any, y: Any) -> Any:
        loss = fn(z, y)
        return jax.numpy.sum(loss), loss

    grad = jax.jit(jax.value_and_grad(total, has_aux=True))

    def run_jax(z: Any, y: Any) -> Any:
        (_, loss), g = grad(z, y)
        return loss, g

    return run_jax


def measure(
    backend: str, *, quick: bool = False, n: int = 4096, c: int = 1000, configs: list[str] | None = None
) -> dict[str, Any]:
    import labelkit as lk

    if quick:  # a smoke run: two configurations, tiny arrays
        n, c = 64, 10
        configs = configs or ["plain", "all"]
    rounds, sample = (3, 0.001) if quick else (9, 0.05)
    fw = h.framework(backend)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for cname in configs or list(CONFIGS):
        kw = CONFIGS[cname]
        for labels in LABELS:
            z_np, y_np, w_np = _inputs(n, c, "ignore_index" in kw, labels)
            if backend == "jax" and labels != "one-hot":
                y_np = y_np.astype(h.label_dtype(fw))
            z, y, w = fw.array(z_np), fw.array(y_np), fw.array(w_np)
            if backend == "torch":
                z.requires_grad_(True)
                native = _torch_native(fw, labels, kw, w)
            else:
                native = _masked(_ops(fw), labels, kw, w, c)
            lk_kw = {k: (w if k == "class_weight" else v) for k, v in kw.items()}
            for reduction in REDUCTIONS:

                def mine(zz: Any, yy: Any, reduction: str = reduction, kw: dict[str, Any] = lk_kw) -> Any:
                    return lk.cross_entropy(zz, yy, reduction=reduction, **kw)

                def theirs(zz: Any, yy: Any, reduction: str = reduction, fn: Any = native) -> Any:
                    return fn(zz, yy, reduction)

                cands = {"native": _grad_fn(fw, theirs), "labelkit": _grad_fn(fw, mine)}
                calls = {name: (lambda f=f, z=z, y=y: f(z, y)) for name, f in cands.items()}
                same = not (backend == "torch" and labels == "one-hot" and "class_weight" in kw and reduction == "mean")
                if same:
                    _agree(fw, calls)
                elif not any("one-hot rows with weights" in x for x in notes):
                    notes.append(
                        "torch, one-hot rows with weights, mean: PyTorch divides by N, labelkit by Σ w·t "
                        "(SPEC); timed, not compared"
                    )
                t = h.compare(calls, baseline="native", block=fw.block, rounds=rounds, sample_s=sample, warmup=2)
                what = f"{cname} · {reduction} · {labels}"
                lab = {"native": _native_text(fw, labels, kw), "labelkit": _labelkit_text(labels, kw)}
                rows += h.time_rows(t, backend=backend, what=what, labels=lab, baseline=lab["native"])
    return {"rows": rows, "versions": h.versions(backend), "sizes": {"N": n, "C": c}, "notes": notes}


def _agree(fw: Any, calls: dict[str, Any]) -> None:
    import numpy as np

    def host(out: Any) -> list[Any]:
        return [np.asarray(fw.to_numpy(o), dtype="float64") for o in out]

    ref = host(calls["native"]())
    got = host(calls["labelkit"]())
    for a, b in zip(got, ref):
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"{fw.name}: labelkit disagrees with the native call")


def run(ctx: Any) -> dict[str, Any]:
    result = h.gather(
        ctx, NAME, TITLE, METHOD, quick_title="Argument matrix (quick: N=64, C=10), fwd+bwd",
        backends=tuple(FRAMEWORKS), keras=True,
    )
    result["targets"] = h.ratio_targets(
        result["rows"], LIMIT, lambda row: f"{row['what']} ≤ {LIMIT}× native with the same arguments"
    )
    return result
