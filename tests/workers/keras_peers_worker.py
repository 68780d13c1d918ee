"""Keras' own cross-entropy test cases, ported, and a worker that runs them on one Keras backend.

``CASES`` ports the inputs and expected values of ``BinaryCrossentropyTest``,
``CategoricalCrossentropyTest`` and ``SparseCategoricalCrossentropyTest`` in Keras'
``keras/src/losses/losses_test.py``. ``tests/test_peers_keras.py`` runs them through labelkit's functions
on every backend in its own process, and runs this file once per Keras backend (``KERAS_BACKEND``):
each case through Keras' own loss object and through ``labelkit.keras.CrossEntropy`` configured alike,
value and gradient with respect to ``y_pred``. Prints ``RESULT <json>``.

Only NumPy is imported at module level: pytest's doctest collection imports this file, and the test
module reads ``CASES`` from it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

# Keras' tolerances: assertAlmostEqual (3 decimals) and assertAllClose (rtol = atol = 1e-6).
ALMOST = {"rtol": 0.0, "atol": 1.5e-3}
ALLCLOSE = {"rtol": 1e-6, "atol": 1e-6}

EYE3 = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
PROBS3 = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]], dtype="float32")
LOGITS3 = np.array([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]])
SW3 = np.array([[1.2], [3.4], [5.6]])
BCE_TRUE = np.array([1, 0, 1, 0]).reshape([2, 2])
BCE_PRED = np.array([1, 1, 1, 0], dtype="float32").reshape([2, 2])
BCE_TRUE23 = np.array([[1, 0, 1], [0, 1, 1]])
BCE_LOGITS23 = np.array([[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]])

SEG_TRUE2 = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
SEG_EXACT2 = np.array(
    [
        [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]],
        [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]],
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
        [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
    ]
)
SEG_PRED2 = SEG_EXACT2.copy()
SEG_PRED2[0, 3] = [0.2, 0.8]
SEG_PRED2[3, 3] = [0.6, 0.4]
SEG_EXPECTED2 = (-np.log(0.2) - np.log(0.4)) / 16.0

SEG_TRUE3 = np.array([[0, 1, 2, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
SEG_EXACT3 = np.eye(3)[SEG_TRUE3]
SEG_PRED3 = SEG_EXACT3.copy()
SEG_PRED3[0, 3] = [0.2, 0.0, 0.8]
SEG_PRED3[1, 0] = [0.7, 0.3, 0.0]
SEG_PRED3[3, 2] = [0.5, 0.5, 0.0]
SEG_EXPECTED3 = (-np.log(0.2) - np.log(0.3) - np.log(0.5)) / 16.0

_rng = np.random.default_rng(0)  # Keras draws this case unseeded
SQUEEZE_TRUE = _rng.integers(0, 2, size=(2, 1, 4, 4)).astype("float32")
SQUEEZE_PRED = _rng.random((2, 2, 4, 4)).astype("float32")


def _case(name: str, loss: str, y_true: Any, y_pred: Any, expected: Any, tol: dict[str, float], **kw: Any) -> dict:
    """One ported assertion. ``kw``: the loss's arguments (``from_logits``, ``label_smoothing``, ``axis``,
    ``reduction``, ``ignore_class``, ``dtype``), ``sample_weight``, and ``keras_backends`` (where Keras'
    own test expects a value; elsewhere it expects ``ValueError``)."""
    sample_weight = kw.pop("sample_weight", None)
    keras_backends = kw.pop("keras_backends", ("tensorflow", "jax", "torch"))
    expect_dtype = kw.pop("expect_dtype", None)
    raises = isinstance(expected, str)  # Keras' test expects this error instead of a value
    return {
        "name": name,
        "loss": loss,
        "y_true": np.asarray(y_true),
        "y_pred": np.asarray(y_pred),
        "expected": None if expected is None or raises else np.asarray(expected, dtype="float64"),
        "raises": expected if raises else None,
        "tol": tol,
        "kw": kw,
        "sample_weight": sample_weight,
        "keras_backends": keras_backends,
        "expect_dtype": expect_dtype,
    }


CASES = [
    # BinaryCrossentropyTest
    _case("bce-all_correct", "bce", EYE3.astype("float32"), EYE3.astype("float32"), 0.0, ALMOST),
    _case("bce-all_correct-logits", "bce", EYE3.astype("float32"), 20.0 * EYE3 - 10.0, 0.0, ALMOST, from_logits=True),
    _case("bce-unweighted", "bce", EYE3.astype("float32"),
          np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32"), 0.20046903, ALLCLOSE),
    _case("bce-unweighted-saturated", "bce", BCE_TRUE, BCE_PRED, 3.98559, ALMOST),
    _case("bce-unweighted-logits", "bce", BCE_TRUE23, BCE_LOGITS23, 3.3333, ALMOST, from_logits=True),
    _case("bce-scalar_weighted", "bce", BCE_TRUE, BCE_PRED, 9.1668, ALMOST, sample_weight=2.3),
    _case("bce-scalar_weighted-logits", "bce", BCE_TRUE23, BCE_LOGITS23, 7.666, ALMOST, from_logits=True,
          sample_weight=2.3),
    _case("bce-sample_weighted", "bce", BCE_TRUE, BCE_PRED, 4.7827, ALMOST,
          sample_weight=np.array([1.2, 3.4]).reshape((2, 1))),
    _case("bce-sample_weighted-logits", "bce", BCE_TRUE23, BCE_LOGITS23, 10.0, ALMOST, from_logits=True,
          sample_weight=np.array([4, 3])),
    _case("bce-no_reduction", "bce", BCE_TRUE23, BCE_LOGITS23, [0.0, 6.666], {"rtol": 0.0, "atol": 1e-3},
          from_logits=True, reduction=None),
    _case("bce-label_smoothing", "bce", np.array([[1, 0, 1]]), np.array([[10.0, -10.0, -10.0]]),
          (10.0 + 5.0 * 0.1) / 3.0, ALMOST, from_logits=True, label_smoothing=0.1),
    _case("bce-shape_mismatch", "bce", np.array([[0], [1], [2]]), PROBS3.astype("float64"), "ValueError", {}),
    _case("bce-dtype_arg", "bce", EYE3.astype("float32"),
          np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32"), None, {},
          dtype="bfloat16", expect_dtype="bfloat16"),  # Keras' test skips torch; Keras 3.15 computes there
    # CategoricalCrossentropyTest
    _case("cce-all_correct", "cce", EYE3.astype("int64"), EYE3.astype("float32"), 0.0, ALMOST),
    _case("cce-all_correct-logits", "cce", EYE3.astype("int64"), 10.0 * EYE3, 0.0, ALMOST, from_logits=True),
    _case("cce-unweighted", "cce", EYE3, PROBS3, 0.3239, ALMOST),
    _case("cce-unweighted-logits", "cce", EYE3, LOGITS3, 0.0573, ALMOST, from_logits=True),
    _case("cce-scalar_weighted", "cce", EYE3, PROBS3, 0.7449, ALMOST, sample_weight=2.3),
    _case("cce-scalar_weighted-logits", "cce", EYE3, LOGITS3, 0.1317, ALMOST, from_logits=True, sample_weight=2.3),
    _case("cce-sample_weighted", "cce", EYE3, PROBS3, 1.0696, ALMOST, sample_weight=SW3),
    _case("cce-sample_weighted-logits", "cce", EYE3, LOGITS3, 0.31829, ALMOST, from_logits=True, sample_weight=SW3),
    _case("cce-no_reduction", "cce", EYE3, LOGITS3, [0.001822, 0.000459, 0.169846], ALLCLOSE, from_logits=True,
          reduction=None),
    _case("cce-label_smoothing", "cce", np.array([[1, 0, 0]]), np.array([[100.0, -100.0, -100.0]]),
          400.0 * 0.1 / 3.0, ALMOST, from_logits=True, label_smoothing=0.1),
    _case("cce-shape_mismatch", "cce", np.array([[0], [1], [2]]), PROBS3.astype("float64"), "ValueError", {}),
    _case("cce-dtype_arg", "cce", EYE3.astype("int64"), EYE3.astype("float32"), None, {}, dtype="bfloat16",
          expect_dtype="bfloat16"),
    # SparseCategoricalCrossentropyTest
    _case("scce-all_correct", "scce", np.array([[0], [1], [2]], dtype="int64"), EYE3.astype("float32"), 0.0,
          ALMOST),
    _case("scce-all_correct-logits", "scce", np.array([[0], [1], [2]], dtype="int64"), 10.0 * EYE3, 0.0, ALMOST,
          from_logits=True),
    _case("scce-unweighted", "scce", np.array([0, 1, 2]), PROBS3, 0.3239, ALMOST),
    _case("scce-unweighted-logits", "scce", np.array([0, 1, 2]), LOGITS3, 0.0573, ALMOST, from_logits=True),
    _case("scce-scalar_weighted", "scce", np.array([[0], [1], [2]]), PROBS3, 0.7449, ALMOST, sample_weight=2.3),
    _case("scce-scalar_weighted-logits", "scce", np.array([[0], [1], [2]]), LOGITS3, 0.1317, ALMOST,
          from_logits=True, sample_weight=2.3),
    _case("scce-sample_weighted", "scce", np.array([[0], [1], [2]]), PROBS3, 1.0696, ALMOST, sample_weight=SW3),
    _case("scce-sample_weighted-logits", "scce", np.array([[0], [1], [2]]), LOGITS3, 0.31829, ALMOST,
          from_logits=True, sample_weight=SW3),
    _case("scce-no_reduction", "scce", np.array([[0], [1], [2]]), LOGITS3, [0.001822, 0.000459, 0.169846],
          ALLCLOSE, from_logits=True, reduction=None),
    _case("scce-ignore_class", "scce", np.array([[-1, 2]]),
          np.array([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]]), [[0.0, 1.480129]], ALLCLOSE,
          from_logits=True, ignore_class=-1, reduction=None),
    _case("scce-ignore_class-column", "scce", np.array([[[-1], [2]]]),
          np.array([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]]), [[0.0, 1.480129]], ALLCLOSE,
          from_logits=True, ignore_class=-1, reduction=None),
    _case("scce-binary_segmentation-exact", "scce", SEG_TRUE2, SEG_EXACT2, 0.0, ALLCLOSE),
    _case("scce-binary_segmentation", "scce", SEG_TRUE2, SEG_PRED2, SEG_EXPECTED2, ALLCLOSE),
    _case("scce-binary_segmentation-axis0-exact", "scce", SEG_TRUE2, np.moveaxis(SEG_EXACT2, 2, 0), 0.0,
          ALLCLOSE, axis=0, keras_backends=("torch",)),
    _case("scce-binary_segmentation-axis0", "scce", SEG_TRUE2, np.moveaxis(SEG_PRED2, 2, 0), SEG_EXPECTED2,
          ALLCLOSE, axis=0, keras_backends=("torch",)),
    _case("scce-binary_segmentation-axis1", "scce", np.array([SEG_TRUE2] * 3),
          np.array([np.moveaxis(SEG_PRED2, 2, 0)] * 3), SEG_EXPECTED2, ALLCLOSE, axis=1,
          keras_backends=("torch",)),
    _case("scce-squeezes_singleton_class_dim", "scce", SQUEEZE_TRUE, SQUEEZE_PRED, None, {}, axis=1,
          reduction=None, keras_backends=("torch",)),
    _case("scce-multi_class_segmentation-exact", "scce", SEG_TRUE3, SEG_EXACT3, 0.0, ALLCLOSE),
    _case("scce-multi_class_segmentation", "scce", SEG_TRUE3, SEG_PRED3, SEG_EXPECTED3, ALLCLOSE),
    _case("scce-multi_class_segmentation-axis0-exact", "scce", SEG_TRUE3, np.moveaxis(SEG_EXACT3, 2, 0), 0.0,
          ALLCLOSE, axis=0, keras_backends=("torch",)),
    _case("scce-multi_class_segmentation-axis0", "scce", SEG_TRUE3, np.moveaxis(SEG_PRED3, 2, 0), SEG_EXPECTED3,
          ALLCLOSE, axis=0, keras_backends=("torch",)),
    _case("scce-multi_class_segmentation-axis1", "scce", np.array([SEG_TRUE3] * 3),
          np.array([np.moveaxis(SEG_PRED3, 2, 0)] * 3), SEG_EXPECTED3, ALLCLOSE, axis=1,
          keras_backends=("torch",)),
    _case("scce-dtype_arg", "scce", np.array([[0], [1], [2]], dtype="int64"), EYE3.astype("float32"), None, {},
          dtype="bfloat16", expect_dtype="bfloat16"),
]


# --- the worker ----------------------------------------------------------------------------------


def keras_loss(case: dict) -> Any:
    """Keras' own loss object for the case."""
    import keras

    kw = dict(case["kw"])
    reduction = kw.pop("reduction", "sum_over_batch_size")
    cls = {
        "bce": keras.losses.BinaryCrossentropy,
        "cce": keras.losses.CategoricalCrossentropy,
        "scce": keras.losses.SparseCategoricalCrossentropy,
    }[case["loss"]]
    return cls(reduction=reduction, **kw)


