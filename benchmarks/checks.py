"""Case ``checks``: what the eager value check costs, relative to the loss itself.

On each backend, eagerly (JAX included: the checks only run on concrete arrays), at N=8192, C=1000
float32, against ``lk.cross_entropy(z, y, check_values=False)``:

* ``lk.validate(z, y)``: the check on its own (dispatch, inference and the range test of the N ids).
  The figure held against the target is ``t(validate) / t(loss)`` in percent: an upper bound of what
  the check adds to a loss call.
* ``lk.cross_entropy(z, y, check_values=True)``: what turning the checks off saves. For ids in host
  memory (a CPU) the difference is nil: labelkit reads host ids either way, because knowing them in
  range lets the plain fused kernel run (a read there costs no device sync).
"""

from __future__ import annotations

from typing import Any

from benchmarks import _harness as h

NAME = "checks"
TITLE = "Eager value check: the check alone and check_values=True, vs the unchecked loss (N=8192, C=1000)"
LIMIT_PCT = 3.0
METHOD = (
    "one process per backend; eager; interleaved rounds after warm-up; cost = median per-round ratio "
    "t(lk.validate) / t(lk.cross_entropy(check_values=False)), in percent."
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
        "the check alone": lambda: lk.validate(z, y, check_values=True),
    }
    t = h.compare(cands, baseline="check_values=False", block=fw.block, rounds=rounds, sample_s=sample)
    labels = {k: f"lk.cross_entropy(z, y, {k})" for k in cands}
    labels["the check alone"] = "lk.validate(z, y, check_values=True)"
    rows = h.time_rows(t, backend=backend, what="forward", labels=labels, baseline=labels["check_values=False"])
    return {"rows": rows, "versions": h.versions(backend), "sizes": {"N": n, "C": c}}


def run(ctx: Any) -> dict[str, Any]:
    result = h.gather(ctx, NAME, TITLE, METHOD, quick_title="Eager value check vs the loss (quick: N=1024, C=100)")
    for row in result["rows"]:
        if row["impl"] != "the check alone":
            continue
        pct = row["ratio"] * 100.0
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
