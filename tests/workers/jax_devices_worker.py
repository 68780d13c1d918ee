"""JAX results land on the logits' device, not the labels' (SPEC "Public API").

Run by ``tests/test_semantics_edges.py`` with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (it
must be set before JAX starts): labels on host device 0, logits on host device 1. Each of
``one_hot(like=)``, ``align`` and ``count_valid`` must answer on device 1.

Prints ``RESULT <json>``: the number of devices, the calls checked, and the wrong ones with their device.
"""

from __future__ import annotations

import json


def main() -> None:
    import jax
    import numpy as np

    import labelkit as lk

    devices = jax.devices()
    labels_device, logits_device = devices[0], devices[-1]
    logits = jax.device_put(np.zeros((4, 3), np.float32), logits_device)
    ids = jax.device_put(np.array([0, 2, 1, 2], np.int32), labels_device)
    rows = jax.device_put(np.eye(3, dtype=np.float32)[[0, 2, 1, 2]], labels_device)
    calls = {
        "one_hot_like": lambda: lk.one_hot(ids, like=logits),
        "align_one_hot": lambda: lk.align(logits, ids, to="one_hot"),
        "align_sparse": lambda: lk.align(logits, rows, to="sparse"),
        "count_valid": lambda: lk.count_valid(logits, ids, ignore_index=1),
        "count_weighted": lambda: lk.count_valid(logits, ids, class_weight=[1.0, 2.0, 3.0]),
        "count_rows": lambda: lk.count_valid(logits, rows),
    }
    wrong = {}
    for name, call in calls.items():
        got = call().devices()
        if got != {logits_device}:
            wrong[name] = str(sorted(got, key=str))
    print("RESULT " + json.dumps({"devices": len(devices), "checked": len(calls), "wrong": wrong}))


if __name__ == "__main__":
    main()
