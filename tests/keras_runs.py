"""One run of ``tests/workers/keras_worker.py`` per Keras backend, shared by the test modules that read it.

Each run costs seconds (a fresh process, a framework import, a dozen short ``fit`` calls), so
``tests/test_keras.py`` and ``tests/test_training_programs.py`` read the same report.
"""

from __future__ import annotations

import functools
from typing import Any

from subproc import need, run_worker

KERAS_BACKENDS = ("tensorflow", "jax", "torch")


@functools.cache
def _run(backend: str) -> dict[str, Any]:
    return run_worker("keras_worker.py", env={"KERAS_BACKEND": backend})


def keras_report(backend: str) -> dict[str, Any]:
    """The worker's report on Keras backend ``backend`` (skips or fails as ``need`` says)."""
    need(backend, "keras")
    return _run(backend)
