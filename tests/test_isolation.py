"""``import labelkit`` and NumPy-only calls import NumPy only: never torch, tensorflow, jax or keras.

Run in a fresh interpreter, since this test process has imported the frameworks already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

FRAMEWORKS = ("torch", "tensorflow", "jax", "jaxlib", "keras", "tf_keras", "optax", "flax")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import labelkit as lk
    import labelkit.backends.torch, labelkit.backends.tensorflow, labelkit.backends.jax  # no framework either

    logits = np.zeros((4, 5), np.float32)
    labels = np.array([[1], [0], [4], [2]])
    lk.infer(logits, labels)
    lk.validate(logits, labels, ignore_index=-100)
    lk.one_hot(labels, like=logits)
    lk.one_hot([1, 2], 3)
    lk.squeeze(labels, logits)
    lk.to_sparse(np.eye(5)[[1, 0, 4, 2]])
    lk.align(logits, labels, to="one_hot")
    lk.align([[0.1, 0.9]], [1], to="sparse")
    lk.backend_of(logits)
    lk.available_backends()
    for bad in (lambda: lk.validate(logits, np.array([0, 1, 5, 2])),   # value error
                lambda: lk.validate(logits, np.zeros(7, np.int64)),    # shape error
                lambda: lk.validate(logits, "cat"),                    # not an array: entry points looked up
                lambda: lk.backend_of(object())):
        try:
            bad()
        except lk.LabelkitError:
            pass
    print(json.dumps(sorted(m for m in sys.modules if m.partition(".")[0] in FRAMEWORKS)))
    """
)


def test_numpy_only_use_imports_no_framework():
    code = f"FRAMEWORKS = {FRAMEWORKS!r}\n{SCRIPT}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_the_check_itself_sees_an_imported_framework():
    """The same script notices a framework once one is imported (the test can fail)."""
    code = f"FRAMEWORKS = {FRAMEWORKS!r}\nimport jaxlib\n{SCRIPT}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "No module named 'jaxlib'" in proc.stderr:
        fake = "import sys, types; sys.modules['jaxlib'] = types.ModuleType('jaxlib')"
        code = f"FRAMEWORKS = {FRAMEWORKS!r}\n{fake}\n{SCRIPT}"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "jaxlib" in json.loads(proc.stdout.strip().splitlines()[-1])
