"""Case ``dispatch``: the per-call cost of labelkit on tiny inputs (N=32, C=10).

On each backend, in one process with ``KERAS_BACKEND`` set to that backend: ``lk.one_hot`` and
``lk.cross_entropy`` (sparse ids, mean) against the framework's own call and against Keras 3's
``keras.ops.one_hot`` / ``keras.losses.sparse_categorical_crossentropy`` (+ ``keras.ops.mean``). labelkit
runs twice: with the default ``check_values="auto"`` (eager: the ids are range-checked, which reads
one value back from the device) and with ``check_values=False`` (dispatch, inference and the
out-of-range-to-NaN sanitising only). Every call returns float32 of the same shape and value; the
torch native one-hot therefore includes ``.float()`` (``F.one_hot`` alone returns int64).

Beside them, the floor (issue 13: "where 1.2× remains out of reach, show the floor measured"): the native
call plus the least a checked labelkit call must add, a bare dispatch (labelkit's backend lookup for the
array's type) and one read of the ids as labelkit reads a small batch (``to_list``). No labelkit call can
cost less than this row, so where it is above 1.2× the target is out of reach for any implementation.
"""

from __future__ import annotations

from typing import Any

from benchmarks import _harness as h

NAME = "dispatch"
TITLE = "Per-call overhead on tiny inputs (N=32, C=10), eager"
LIMIT = 1.2
METHOD = (
    "one process per backend with KERAS_BACKEND=<backend>; interleaved rounds after warm-up; ratio = median of the "
    "per-round ratios to the native call (min-max in brackets)."
)


def measure(backend: str, *, quick: bool = False, n: int = 32, c: int = 10) -> dict[str, Any]:
    import labelkit as lk

    fw = h.framework(backend)
    z_np, y_np = h.data(n, c, label_dtype=h.label_dtype(fw))
    z, y = fw.array(z_np), fw.array(y_np)
    k = h.keras_calls(backend)
    keras_note = "" if k is not None else "Keras 3 is not available on this backend"
    rounds, sample = (5, 0.002) if quick else (31, 0.02)
    rows: list[dict[str, Any]] = []

    cands = {
        "native": lambda: fw.one_hot(y, c),
        "labelkit": lambda: lk.one_hot(y, c),
        "labelkit (check_values=False)": lambda: lk.one_hot(y, c, check_values=False),
        "floor": _floor(lambda: fw.one_hot(y, c), y),
    }
    labels = {
        "native": fw.calls["one_hot"],
        "floor": f"{fw.calls['one_hot']} after a bare dispatch and one read of the ids",
        "labelkit": "lk.one_hot(y, C)",
        "labelkit (check_values=False)": "lk.one_hot(y, C, check_values=False)",
    }
    if k is not None:
        keras, kcalls = k
        cands["keras.ops"] = lambda: keras.ops.one_hot(y, c)
        labels["keras.ops"] = kcalls["one_hot"]
    _agree(fw, cands)
    t = h.compare(cands, baseline="native", block=fw.block, rounds=rounds, sample_s=sample)
    rows += h.time_rows(t, backend=backend, what="one_hot", labels=labels, baseline=labels["native"])

    cands = {
        "native": lambda: fw.sparse_ce(z, y),
        "labelkit": lambda: lk.cross_entropy(z, y),
        "labelkit (check_values=False)": lambda: lk.cross_entropy(z, y, check_values=False),
        "floor": _floor(lambda: fw.sparse_ce(z, y), y),
    }
    labels = {
        "native": fw.calls["sparse_ce"],
        "floor": f"{fw.calls['sparse_ce']} after a bare dispatch and one read of the ids",
        "labelkit": "lk.cross_entropy(z, y)",
        "labelkit (check_values=False)": "lk.cross_entropy(z, y, check_values=False)",
    }
    if k is not None:
        keras, kcalls = k
        scce = keras.losses.sparse_categorical_crossentropy
        cands["keras.ops"] = lambda: keras.ops.mean(scce(y, z, from_logits=True))
        labels["keras.ops"] = kcalls["sparse_ce"]
    _agree(fw, cands)
    t = h.compare(cands, baseline="native", block=fw.block, rounds=rounds, sample_s=sample)
    rows += h.time_rows(t, backend=backend, what="cross_entropy", labels=labels, baseline=labels["native"])
    return {"rows": rows, "versions": h.versions(backend), "notes": [keras_note] if keras_note else []}


def _floor(native: Any, ids: Any) -> Any:
    """The native call after a bare dispatch (``labelkit._dispatch.get_backend``: the per-type cache)
    and one read of the ``ids`` as labelkit reads a small batch (the backend's ``to_list``)."""
    from labelkit._dispatch import get_backend

    def call() -> Any:
        get_backend(ids).to_list(ids)
        return native()

    return call


def _agree(fw: h.Framework, cands: dict[str, Any]) -> None:
    """Every candidate computes the same values (a benchmark of different work would mean nothing)."""
    import numpy as np

    ref = np.asarray(fw.to_numpy(cands["native"]()), dtype="float64")
    for name, f in cands.items():
        out = f()
        got = np.asarray(out if isinstance(out, np.ndarray) else fw.to_numpy(out), dtype="float64")
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{fw.name}: {name} disagrees with the native call")


def run(ctx: Any) -> dict[str, Any]:
    result = h.gather(ctx, NAME, TITLE, METHOD, keras=True)
    for row in result["rows"]:
        if not row["impl"].startswith("labelkit"):
            continue
        keras = next(
            (r for r in result["rows"] if r["backend"] == row["backend"] and r["what"] == row["what"]
             and r["impl"] == "keras.ops"),
            None,
        )
        result["targets"].append(
            {
                "target": f"{row['what']} {row['impl']} ≤ {LIMIT}× native",
                "backend": row["backend"],
                "value": row["ratio"],
                "limit": LIMIT,
                "unit": "×",
                "met": row["ratio"] <= LIMIT,
            }
        )
        if keras is not None:
            result["targets"].append(
                {
                    "target": f"{row['what']} {row['impl']} < keras.ops ({keras['ratio']:.2f}×)",
                    "backend": row["backend"],
                    "value": row["ratio"],
                    "limit": keras["ratio"],
                    "unit": "×",
                    "met": row["ratio"] < keras["ratio"],
                }
            )
    return result
