"""Case ``checks``: what the eager value check costs, relative to the loss itself.

On each backend, eagerly (JAX included: the checks only run on concrete arrays), at N=8192, C=1000
float32: ``lk.cross_entropy(z, y, check_values=True)`` against ``check_values=False``. The figure is
``t(True) / t(False) - 1`` in percent (median of the per-round paired ratios). With sparse ids the
check is one range test over the N ids and one value read back to the host.
"""

from __future__ import annotations

from typing import Any

from benchmarks import _harness as h

NAME = "checks"
TITLE = "Eager value check: check_values=True vs False, sparse CE N=8192, C=1000, forward"
LIMIT_PCT = 3.0
METHOD = (
    "one process per backend; eager; interleaved rounds after warm-up; cost = median per-round ratio "
    "t(check_values=True) / t(check_values=False) - 1."
)


def measure(backend: str, *, quick: bool = False, n: int = 8192, c: int = 1000) -> dict[str, Any]:
    import labelkit as lk

    if quick:
        n, c = 1024, 100
    fw = h.framework(backend)
    z_np, y_np = h.data(n, c, label_dtype=h.label_dtype(fw))
    z, y = fw.array(z_np), fw.array(y_np)
    rounds, sample = (5, 0.005) if quick else (41, 0.1)
    cands = {
        "check_values=False": lambda: lk.cross_entropy(z, y, check_values=False),
        "check_values=True": lambda: lk.cross_entropy(z, y, check_values=True),
    }
    t = h.compare(cands, baseline="check_values=False", block=fw.block, rounds=rounds, sample_s=sample)
    labels = {k: f"lk.cross_entropy(z, y, {k})" for k in cands}
    rows = h.time_rows(t, backend=backend, what="forward", labels=labels, baseline=labels["check_values=False"])
    return {"rows": rows, "versions": h.versions(backend), "sizes": {"N": n, "C": c}}


def run(ctx: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"name": NAME, "title": TITLE, "method": METHOD, "rows": [], "targets": [], "notes": []}
    if ctx.quick:
        result["title"] = "Eager value check: check_values=True vs False (quick: N=1024, C=100)"
    for backend in ctx.backends:
        payload = ctx.worker(NAME, backend)
        if payload is None:
            continue
        result["rows"] += payload["rows"]
        result.setdefault("versions", {})[backend] = payload["versions"]
    for row in result["rows"]:
        if row["impl"] != "check_values=True":
            continue
        pct = (row["ratio"] - 1.0) * 100.0
        row["cost_pct"] = pct
        result["targets"].append(
            {
                "target": f"eager value check ≤ {LIMIT_PCT:g} % of the loss",
                "backend": row["backend"],
                "value": pct,
                "limit": LIMIT_PCT,
                "unit": " %",
                "met": pct <= LIMIT_PCT,
            }
        )
    return result
