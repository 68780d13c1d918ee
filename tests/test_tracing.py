"""Inference, one_hot and validate while tracing: jax.jit, tf.function (with None dims, and XLA), and
torch.compile(fullgraph=True) on a cold first call in a fresh process.

``check_values="auto"`` skips the value checks while tracing (no host sync, no graph break); an
out-of-range id then gives an all-zero ``one_hot`` row, never a wrapped or clipped one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import labelkit as lk
from conftest import backend_named
from labelkit import _ops
from labelkit.errors import LabelValueError, ShapeMismatchError

IDS = np.array([[3], [0], [999]], dtype=np.int64)
BAD_IDS = np.array([[3], [1000], [-1]], dtype=np.int64)  # 1000 == C; -1 is never wrapped to C - 1


def expected_one_hot(ids: np.ndarray, c: int = 1000) -> np.ndarray:
    out = np.zeros((len(ids), c), np.float32)
    for i, v in enumerate(ids[:, 0]):
        if 0 <= v < c:
            out[i, v] = 1
    return out


# --- JAX -----------------------------------------------------------------------------------------


def test_jax_jit():
    jax = backend_named("jax").module
    import jax.numpy as jnp

    specs = []

    @jax.jit
    def f(logits, labels):
        specs.append(lk.infer(logits, labels))
        specs.append(lk.validate(logits, labels))  # "auto": skipped on tracers, no ConcretizationError
        return lk.one_hot(labels, like=logits), lk.align(logits, labels, to="sparse")

    logits = jnp.zeros((3, 1000))
    hot, sparse = f(logits, jnp.asarray(IDS.astype(np.int32)))
    np.testing.assert_array_equal(np.asarray(hot), expected_one_hot(IDS))
    np.testing.assert_array_equal(np.asarray(sparse), IDS[:, 0])
    assert specs[0] == specs[1]
    assert (specs[0].task, specs[0].label_format, specs[0].num_classes, specs[0].squeeze) == (
        "multiclass", "sparse", 1000, True
    )
    # Out-of-range ids under jit: all-zero rows (jax.nn.one_hot's behaviour, and labelkit's everywhere).
    hot, _ = f(logits, jnp.asarray(BAD_IDS.astype(np.int32)))
    np.testing.assert_array_equal(np.asarray(hot), expected_one_hot(BAD_IDS))
    # The same ids eagerly are checked.
    with pytest.raises(LabelValueError, match=r"labels\[1\] is 1000, outside the valid class ids 0\.\.999"):
        lk.one_hot(jnp.asarray(BAD_IDS.astype(np.int32)), like=logits)


def test_jax_jit_rejects_shapes_while_tracing():
    jax = backend_named("jax").module
    import jax.numpy as jnp

    f = jax.jit(lambda logits, labels: lk.one_hot(labels, like=logits))
    with pytest.raises(ShapeMismatchError, match=r"batch sizes differ: 4 labels vs 3 logits"):
        f(jnp.zeros((3, 5)), jnp.zeros((4, 1), jnp.int32))


# --- TensorFlow ----------------------------------------------------------------------------------


def _signature(tf):
    return [tf.TensorSpec((None, 1000), tf.float32), tf.TensorSpec((None, 1), tf.int64)]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_tf_function_with_none_batch(jit_compile):
    tf = backend_named("tensorflow").module
    specs = []

    @tf.function(input_signature=_signature(tf), jit_compile=jit_compile)
    def f(logits, labels):
        specs.append(lk.infer(logits, labels))
        specs.append(lk.validate(logits, labels))
        return lk.one_hot(labels, like=logits), lk.align(logits, labels, to="sparse")

    hot, sparse = f(tf.zeros((3, 1000)), tf.constant(IDS))
    np.testing.assert_array_equal(hot.numpy(), expected_one_hot(IDS))
    np.testing.assert_array_equal(sparse.numpy(), IDS[:, 0])
    assert specs[0] == specs[1]
    assert (specs[0].task, specs[0].label_format, specs[0].num_classes, specs[0].squeeze) == (
        "multiclass", "sparse", 1000, True
    )
    # "auto" added no check to the graph: out-of-range ids give zero rows.
    hot, _ = f(tf.zeros((3, 1000)), tf.constant(BAD_IDS))
    np.testing.assert_array_equal(hot.numpy(), expected_one_hot(BAD_IDS))
    assert len(specs) == 2  # traced once: the None batch dimension covers every batch size


def test_tf_function_shape_error_keeps_its_class():
    """autograph re-raises most exceptions as StagingError; ours must stay catchable by their class."""
    tf = backend_named("tensorflow").module

    @tf.function(input_signature=[tf.TensorSpec((None, 1000)), tf.TensorSpec((None, 5), tf.int64)])
    def f(logits, labels):
        return lk.one_hot(labels, like=logits)

    with pytest.raises(ShapeMismatchError, match=r"5 columns but the logits have 1000 classes") as info:
        f.get_concrete_function()
    assert type(info.value) is ShapeMismatchError

    @tf.function
    def g(logits, labels):
        return lk.validate(logits, labels).num_classes

    with pytest.raises(ShapeMismatchError, match=r"batch sizes differ: 64 labels vs 32 logits"):
        g(tf.zeros((32, 10)), tf.zeros((64,), tf.int64))


def test_tf_function_value_error_keeps_its_class():
    tf = backend_named("tensorflow").module

    @tf.function
    def f(logits, labels):
        return lk.one_hot(labels, like=logits, check_values=True)

    # Graph mode with check_values=True: an in-graph assert, raised when the graph runs.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"class id is outside \[0, 1000\)"):
        f(tf.zeros((3, 1000)), tf.constant(BAD_IDS))
    np.testing.assert_array_equal(f(tf.zeros((3, 1000)), tf.constant(IDS)).numpy(), expected_one_hot(IDS))


def test_tf_function_does_not_autograph_labelkit(monkeypatch):
    """labelkit's control flow reads static shapes only: autograph must call it as it is, unconverted
    (converting it cost seconds on the first trace)."""
    tf = backend_named("tensorflow").module
    callers = []
    real = _ops.resolve

    def spy(*args, **kwargs):
        # Unconverted, labelkit's own code calls resolve; converted, autograph's converted_call does.
        callers.append(os.path.basename(sys._getframe(1).f_code.co_filename))
        return real(*args, **kwargs)

    monkeypatch.setattr(_ops, "resolve", spy)

    @tf.function
    def f(logits, labels):
        lk.validate(logits, labels)
        return lk.one_hot(labels, like=logits), lk.align(logits, labels, to="sparse")

    f(tf.zeros((2, 3)), tf.constant([[1], [2]]))
    assert callers == ["_ops.py", "_ops.py", "_ops.py"]


# --- torch.compile -------------------------------------------------------------------------------

COLD_COMPILE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    import labelkit as lk

    torch._dynamo.config.suppress_errors = False
    # aot_eager: dynamo's tracing (where a cold dispatch could break the graph) and AOTAutograd's fake
    # tensors, without inductor's C++ build (seconds, and a compiler on the CI machine).
    calls = []

    @torch.compile(fullgraph=True, backend="aot_eager")
    def f(logits, labels):
        spec = lk.validate(logits, labels)          # the first labelkit call of this process
        hot = lk.one_hot(labels, like=logits)
        ids = lk.align(logits, labels, to="sparse")
        return hot * spec.num_classes, ids

    logits = torch.zeros(3, 1000)
    good = torch.tensor([[3], [0], [999]])
    bad = torch.tensor([[3], [1000], [-1]])
    hot, ids = f(logits, good)
    bad_hot, _ = f(logits, bad)                     # same shapes: the compiled graph, checks skipped
    try:
        lk.one_hot(bad, like=logits)                # eager: checked
        eager = "no error"
    except lk.LabelValueError as exc:
        eager = str(exc)
    print(json.dumps({
        "hot": (hot / 1000).argmax(-1).tolist(), "hot_sum": hot.sum(-1).tolist(), "ids": ids.tolist(),
        "bad_sum": bad_hot.sum(-1).tolist(), "bad_argmax": bad_hot.argmax(-1).tolist(), "eager": eager,
        "frameworks": sorted(m for m in ("tensorflow", "jax", "keras") if m in sys.modules),
    }))
    """
)


def test_torch_compile_fullgraph_on_a_cold_first_call():
    backend_named("torch")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-c", COLD_COMPILE], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["hot"] == [3, 0, 999]
    assert out["hot_sum"] == [1000.0, 1000.0, 1000.0]
    assert out["ids"] == [3, 0, 999]
    assert out["bad_sum"] == [1000.0, 0.0, 0.0]  # out-of-range ids: all-zero rows, nothing wrapped
    assert out["bad_argmax"][0] == 3
    assert "labels[1] is 1000, outside the valid class ids 0..999" in out["eager"]
    assert out["frameworks"] == []


def test_torch_is_compiling_skips_checks(monkeypatch):
    """``check_values="auto"`` asks torch whether it is compiling (a cheap stand-in for a compile)."""
    torch = backend_named("torch").module
    logits, labels = torch.zeros(2, 5), torch.tensor([1, 7])
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    hot = lk.one_hot(labels, like=logits)
    np.testing.assert_array_equal(hot.numpy(), [[0, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    monkeypatch.undo()
    with pytest.raises(LabelValueError, match=r"labels\[1\] is 7"):
        lk.one_hot(labels, like=logits)
