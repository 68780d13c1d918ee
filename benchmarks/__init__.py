"""labelkit's benchmark suite: what labelkit costs over each framework's own call.

Run it with ``python -m benchmarks`` (``--help`` for the options). Every figure is a **ratio against
the native call measured in the same process run**: the candidates are warmed up, then timed in
interleaved rounds (the order rotates each round), and each round gives a paired ratio; the table
shows the median of those ratios with their min/max, and each candidate's median time with its
min/max. A fresh subprocess serves each backend (and each memory measurement), so frameworks never
share a process and Keras can pick its backend per process (``KERAS_BACKEND``).

Cases (each runs alone with ``--only NAME``):

``import``
    ``import labelkit`` wall time over ``import numpy`` in fresh interpreters, and which modules it loads.
``dispatch``
    Per-call overhead on tiny inputs (N=32, C=10): ``lk.one_hot`` and ``lk.cross_entropy`` against the
    native call and against Keras 3's ``keras.ops`` on the same backend.
``sparse_ce``
    Sparse cross-entropy at N=8192, C=1000 float32, forward and forward+backward, against the native
    fused kernel and the one-hot-then-categorical path.
``args``
    The argument matrix: ``ignore_index`` / ``class_weight`` / ``label_smoothing`` / all of them, × the
    reductions, × sparse / column / one-hot labels, forward+backward, each against the native call with
    the same arguments (PyTorch's ``F.cross_entropy``; TF and JAX: the masked mean a user writes).
``steps``
    A whole training step per framework: the PyTorch module in an Adam step, a jitted JAX/optax step,
    and Keras ``fit`` on the worker's Keras backend, against each framework's own loss.
``checks``
    The eager value check's cost: ``check_values=True`` against ``False``, relative to the loss itself.
``memory``
    Peak memory at vocabulary scale (N=2048, C=131072: 1 GiB of logits), one subprocess per measurement.
``accuracy``
    ``lk.accuracy`` with ``(N, 1)`` ids against the hand-written correct comparison (N=8192, C=1000).
``gpu``
    The CUDA script (``benchmarks/gpu.py``); it skips cleanly where there is no CUDA device.
"""

from __future__ import annotations

CASES = ("import", "dispatch", "sparse_ce", "args", "steps", "checks", "memory", "gpu")

# The module that implements each case (``import`` is a keyword, hence ``imports``).
MODULES = {
    "import": "benchmarks.imports",
    "dispatch": "benchmarks.dispatch",
    "sparse_ce": "benchmarks.sparse_ce",
    "args": "benchmarks.args",
    "steps": "benchmarks.steps",
    "checks": "benchmarks.checks",
    "memory": "benchmarks.memory",
    "gpu": "benchmarks.gpu",
}
CASES += ("accuracy",); MODULES["accuracy"] = "benchmarks.accuracy"  # noqa: E702 - lk.accuracy (issue 15)
