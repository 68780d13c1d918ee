"""Running checks in a fresh Python process, for frameworks that need one of their own.

Keras picks its backend once per process, ``XLA_FLAGS`` must be set before JAX starts, and
distributed engines spawn workers: such checks run as a worker script (``tests/workers/``) in a
subprocess, which prints one line ``RESULT <json>`` that the test reads.

``need(framework)`` applies the conftest's rule without importing the framework in the test process:
a framework not in ``LABELKIT_TEST_BACKENDS`` skips; one that is requested but missing fails (and one
that is requested but fails to import fails in the worker).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import BACKENDS, EXPLICIT, installed

WORKERS = Path(__file__).resolve().parent / "workers"
ROOT = Path(__file__).resolve().parent.parent


# Packages that a framework's extra installs with it (pyproject.toml): missing while the framework is
# requested, they fail the test rather than skip it.
SHIPPED = {"tensorflow": ("keras",), "jax": ("optax",)}


def need(framework: str, *extra: str) -> None:
    """Skip unless ``framework`` is tested; fail when it is requested but not installed.

    ``extra`` names further packages the check needs (``keras``, ``optax``). A missing one skips the
    test, unless ``framework`` was requested and its extra ships that package (``SHIPPED``): then it fails.
    """
    if framework not in BACKENDS:
        pytest.skip(f"{framework} is not among LABELKIT_TEST_BACKENDS")
    if not installed(framework):
        if EXPLICIT:
            pytest.fail(f"LABELKIT_TEST_BACKENDS requests {framework!r}, but it is not installed", pytrace=False)
        pytest.skip(f"{framework} is not installed")
    for package in extra:
        if importlib.util.find_spec(package) is None:
            if EXPLICIT and package in SHIPPED.get(framework, ()):
                pytest.fail(f"{framework} is requested but {package}, which its extra installs, is missing",
                            pytrace=False)
            pytest.skip(f"{package} is not installed (needed with {framework})")


def run_worker(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """Runs ``tests/workers/<script>`` with this interpreter and returns its ``RESULT`` JSON.

    Fails the test, with the worker's output, when it exits non-zero or prints no result.
    """
    full_env = dict(os.environ)
    full_env.update({"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)})
    full_env.update(env or {})
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(WORKERS / script), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=str(ROOT),
    )
    elapsed = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stdout[-3000:] + "\n--- stderr ---\n" + proc.stderr[-6000:]).strip()
        pytest.fail(f"{script} {' '.join(args)} exited with {proc.returncode} after {elapsed:.1f} s:\n{tail}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["_seconds"] = elapsed
    return result
