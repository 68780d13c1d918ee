"""labelkit fed Keras' own cross-entropy test cases (``keras/src/losses/losses_test.py``).

The cases (``tests/workers/keras_peers_worker.py``: ``CASES``) port the inputs, sample weights and expected
values of Keras' ``BinaryCrossentropyTest``, ``CategoricalCrossentropyTest`` and
``SparseCategoricalCrossentropyTest``. They run two ways:

* labelkit's functions (``lk.binary_crossentropy``, ``lk.categorical_crossentropy``,
  ``lk.sparse_categorical_crossentropy``) on every backend (the ``backend`` fixture), per element, with
  Keras' ``sample_weight`` and reduction applied here: the value against Keras' expected value (with
  Keras' tolerance) and against the float64 oracle, the gradient against the oracle;
* ``labelkit.keras.CrossEntropy`` beside Keras' own loss object, inside Keras on its TensorFlow, JAX and
  PyTorch backends (one process each): the value against Keras' expected value and against Keras' loss
  on the same backend, the gradient with respect to ``y_pred`` against Keras' gradient.

Where labelkit and Keras part, the case takes an explicit branch that asserts both sides:

* ``(N, 1)`` class ids given to ``CategoricalCrossentropy``: Keras raises ``ValueError``; ``CrossEntropy``
  reads them as ids and gives the ``SparseCategoricalCrossentropy`` value (its purpose);
  ``lk.categorical_crossentropy`` raises ``ShapeMismatchError`` naming the sparse variant, as Keras raises;
* a class axis other than -1 (Keras' own test expects a value on PyTorch only and ``ValueError`` on
  TensorFlow and JAX): labelkit gives the PyTorch backend's value on every backend;
* ``dtype="bfloat16"``: both return bfloat16 and equal values; labelkit computes in float32, so the
  gradients are not compared;
* ``SparseCategoricalCrossentropy(from_logits=False)`` on Keras' TensorFlow backend passes ``log(p)`` to
  a softmax cross-entropy, so where ``p`` is clipped its gradient differs (by 0.0625 in the
  ``multi_class_segmentation`` case) from Keras on JAX and PyTorch; labelkit's equals the oracle's there.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from loss_helpers import as_f64, float_input, value_and_grad
from subproc import WORKERS, need, run_worker


def _load_cases() -> list[dict]:
    """``CASES`` from the worker file (``tests/workers`` is not a package); it imports NumPy only."""
    spec = importlib.util.spec_from_file_location("keras_peers_worker", WORKERS / "keras_peers_worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


CASES = _load_cases()

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
BY_NAME = {c["name"]: c for c in CASES}
FUNCTIONS = {
    "bce": lk.binary_crossentropy,
    "cce": lk.categorical_crossentropy,
    "scce": lk.sparse_categorical_crossentropy,
}
# The case where Keras' TensorFlow backend differentiates through its clip differently (module docstring).
TF_CLIPPED_GRADIENT = {"scce-multi_class_segmentation"}


def _axis(case: dict) -> int:
    return case["kw"].get("axis", -1)


def _labelkit_kw(case: dict) -> dict[str, Any]:
    kw = case["kw"]
    out = {"from_logits": kw.get("from_logits", False), "axis": _axis(case), "reduction": "none"}
    if kw.get("label_smoothing"):
        out["label_smoothing"] = kw["label_smoothing"]
    if "ignore_class" in kw:
        out["ignore_index"] = kw["ignore_class"]
    return out


def _keras_reduce(losses: np.ndarray, case: dict) -> np.ndarray:
    """Keras' ``sample_weight`` and reduction on per-element losses (``sum_over_batch_size``: the weighted
    sum over the number of elements)."""
    sw = case["sample_weight"]
    if sw is not None:
        sw = np.asarray(sw, dtype=np.float64)
        while sw.ndim > losses.ndim and sw.shape[-1] == 1:
            sw = sw[..., 0]  # Keras squeezes a (N, 1) weight to the losses' rank
        losses = losses * sw
    if case["kw"].get("reduction", "sum_over_batch_size") is None:
        return losses
    return np.asarray(losses.sum() / losses.size)


def _oracle(case: dict, y_pred: np.ndarray) -> O.Result:
    """The float64 oracle's per-element losses and the gradient of their sum w.r.t. ``y_pred``."""
    kw = _labelkit_kw(case)
    common = {"from_logits": kw["from_logits"], "label_smoothing": kw.get("label_smoothing", 0.0),
              "reduction": "none"}
    y_true = case["y_true"]
    if case["loss"] == "bce":
        return O.multilabel(y_pred, y_true, axis=kw["axis"], **common)
    if case["loss"] == "cce":
        return O.multiclass(y_pred, y_true, axis=kw["axis"], **common)
    ids = np.squeeze(y_true, axis=kw["axis"]) if y_true.ndim == y_pred.ndim else y_true
    return O.sparse(y_pred, ids, axis=kw["axis"], ignore_index=kw.get("ignore_index"), **common)


# --- labelkit's functions on every backend --------------------------------------------------------

