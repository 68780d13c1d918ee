"""Smoke test of the benchmark suite: ``python -m benchmarks --quick`` runs and writes valid JSON.

It never asserts on a timing (a busy CI machine must not fail it); it checks that the suite runs,
measures every candidate, and reports what it measured.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(tmp_path: object, *args: str) -> dict:
    out = os.path.join(str(tmp_path), "bench.json")
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-chart", "--json", out, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out) as f:
        doc = json.load(f)
    assert doc["meta"]["quick"] is True
    return doc


def _framework() -> str | None:
    """One installed framework (among LABELKIT_TEST_BACKENDS when set), or None: NumPy alone."""
    wanted = [n.strip() for n in os.environ.get("LABELKIT_TEST_BACKENDS", "").split(",") if n.strip()]
    for name in ("torch", "jax", "tensorflow"):
        if (not wanted or name in wanted) and importlib.util.find_spec(name) is not None:
            return name
    return None


def test_dispatch_quick_numpy_and_one_framework(tmp_path):
    fw = _framework()
    backends = "numpy" + (f",{fw}" if fw else "")
    doc = _run(tmp_path, "--only", "dispatch", "--backends", backends)
    case = doc["cases"]["dispatch"]
    assert not case["errors"]
    seen = {(r["backend"], r["what"], r["impl"]) for r in case["rows"]}
    for backend in backends.split(","):
        for what in ("one_hot", "cross_entropy"):
            assert (backend, what, "native") in seen
            assert (backend, what, "labelkit") in seen
            assert (backend, what, "labelkit (check_values=False)") in seen
            assert (backend, what, "floor") in seen  # the native call + a bare dispatch + one read of the ids
    for row in case["rows"]:
        assert row["median_s"] > 0 and row["ratio"] > 0
    assert all(t["met"] is None for t in case["targets"])  # quick runs never judge a target


def test_args_and_steps_quick_one_framework(tmp_path):
    """The argument matrix and the training steps run and report every row (on one framework)."""
    fw = _framework()
    if fw is None:
        pytest.skip("the argument matrix and the training steps need PyTorch, TensorFlow or JAX")
    doc = _run(tmp_path, "--only", "args", "--only", "steps", "--backends", fw)
    args, steps = doc["cases"]["args"], doc["cases"]["steps"]
    assert not args["errors"] and not steps["errors"]
    seen = {(r["what"], r["impl"]) for r in args["rows"]}
    for config in ("plain", "all"):  # --quick: two configurations
        for reduction in ("mean", "sum", "none"):
            for labels in ("sparse", "column", "one-hot"):
                for impl in ("native", "labelkit"):
                    assert (f"{config} · {reduction} · {labels}", impl) in seen
    impls = {r["impl"] for r in steps["rows"]}
    assert "labelkit" in impls
    assert {"native", "keras"} & impls
    for row in args["rows"] + steps["rows"]:
        assert row["median_s"] > 0 and row["ratio"] > 0
    assert all(t["met"] is None for t in args["targets"] + steps["targets"])


def test_import_quick(tmp_path):
    doc = _run(tmp_path, "--only", "import")
    case = doc["cases"]["import"]
    assert case["modules"]["frameworks"] == []
    assert {r["what"] for r in case["rows"]} == {"import numpy", "import labelkit, over numpy"}


@pytest.mark.parametrize("args", [["--only", "gpu"]])
def test_gpu_script_skips_or_runs(tmp_path, args):
    # Without CUDA the GPU case must skip cleanly (exit 0, a note saying why).
    doc = _run(tmp_path, *args, "--backends", "numpy")
    case = doc["cases"]["gpu"]
    assert not case["errors"]
    if case.get("skipped"):
        assert "CUDA" in case["skipped"]
