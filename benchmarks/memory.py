"""Case ``memory``: peak memory at vocabulary scale, N=2048, C=131072 float32 (1 GiB of logits).

Each measurement (backend × implementation × forward or forward+backward) runs in a fresh
subprocess, so that no allocator cache or earlier peak is shared. The logits are made first (NumPy
fills them in place and hands them over; JAX compiles its function for these shapes ahead of time;
the other frameworks run the same call once on a tiny input to load their kernels). Then the
process's resident-set high-water mark is reset to the current RSS (Linux ``/proc/self/clear_refs``,
value 5), the call runs (its result waited for and held), and the figure is ``VmHWM - VmRSS before``:
every byte the call made resident at its peak, whichever allocator made it. This is why it is not
``tracemalloc`` (which sees only Python's allocator, not torch's, TensorFlow's or XLA's) nor
``ru_maxrss`` (which cannot be reset, so the setup's own peak would hide the call's).
"""

from __future__ import annotations

import gc
from typing import Any

from benchmarks import _harness as h

NAME = "memory"
TITLE = "Peak memory, N=2048, C=131072 float32 (1 GiB of logits)"
LIMIT = 1.05
IMPLS = ("native", "labelkit", "one-hot path")
METHOD = (
    "fresh subprocess per measurement; RSS high-water mark reset after setup (/proc/self/clear_refs); "
    "peak = VmHWM - VmRSS before the call; ratio = peak / native fused call's peak."
)
QUICK_METHOD = "--quick: one subprocess per backend, measurements in sequence (less isolated), small sizes."


def _logits(fw: h.Framework, n: int, c: int) -> tuple[Any, Any]:
    """The logits made where they live, with no copy left behind to be freed during the measured call
    (a NumPy buffer handed to TensorFlow, say, is released late, and that release would hide a peak)."""
    import numpy as np

    rng = np.random.default_rng(0)
    y_np = rng.integers(0, c, size=n).astype(h.label_dtype(fw))
    if fw.name == "tensorflow":
        tf = fw.tf  # type: ignore[attr-defined]
        return tf.random.stateless_normal((n, c), seed=[0, 0]), tf.convert_to_tensor(y_np)
    if fw.name == "jax":
        jax = fw.jax  # type: ignore[attr-defined]
        z = jax.jit(lambda k: jax.random.normal(k, (n, c), dtype="float32"))(jax.random.PRNGKey(0))
        return fw.block(z), fw.array(y_np)
    z_np = np.empty((n, c), dtype=np.float32)
    rng.standard_normal(out=z_np, dtype=np.float32)  # in place: no float64 temporary
    if fw.name == "torch":
        import torch

        return torch.from_numpy(z_np), torch.from_numpy(y_np)  # shares the memory: no copy
    return z_np, y_np


def _impl(fw: h.Framework, name: str, grad: bool) -> Any:
    import labelkit as lk

    fn = {"native": fw.sparse_ce, "labelkit": lambda z, y: lk.cross_entropy(z, y), "one-hot path": fw.onehot_ce}[name]
    return fw.fwd_bwd(fn) if grad else fn


def _one(fw: h.Framework, name: str, grad: bool, n: int, c: int) -> dict[str, Any]:
    f = _impl(fw, name, grad)
    # Warm-up on a tiny input (kernels, lazy imports, labelkit's caches).
    zs, ys = h.data(4, 8, label_dtype=h.label_dtype(fw))
    fw.block(fw.jit(f)(fw.array(zs), fw.array(ys)))
    z, y = _logits(fw, n, c)
    gc.collect()
    if fw.name == "jax":
        f = fw.jax.jit(f).lower(z, y).compile()  # compiled ahead: the compiler's memory is not the call's
    gc.collect()
    before = h.rss_mib()
    if not h.reset_peak():
        raise RuntimeError("cannot reset the RSS high-water mark (/proc/self/clear_refs); Linux only")
    out = fw.block(f(z, y))
    peak = h.peak_mib()
    del out
    return {"peak_mib": max(peak - before, 0.0), "rss_before_mib": before}


def measure(
    backend: str, *, quick: bool = False, impl: str | None = None, mode: str | None = None, n: int = 2048,
    c: int = 131072,
) -> dict[str, Any]:
    if quick:
        n, c = 256, 8192
    fw = h.framework(backend)
    out = []
    todo = [(impl, mode)] if impl else [(i, m) for m in _modes(fw) for i in IMPLS]
    for name, what in todo:
        assert what is not None
        res = _one(fw, name, what == "forward+backward", n, c)
        res.update(impl=name, what=what)
        out.append(res)
    return {"results": out, "versions": h.versions(backend), "sizes": {"N": n, "C": c}}


def _modes(fw: h.Framework) -> list[str]:
    return ["forward", "forward+backward"] if fw.has_grad else ["forward"]


def run(ctx: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": NAME, "title": TITLE, "method": METHOD if not ctx.quick else METHOD + " " + QUICK_METHOD,
        "rows": [], "targets": [], "notes": [],
    }
    if ctx.quick:
        result["title"] = "Peak memory (quick: N=256, C=8192)"
    for backend in ctx.backends:
        measured: list[dict[str, Any]] = []
        if ctx.quick:
            payload = ctx.worker(NAME, backend)
            if payload is None:
                continue
            measured = payload["results"]
            result.setdefault("versions", {})[backend] = payload["versions"]
        else:
            modes = ["forward"] if backend == "numpy" else ["forward", "forward+backward"]
            for mode in modes:
                for impl in IMPLS:
                    payload = ctx.worker(NAME, backend, params={"impl": impl, "mode": mode})
                    if payload is None:
                        continue
                    measured += payload["results"]
                    result.setdefault("versions", {})[backend] = payload["versions"]
        calls = h.framework_calls(backend)
        for what in dict.fromkeys(m["what"] for m in measured):
            group = {m["impl"]: m for m in measured if m["what"] == what}
            native = group.get("native")
            for impl in IMPLS:
                m = group.get(impl)
                if m is None:
                    continue
                ratio = m["peak_mib"] / native["peak_mib"] if native and native["peak_mib"] > 0 else None
                own = {"native": calls["sparse_ce"], "labelkit": "lk.cross_entropy(z, y)"}
                call = own.get(impl, calls["onehot_ce"])
                result["rows"].append(
                    {"backend": backend, "what": what, "impl": impl, "call": call, "unit": "MiB",
                     "peak_mib": m["peak_mib"], "ratio": ratio, "rounds": 1}
                )
                if impl == "labelkit":
                    result["targets"].append(
                        {"target": f"peak memory {what} ≤ {LIMIT}× native fused", "backend": backend,
                         "value": ratio, "limit": LIMIT, "unit": "×",
                         "met": None if ratio is None else ratio <= LIMIT}
                    )
    return result
