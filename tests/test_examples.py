"""The scripts in ``examples/`` run, exit 0, and their training loss decreases.

Each script prints a last line ``done: first_loss=... final_loss=... accuracy=... seconds=...``. The
Keras example runs once, on the first requested Keras backend (``tests/test_keras.py`` covers all three).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BACKENDS
from subproc import ROOT, need

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BUDGET_S = 30  # each example must finish within this on 2 cores; the assertion allows for a busy machine


def _run(script: str, env: dict[str, str] | None = None) -> dict[str, float]:
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), **(env or {})}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, env=full_env, timeout=300
    )
    wall = time.perf_counter() - start
    output = f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{script} exited with {proc.returncode}:\n{output}"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("done: "), f"{script}: the last line is {last!r}"
    values = {k: float(v) for k, v in re.findall(r"(\w+)=([-+0-9.eE]+)", last)}
    values["wall"] = wall
    return values


def _check(values: dict[str, float]) -> None:
    assert values["final_loss"] < 0.75 * values["first_loss"], values
    assert values["accuracy"] > 0.5, values  # 10 classes: chance is 0.1
    assert values["wall"] < 3 * BUDGET_S, values


def test_torch_example() -> None:
    need("torch")
    _check(_run("torch_train.py"))


def test_jax_example() -> None:
    need("jax", "optax")
    _check(_run("jax_train.py"))


def test_keras_example() -> None:
    backends = [b for b in ("tensorflow", "jax", "torch") if b in BACKENDS]
    if not backends:
        pytest.skip("no Keras backend among LABELKIT_TEST_BACKENDS")
    need(backends[0], "keras")
    _check(_run("keras_train.py", env={"KERAS_BACKEND": backends[0]}))
