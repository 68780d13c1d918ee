"""Case ``gpu``: the CUDA benchmark, one script for a machine with a CUDA GPU (whole run well under 5 min).

Run it with ``python -m benchmarks.gpu`` (prints the table, writes ``benchmarks/results/gpu.json``) or
as part of the suite with ``python -m benchmarks --only gpu``. Without a CUDA device it says so and
exits 0 (``--allow-cpu`` runs the same code on the CPU, to test the script itself).

On CUDA torch and on JAX's GPU backend:

1. the ``dispatch`` case (N=32, C=10) and the ``sparse_ce`` case (N=8192, C=1000, forward and
   forward+backward) as ratios to the native call, timed with the device synchronised after every call;
2. the result stays on the device (the loss and its gradient are device arrays);
3. no host synchronisation (torch: under ``torch.cuda.set_sync_debug_mode("error")``, which raises on
   any sync; JAX: under ``jax.transfer_guard_device_to_host("disallow")``) with the default checks —
   ``lk.cross_entropy`` and its backward, ``labelkit.torch.CrossEntropyLoss()`` in training steps (each
   step reading the previous step's verdict), ``lk.one_hot``, ``lk.accuracy`` — and with
   ``check_values=False`` (SPEC "Checks on a GPU");
4. an out-of-range id with the default checks gives a NaN loss at once and ``LabelValueError`` at the
   next labelkit call or ``lk.check_pending()`` (never a device-side assert, which would poison the CUDA
   context); with ``check_values=True`` at once; with the checks off a NaN loss; the device still works
   afterwards;
5. a whole training step (MLP, Adam) with the module's defaults against ``torch.nn.CrossEntropyLoss()``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from benchmarks import _harness as h

NAME = "gpu"
TITLE = "CUDA: per-call overhead and sparse CE as ratios to the native call"
METHOD = "as the CPU cases, with the device synchronised after every call; results checked to stay on the device."
RESULTS = os.path.join(h.ROOT, "benchmarks", "results", "gpu.json")


def _torch_device(allow_cpu: bool) -> str | None:
    try:
        import torch
    except ImportError:
        return None
    if torch.cuda.is_available():
        return "cuda"
    return "cpu" if allow_cpu else None


def _jax_device(allow_cpu: bool) -> str | None:
    try:
        import jax
    except ImportError:
        return None
    try:
        if jax.devices("gpu"):
            return "gpu"
    except RuntimeError:
        pass
    return "cpu" if allow_cpu else None


def _timings(fw: h.Framework, quick: bool) -> list[dict[str, Any]]:
    import labelkit as lk

    rows: list[dict[str, Any]] = []
    rounds, sample = (5, 0.005) if quick else (21, 0.05)
    # 1. tiny inputs
    z_np, y_np = h.data(32, 10, label_dtype=h.label_dtype(fw))
    z, y = fw.array(z_np), fw.array(y_np)
    for what, native, lk_auto, lk_off in (
        (
            "one_hot (N=32, C=10)",
            lambda: fw.one_hot(y, 10),
            lambda: lk.one_hot(y, 10),
            lambda: lk.one_hot(y, 10, check_values=False),
        ),
        (
            "cross_entropy (N=32, C=10)",
            lambda: fw.sparse_ce(z, y),
            lambda: lk.cross_entropy(z, y),
            lambda: lk.cross_entropy(z, y, check_values=False),
        ),
    ):
        cands = {"native": native, "labelkit": lk_auto, "labelkit (check_values=False)": lk_off}
        t = h.compare(cands, baseline="native", block=fw.block, rounds=rounds, sample_s=sample)
        call = "lk.one_hot(y, C" if "one_hot" in what else "lk.cross_entropy(z, y"
        labels = {"native": fw.calls["one_hot" if "one_hot" in what else "sparse_ce"], "labelkit": call + ")",
                  "labelkit (check_values=False)": call + ", check_values=False)"}
        rows += h.time_rows(t, backend=f"{fw.name}-gpu", what=what, labels=labels, baseline=labels["native"])
    # 2. sparse CE at scale
    n, c = (1024, 100) if quick else (8192, 1000)
    z_np, y_np = h.data(n, c, label_dtype=h.label_dtype(fw))
    z, y = fw.array(z_np), fw.array(y_np)
    impls = {
        "native": fw.sparse_ce,
        "labelkit": lambda z, y: lk.cross_entropy(z, y),
        "labelkit (check_values=False)": lambda z, y: lk.cross_entropy(z, y, check_values=False),
        "one-hot path": fw.onehot_ce,
    }
    for what, grad in (("forward", False), ("forward+backward", True)):
        cands = {}
        for name, fn in impls.items():
            jf = fw.jit(fw.fwd_bwd(fn) if grad else fn)
            cands[name] = lambda jf=jf: jf(z, y)
        t = h.compare(cands, baseline="native", block=fw.block, rounds=rounds, sample_s=sample, warmup=2)
        labels = {"native": fw.calls["sparse_ce"], "one-hot path": fw.calls["onehot_ce"],
                  "labelkit": "lk.cross_entropy(z, y)",
                  "labelkit (check_values=False)": "lk.cross_entropy(z, y, check_values=False)"}
        rows += h.time_rows(t, backend=f"{fw.name}-gpu", what=f"sparse CE {what} (N={n}, C={c})", labels=labels,
                            baseline=labels["native"])
    if fw.name == "torch":
        rows += _torch_step(fw, quick, rounds, sample)
    return rows


def _torch_step(fw: Any, quick: bool, rounds: int, sample: float) -> list[dict[str, Any]]:
    """One training step (MLP 1024→1024→C, Adam) with each loss module at its defaults."""
    import torch

    from labelkit.torch import CrossEntropyLoss

    n, d, c = (128, 256, 100) if quick else (512, 1024, 1000)
    x_np, y_np = h.data(n, d)
    x, y = fw.array(x_np), fw.array(y_np % c)
    cands = {}
    for name, loss_fn in (("native", torch.nn.CrossEntropyLoss()), ("labelkit.torch.CrossEntropyLoss()",
                                                                    CrossEntropyLoss())):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(d, d), torch.nn.ReLU(), torch.nn.Linear(d, c)).to(fw.device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model: Any = model, opt: Any = opt, loss_fn: Any = loss_fn) -> Any:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        cands[name] = step
    t = h.compare(cands, baseline="native", block=fw.block, rounds=rounds, sample_s=sample, warmup=3)
    labels = {"native": "torch.nn.CrossEntropyLoss()", "labelkit.torch.CrossEntropyLoss()":
              "labelkit.torch.CrossEntropyLoss()"}
    return h.time_rows(t, backend=f"{fw.name}-gpu", what=f"training step, MLP {d}-{d}-{c}, batch {n}, Adam",
                       labels=labels, baseline=labels["native"])


def _torch_checks(fw: h.TorchFramework) -> list[dict[str, Any]]:
    import labelkit as lk

    torch = fw.torch
    out = []
    z_np, y_np = h.data(256, 10)
    z, y = fw.array(z_np).requires_grad_(True), fw.array(y_np)
    loss = lk.cross_entropy(z, y)
    out.append({"check": "loss stays on the device", "ok": loss.device.type == fw.device, "detail": str(loss.device)})
    (g,) = torch.autograd.grad(loss, z)
    out.append({"check": "gradient stays on the device", "ok": g.device.type == fw.device, "detail": str(g.device)})
    if fw.device == "cuda":
        from labelkit.torch import CrossEntropyLoss

        module = CrossEntropyLoss()
        calls = {
            "check_values=False": lambda: (
                torch.autograd.grad(lk.cross_entropy(z, y, check_values=False), z),
                lk.one_hot(y, 10, check_values=False),
                lk.cross_entropy(z, y, check_values=False, ignore_index=3),
            ),
            "default checks": lambda: (
                torch.autograd.grad(lk.cross_entropy(z, y), z),
                [torch.autograd.grad(module(z, y), z) for _ in range(3)],
                lk.one_hot(y, 10),
                lk.accuracy(z, y),
                lk.cross_entropy(z, y, ignore_index=3, label_smoothing=0.1),
            ),
        }
        for what, call in calls.items():
            call()  # warm caches outside the debug mode
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                call()
                ok, detail = True, "no synchronisation"
            except RuntimeError as exc:
                ok, detail = False, str(exc).splitlines()[0]
            finally:
                torch.cuda.set_sync_debug_mode(0)
            out.append({"check": f"no host sync with {what} (set_sync_debug_mode('error'))", "ok": ok,
                        "detail": detail})
        lk.check_pending()
    else:
        out.append({"check": "no host sync (set_sync_debug_mode)", "ok": None, "detail": "skipped on CPU"})
    out += _bad_id_checks(fw, lambda a: fw.array(a), lambda x: float(x.detach().cpu()))
    out += _paths_agree(fw, lambda a: fw.array(a), lambda x: x.detach().float().cpu().numpy())
    y_u16 = fw.array(np.arange(5000) % 10).to(torch.uint16)  # more ids than the host read takes
    z_big = fw.array(h.data(5000, 10)[0])
    try:
        same = bool(torch.equal(lk.one_hot(y_u16, 10), lk.one_hot(y_u16.long(), 10))) and abs(
            float(lk.cross_entropy(z_big, y_u16)) - float(lk.cross_entropy(z_big, y_u16.long()))) < 1e-6
        detail = "" if same else "values differ"
    except Exception as exc:
        same, detail = False, f"{type(exc).__name__}: {exc}"[:200]
    out.append({"check": "uint16 ids (5000) give what int64 ids give", "ok": same, "detail": detail})
    if fw.device == "cuda":
        torch.cuda.synchronize()  # a device-side assert would surface here
        ok = float((torch.ones(2, device="cuda") * 2).sum().cpu()) == 4.0
        out.append({"check": "the CUDA context still works afterwards", "ok": ok, "detail": ""})
    return out


def _bad_id_checks(fw: h.Framework, arr: Any, scalar: Any) -> list[dict[str, Any]]:
    import labelkit as lk

    out = []
    z_np, y_np = h.data(64, 10, label_dtype=h.label_dtype(fw))
    y_np[5] = 17
    z, y = arr(z_np), arr(y_np)
    for what, call in (
        ("cross_entropy", lambda: lk.cross_entropy(z, y)),
        ("one_hot", lambda: lk.one_hot(y, 10)),
        ("cross_entropy check_values=True", lambda: lk.cross_entropy(z, y, check_values=True)),
    ):
        try:
            when = "at the call"
            result = call()
            when = "at lk.check_pending()"  # checked on the device: the verdict comes with the next call
            lk.check_pending()
            ok, detail = False, "no error"
        except lk.LabelValueError as exc:
            ok = "labels[5] is 17" in str(exc) and (when == "at the call" or "check_values=True" not in what)
            detail = f"{when}: {str(exc).split('.')[0]}"
            if when != "at the call" and what == "cross_entropy":
                detail += f"; the call's loss: {scalar(result)}"
                ok = ok and scalar(result) != scalar(result)
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"[:200]
        out.append({"check": f"{what}: out-of-range id with checks on -> LabelValueError", "ok": ok, "detail": detail})
    loss = scalar(lk.cross_entropy(z, y, check_values=False))
    out.append({"check": "cross_entropy: out-of-range id with checks off -> NaN", "ok": loss != loss,
                "detail": str(loss)})
    return out


def _paths_agree(fw: h.Framework, arr: Any, to_np: Any) -> list[dict[str, Any]]:
    """The eager fast path and the general path (``labelkit._fast.ENABLED = False``) give the same values
    on the device, ids in range and out of range, checks on and off."""
    import labelkit as lk
    from labelkit import _fast

    z_np, y_np = h.data(64, 10, label_dtype=h.label_dtype(fw))
    bad_np = y_np.copy()
    bad_np[3] = 12
    z, y, bad = arr(z_np), arr(y_np), arr(bad_np)
    calls = {
        "cross_entropy": lambda: lk.cross_entropy(z, y),
        "cross_entropy unchecked": lambda: lk.cross_entropy(z, y, check_values=False),
        "cross_entropy unchecked, id out of range": lambda: lk.cross_entropy(z, bad, check_values=False),
        "one_hot": lambda: lk.one_hot(y, 10),
        "one_hot unchecked, id out of range": lambda: lk.one_hot(bad, 10, check_values=False),
    }
    differ = []
    for name, call in calls.items():
        fast = to_np(call())
        _fast.ENABLED = False
        try:
            general = to_np(call())
        finally:
            _fast.ENABLED = True
        if not np.allclose(fast, general, rtol=1e-5, atol=1e-6, equal_nan=True):
            differ.append(name)
    return [{"check": "fast path = general path (5 calls)", "ok": not differ, "detail": ", ".join(differ)}]


def _jax_checks(fw: h.JaxFramework) -> list[dict[str, Any]]:
    import labelkit as lk

    jax = fw.jax
    z_np, y_np = h.data(256, 10, label_dtype=h.label_dtype(fw))
    z, y = fw.array(z_np), fw.array(y_np)
    loss, g = jax.jit(jax.value_and_grad(lambda z, y: lk.cross_entropy(z, y)))(z, y)
    platform = fw.dev.platform
    out = [
        {"check": "loss stays on the device", "ok": all(d.platform == platform for d in loss.devices()),
         "detail": str(loss.devices())},
        {"check": "gradient stays on the device", "ok": all(d.platform == platform for d in g.devices()),
         "detail": str(g.devices())},
    ]
    if platform != "cpu":
        calls = (lambda: lk.cross_entropy(z, y), lambda: lk.one_hot(y, 10), lambda: lk.accuracy(z, y))
        ok, detail = True, "no implicit device-to-host transfer"
        for call in calls:
            call()  # warm
            lk.check_pending()  # (reads the verdict: an explicit transfer, outside the guard)
            try:
                with jax.transfer_guard_device_to_host("disallow"):
                    call()  # the checked call itself: its verdict is only started on its way
            except Exception as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"[:200]
        out.append({"check": "no host read with default checks (transfer_guard 'disallow')", "ok": ok,
                    "detail": detail})
        lk.check_pending()
    out += _bad_id_checks(fw, fw.array, lambda x: float(x))
    out += _paths_agree(fw, fw.array, lambda x: np.asarray(x, dtype=np.float64))
    return out


def measure(backend: str = "all", *, quick: bool = False, allow_cpu: bool = False) -> dict[str, Any]:
    import labelkit  # noqa: F401 - fail early when labelkit is missing

    result: dict[str, Any] = {"rows": [], "checks": [], "devices": {}, "versions": {}}
    tdev, jdev = _torch_device(allow_cpu), _jax_device(allow_cpu)
    if tdev is None and jdev is None:
        result["skipped"] = "no CUDA device (neither torch.cuda nor a JAX GPU backend is available)"
        return result
    if tdev is not None:
        fw = h.TorchFramework(tdev)
        name = fw.torch.cuda.get_device_name() if tdev == "cuda" else "cpu (--allow-cpu)"
        result["devices"]["torch"] = name
        result["rows"] += _timings(fw, quick)
        result["checks"] += [dict(c, backend="torch") for c in _torch_checks(fw)]
    if jdev is not None:
        fw = h.JaxFramework(jdev)
        result["devices"]["jax"] = str(fw.dev.device_kind) if jdev == "gpu" else "cpu (--allow-cpu)"
        result["rows"] += _timings(fw, quick)
        result["checks"] += [dict(c, backend="jax") for c in _jax_checks(fw)]
    result["versions"] = h.versions("all")
    return result


def _summarise(payload: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"name": NAME, "title": TITLE, "method": METHOD, "rows": payload.get("rows", []),
                              "targets": [], "notes": []}
    if payload.get("skipped"):
        result["notes"].append(f"skipped: {payload['skipped']}")
        result["skipped"] = payload["skipped"]
        return result
    result["devices"] = payload.get("devices", {})
    result["versions"] = payload.get("versions", {})
    result["notes"] += [f"device ({k}): {v}" for k, v in result["devices"].items()]
    for c in payload.get("checks", []):
        result["targets"].append({"target": c["check"], "backend": c["backend"], "value": None, "limit": None,
                                  "unit": "", "met": c["ok"], "detail": c["detail"]})
    # SPEC "Performance": sparse CE forward+backward ≤ 1.1× with default checks, ≤ 1.05× unchecked; the
    # module's training step ≤ 1.02× (as on the CPU).
    limits = {"labelkit": 1.1, "labelkit (check_values=False)": 1.05, "labelkit.torch.CrossEntropyLoss()": 1.02}
    for row in result["rows"]:
        limit = limits.get(row["impl"])
        if limit is not None and ("sparse CE" in row["what"] or "step" in row["what"]):
            result["targets"].append({"target": f"{row['what']}, {row['impl']} ≤ {limit}× native",
                                      "backend": row["backend"], "value": row["ratio"], "limit": limit, "unit": "×",
                                      "met": row["ratio"] <= limit})
    return result


def run(ctx: Any) -> dict[str, Any]:
    payload = ctx.worker(NAME, "all", env={"LABELKIT_BENCH_GPU": "1"})
    if payload is None:
        return {"name": NAME, "title": TITLE, "method": METHOD, "rows": [], "targets": [], "notes": []}
    return _summarise(payload)


def main(argv: list[str] | None = None) -> int:
    from benchmarks import _report as report

    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds")
    parser.add_argument("--allow-cpu", action="store_true", help="without a GPU, run on the CPU (tests the script)")
    parser.add_argument("--json", default=RESULTS)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = _summarise(measure(quick=args.quick, allow_cpu=args.allow_cpu))
    print("\n".join(report.case_table(result) + [""] + report.targets_table([result])))
    doc = {"meta": dict(h.environment(), quick=args.quick, seconds=round(time.perf_counter() - t0, 1)),
           "cases": {NAME: result}}
    report.write_json(args.json, doc)
    print(f"\nwrote {os.path.relpath(args.json)} in {doc['meta']['seconds']} s")
    failed = [t for t in result["targets"] if t["met"] is False and t["value"] is None]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