FUNCTION_CASES = [c for c in CASES if c["kw"].get("dtype") is None]


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=[c["name"] for c in FUNCTION_CASES])
def test_keras_case_with_labelkit_functions(backend: Any, case: dict) -> None:
    fn = FUNCTIONS[case["loss"]]
    z = float_input(backend, case["y_pred"], "float32")
    if case["loss"] == "scce":
        t = backend.to_backend(case["y_true"])
    else:
        t = float_input(backend, case["y_true"], "float32")
    kw = _labelkit_kw(case)
    if case["raises"]:
        # Keras raises ValueError ("must have the same shape"); so does labelkit, with the fix.
        match = "lk.sparse_categorical_crossentropy" if case["loss"] == "cce" else "accept labels of shape"
        with pytest.raises(lk.ShapeMismatchError, match=match):
            fn(z, t, **kw)
        return
    out, grad = value_and_grad(backend, lambda x: fn(x, t, **kw), z)
    losses = as_f64(backend, out)
    oracle = _oracle(case, as_f64(backend, z))
    close = np.ones(losses.shape, dtype=bool)
    if case["loss"] == "bce" and not kw["from_logits"]:
        # A probability of exactly 1 against a target of 0 (or 0 against 1): float32 rounds the clip bound
        # 1 - 1e-7 to 1 - 1.19e-7, so the log is -15.94, not the float64 oracle's -16.12. Keras' expected
        # value (float32 too) checks these elements.
        p, t = case["y_pred"], case["y_true"]
        close = ~np.any(((p >= 1 - 1e-7) & (t < 1)) | ((p <= 1e-7) & (t > 0)), axis=-1)
    np.testing.assert_allclose(losses[close], oracle.value[close], rtol=1e-5, atol=1e-6, err_msg="per-element loss")
    if case["expected"] is not None:
        np.testing.assert_allclose(_keras_reduce(losses, case), case["expected"], **case["tol"])
    else:  # test_squeezes_singleton_class_dim_on_user_axis checks the shape
        assert losses.shape == (2, 4, 4)
    if grad is not None:
        np.testing.assert_allclose(grad, oracle.grad, rtol=1e-5, atol=1e-6, err_msg="gradient w.r.t. y_pred")


# --- labelkit.keras.CrossEntropy beside Keras' own loss, on each Keras backend ----------------------


@pytest.fixture(scope="module", params=KERAS_BACKENDS, ids=[f"keras-{b}" for b in KERAS_BACKENDS])
def report(request: pytest.FixtureRequest) -> dict[str, Any]:
    need(request.param, "keras")
    result = run_worker("keras_peers_worker.py", env={"KERAS_BACKEND": request.param})
    assert result["backend"] == request.param
    return result


def test_keras_config_round_trip(report: dict[str, Any]) -> None:
    """Keras' ``test_config``: the loss survives ``serialize_keras_object``/``deserialize_keras_object``."""
    assert report["config"] == {"type": "CrossEntropy", "same": True, "name": "cce"}


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_keras_case_with_crossentropy(report: dict[str, Any], name: str) -> None:
    case = BY_NAME[name]
    backend = report["backend"]
    keras_side, ours = report["cases"][name]["keras"], report["cases"][name]["labelkit"]
    if case["raises"]:
        assert keras_side.get("value_error"), f"Keras did not raise ValueError: {keras_side}"
        if case["loss"] == "bce":
            # BinaryCrossentropy is configured as task="multilabel": (3, 1) labels do not fit (3, 3).
            assert ours.get("error") == "ShapeMismatchError" and ours["value_error"], ours
        else:
            # (3, 1) ids for a categorical loss: CrossEntropy reads them as ids, the sparse loss (0.3239).
            assert "error" not in ours, ours
            np.testing.assert_allclose(ours["value"], BY_NAME["scce-unweighted"]["expected"], rtol=0, atol=1.5e-3)
        return
    assert "error" not in ours, f"labelkit raised: {ours}"
    value = np.asarray(ours["value"])
    if backend not in case["keras_backends"]:
        # Keras' own test expects ValueError on this backend (class axis other than -1); labelkit computes.
        assert keras_side.get("value_error"), f"Keras computed {keras_side}"
        if case["expected"] is not None:
            np.testing.assert_allclose(value, case["expected"], **case["tol"])
        else:
            assert value.shape == (2, 4, 4)
        return
    assert "error" not in keras_side, f"Keras raised: {keras_side}"
    assert ours["dtype"] == keras_side["dtype"]
    if case["expect_dtype"]:
        # test_dtype_arg: the loss comes back in bfloat16; labelkit computed it in float32.
        assert ours["dtype"] == case["expect_dtype"]
        np.testing.assert_allclose(value, keras_side["value"], rtol=1e-2, atol=1e-2)
        return
    if case["expected"] is not None:
        np.testing.assert_allclose(value, case["expected"], **case["tol"])
    np.testing.assert_allclose(value, keras_side["value"], rtol=1e-5, atol=1e-6, err_msg="value vs Keras")
    grad, keras_grad = np.asarray(ours["grad"]), np.asarray(keras_side["grad"])
    if backend == "tensorflow" and name in TF_CLIPPED_GRADIENT:
        # Keras-TF differentiates log(clip(p)) through a softmax; labelkit's gradient is the oracle's.
        want = _oracle(case, case["y_pred"].astype("float32").astype("float64")).grad / case["y_true"].size
        assert np.max(np.abs(keras_grad - want)) > 1e-3
        np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-6)
        return
    np.testing.assert_allclose(grad, keras_grad, rtol=1e-5, atol=1e-6, err_msg="gradient vs Keras")