def labelkit_loss(case: dict) -> Any:
    """``labelkit.keras.CrossEntropy`` configured as the case's Keras loss (BCE on rows: multilabel)."""
    from labelkit.keras import CrossEntropy

    kw = dict(case["kw"])
    if "ignore_class" in kw:
        kw["ignore_index"] = kw.pop("ignore_class")
    kw.setdefault("reduction", "sum_over_batch_size")
    kw.setdefault("from_logits", False)  # Keras' default; labelkit's is True
    rows = case["y_pred"].ndim > 1 and case["y_pred"].shape[-1] > 1
    task = "multilabel" if case["loss"] == "bce" and rows else "auto"
    return CrossEntropy(task=task, **kw)


def _value_and_grad(backend: str, loss: Any, case: dict) -> tuple[Any, Any, str]:
    """The loss of the case, the gradient of its sum w.r.t. ``y_pred`` (float32), and the loss's dtype."""
    import keras

    y_true = case["y_true"]
    y_pred = case["y_pred"].astype("float32")
    sw = case["sample_weight"]
    call = (lambda p: loss(y_true, p, sample_weight=sw)) if sw is not None else (lambda p: loss(y_true, p))
    if backend == "tensorflow":
        import tensorflow as tf

        p = tf.constant(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(p)
            out = call(p)
            total = tf.reduce_sum(tf.cast(out, "float32"))
        grad = tape.gradient(total, p)
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        # Jitted, as Keras' fit runs a JAX model: one compilation per case instead of one per operation
        # (eager JAX compiles every op for every new shape: 34 s of CPU for these cases).
        def both(q: Any) -> tuple[Any, Any]:
            value = call(q)
            return value, jax.grad(lambda r: jnp.sum(call(r).astype("float32")))(q)

        out, grad = jax.jit(both)(jnp.asarray(y_pred))
    else:
        import torch

        p = torch.tensor(y_pred, requires_grad=True)
        out = call(p)
        out.float().sum().backward()
        grad = p.grad
    dtype = keras.backend.standardize_dtype(out.dtype)
    value = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")), dtype="float64")
    return value, np.asarray(keras.ops.convert_to_numpy(grad), dtype="float64"), dtype


def _plain(x: np.ndarray) -> Any:
    return x.tolist()


def main() -> None:
    import keras

    import labelkit.keras

    backend = keras.backend.backend()
    out: dict[str, Any] = {"backend": backend, "keras": keras.__version__, "cases": {}}
    for case in CASES:
        result = {}
        for side, make in (("keras", keras_loss), ("labelkit", labelkit_loss)):
            try:
                value, grad, dtype = _value_and_grad(backend, make(case), case)
                result[side] = {"value": _plain(value), "grad": _plain(grad), "dtype": dtype}
            except Exception as exc:  # what the test asserts about: which side raised what
                result[side] = {"error": type(exc).__name__, "message": str(exc)[:500],
                                "value_error": isinstance(exc, ValueError)}
        out["cases"][case["name"]] = result
    # test_config: the loss survives Keras' serialisation with its arguments.
    loss = labelkit.keras.CrossEntropy(name="cce", axis=-1)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    out["config"] = {"type": type(restored).__name__, "same": restored.get_config() == loss.get_config(),
                     "name": restored.name}
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.environ["KERAS_BACKEND"] = sys.argv[1]
    main()
