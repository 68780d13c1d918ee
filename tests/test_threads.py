"""Threads (issue 7): 8 threads x 500 mixed calls across every backend give the serial results.

``tests/test_dispatch.py`` has many threads dispatching one backend's arrays at once. Here every
thread mixes functions and backends — NumPy, PyTorch, TensorFlow and JAX arrays in one run, calls that
raise among them — starting together on an emptied dispatch cache (and no backend instance made
yet), so that they race on the cold entries. Each result (or error) must equal, bit for bit, what the
same call gives serially.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import fuzz_cases as F
import labelkit as lk
from conftest import BACKENDS, EXPLICIT, installed
from labelkit import _dispatch

THREADS, CALLS_PER_THREAD = 8, 500

RNG = np.random.default_rng(3)
LOGITS = RNG.standard_normal((4, 5)).astype(np.float32)
CF_LOGITS = RNG.standard_normal((2, 3, 4)).astype(np.float32)
IDS = np.array([0, 4, 2, 1], dtype=np.int32)
COLUMN = np.array([[1], [3], [0], [-100]], dtype=np.int32)
ONE_HOT = np.eye(5, dtype=np.float32)[[2, 0, 1, 4]]
BIN_LOGITS = RNG.standard_normal((4,)).astype(np.float32)
BIN_TARGETS = np.array([1, 0, 0, 1], dtype=np.float32)
BAD_IDS = np.array([0, 9, 2, 1], dtype=np.int32)

# name -> function of (place: NumPy array -> backend array)
CALLS: dict[str, Callable[[Callable[[np.ndarray], Any]], Any]] = {
    "backend_of": lambda p: lk.backend_of(p(LOGITS)),
    "backend_of-unknown": lambda p: lk.backend_of(object()),
    "infer": lambda p: lk.infer(p(LOGITS), p(COLUMN)),
    "validate-bad": lambda p: lk.validate(p(LOGITS), p(BAD_IDS)),
    "one_hot": lambda p: lk.one_hot(p(COLUMN), like=p(LOGITS), ignore_index=-100),
    "one_hot-bad": lambda p: lk.one_hot(p(BAD_IDS), 5),
    "to_sparse": lambda p: lk.to_sparse(p(ONE_HOT)),
    "align": lambda p: lk.align(p(LOGITS), p(ONE_HOT), to="sparse"),
    "squeeze": lambda p: lk.squeeze(p(COLUMN), p(LOGITS)),
    "cross_entropy-sparse": lambda p: lk.cross_entropy(p(LOGITS), p(IDS), label_smoothing=0.1),
    "cross_entropy-column-ignore": lambda p: lk.cross_entropy(p(LOGITS), p(COLUMN), ignore_index=-100),
    "cross_entropy-host-labels": lambda p: lk.cross_entropy(p(LOGITS), [0, 1, 2, 3], reduction="none"),
    "cross_entropy-channels-first": lambda p: lk.cross_entropy(p(CF_LOGITS), p(IDS[:2, None].repeat(4, 1)), axis=1),
    "categorical_crossentropy": lambda p: lk.categorical_crossentropy(p(LOGITS), p(ONE_HOT)),
    "binary_crossentropy": lambda p: lk.binary_crossentropy(p(BIN_LOGITS), p(BIN_TARGETS)),
    "select_loss": lambda p: lk.select_loss(p(LOGITS), p(COLUMN)).name,
    "diagnose": lambda p: str(lk.diagnose(p(LOGITS), p(BAD_IDS))),
}


def _backends() -> list[str]:
    names = []
    for name in BACKENDS:
        if name == "numpy" or EXPLICIT or installed(name):
            if name != "numpy":
                __import__(name)
            names.append(name)
    return names


def outcome(backend: str, call: str) -> Any:
    """The call's result in comparable form (dtype, shape, bytes), or its error's type and message."""
    try:
        result = CALLS[call](lambda a: F.place(backend, a))
    except lk.LabelkitError as exc:
        return type(exc).__name__, str(exc)
    if isinstance(result, (str, lk.Spec)):
        return str(result)
    a = np.ascontiguousarray(F.to_numpy(result))
    return a.dtype.name, a.shape, a.tobytes()


def test_threads_give_the_serial_results(monkeypatch: pytest.MonkeyPatch) -> None:
    backends = _backends()
    jobs = [(b, c) for b in backends for c in CALLS]
    expected = {job: outcome(*job) for job in jobs}  # serial, and it warms each framework's own caches

    # Cold dispatch: no type cached, no backend instance made yet.
    monkeypatch.setattr(_dispatch, "_CACHE", {})
    monkeypatch.setattr(_dispatch, "_INSTANCES", {"numpy": _dispatch._NUMPY})
    barrier = threading.Barrier(THREADS)

    def work(seed: int) -> list[tuple[tuple[str, str], Any]]:
        rng = random.Random(seed)
        mine = [rng.choice(jobs) for _ in range(CALLS_PER_THREAD)]
        barrier.wait()
        return [(job, outcome(*job)) for job in mine]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    done = [r for thread in results for r in thread]
    assert len(done) == THREADS * CALLS_PER_THREAD
    wrong = [(job, got) for job, got in done if got != expected[job]]
    assert not wrong, f"{len(wrong)} threaded calls differ from serial ones, e.g. {wrong[0][0]}: {wrong[0][1]!r:.300}"
    for b in backends:  # every backend's types were cached, each to its own backend
        arr = F.place(b, LOGITS)
        assert _dispatch._CACHE[type(arr)].name == b
