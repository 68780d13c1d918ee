"""No function modifies its inputs; repeated calls give bitwise-identical results (issue 7).

Every public function runs three times on the same inputs, on every backend. The inputs are checked
after the calls against copies taken before: their values bit for bit, and for torch also each
tensor's version counter (bumped by any in-place operation, on the tensor or a view of it). The
"views" layout hands in the awkward kinds of input: NumPy read-only, strided and zero-stride
(broadcast) views, whose base any in-place write would corrupt (a read-only array makes such a write
raise); torch strided views and a leaf that requires grad (an in-place write on it raises); a
``tf.Variable`` (mutable) as TensorFlow logits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import fuzz_cases as F
import labelkit as lk

N, C = 6, 5
RNG = np.random.default_rng(7)
LOGITS = RNG.standard_normal((N, C)).astype(np.float32)
IDS = np.array([0, 4, 2, -100, 1, 3])
ONE_HOT = np.eye(C, dtype=np.float32)[[0, 4, 2, 2, 1, 3]]
PROBS = (ONE_HOT * 0.6 + 0.08).astype(np.float32)
CF_LOGITS = RNG.standard_normal((2, C, 3)).astype(np.float32)  # channels-first (N, C, T)
CF_IDS = np.array([[0, 1, 4], [3, 3, 2]])
BIN_LOGITS = RNG.standard_normal((N, 1)).astype(np.float32)
BIN_TARGETS = np.array([0, 1, 1, 0, 1, 0], dtype=np.float32)
MULTI_HOT = (RNG.random((N, C)) < 0.4).astype(np.float32)
WEIGHTS = np.array([1.0, 2.0, 0.5, 1.5, 3.0], dtype=np.float32)
PROB_INPUTS = np.abs(LOGITS) / np.abs(LOGITS).sum(-1, keepdims=True)

ARRAYS = {
    "logits": LOGITS, "ids": IDS, "column": IDS[:, None], "one_hot": ONE_HOT, "probs": PROBS,
    "cf_logits": CF_LOGITS, "cf_ids": CF_IDS, "bin_logits": BIN_LOGITS, "bin_targets": BIN_TARGETS,
    "multi_hot": MULTI_HOT, "weights": WEIGHTS, "prob_inputs": PROB_INPUTS,
    "bad_ids": np.array([0, 7, 2, 2, 1, 3]),
}

CALLS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "infer": lambda a: lk.infer(a["logits"], a["column"]),
    "validate": lambda a: lk.validate(a["logits"], a["column"], ignore_index=-100),
    "one_hot-like": lambda a: lk.one_hot(a["column"], like=a["logits"], ignore_index=-100),
    "one_hot-num_classes": lambda a: lk.one_hot(a["ids"], C, ignore_index=-100, dtype="int32"),
    "squeeze": lambda a: lk.squeeze(a["column"], a["logits"]),
    "to_sparse": lambda a: lk.to_sparse(a["probs"]),
    "align-to-sparse": lambda a: lk.align(a["logits"], a["one_hot"], to="sparse"),
    "align-to-one_hot": lambda a: lk.align(a["logits"], a["column"], to="one_hot", ignore_index=-100),
    "align-rows-as-they-are": lambda a: lk.align(a["logits"], a["one_hot"], to="one_hot"),
    "cross_entropy-sparse": lambda a: lk.cross_entropy(
        a["logits"], a["column"], ignore_index=-100, class_weight=a["weights"], label_smoothing=0.1),
    "cross_entropy-probs": lambda a: lk.cross_entropy(a["logits"], a["probs"], reduction="none"),
    "cross_entropy-channels-first": lambda a: lk.cross_entropy(a["cf_logits"], a["cf_ids"], axis=1, reduction="sum"),
    "cross_entropy-from-probabilities": lambda a: lk.cross_entropy(a["prob_inputs"], a["one_hot"], from_logits=False),
    "sparse_categorical_crossentropy": lambda a: lk.sparse_categorical_crossentropy(
        a["logits"], a["ids"], ignore_index=-100, label_smoothing=0.2),
    "categorical_crossentropy": lambda a: lk.categorical_crossentropy(
        a["logits"], a["one_hot"], class_weight=a["weights"]),
    "binary_crossentropy-binary": lambda a: lk.binary_crossentropy(
        a["bin_logits"], a["bin_targets"], label_smoothing=0.1),
    "binary_crossentropy-multilabel": lambda a: lk.binary_crossentropy(
        a["logits"], a["multi_hot"], class_weight=a["weights"]),
    "binary_crossentropy-from-probabilities": lambda a: lk.binary_crossentropy(
        a["prob_inputs"], a["multi_hot"], from_logits=False),
    "select_loss": lambda a: _select_loss(a),
    "diagnose": lambda a: lk.diagnose(a["logits"], a["bad_ids"]),
    "backend_of": lambda a: lk.backend_of(a["logits"]),
}


def _select_loss(a: dict[str, Any]) -> Any:
    choice = lk.select_loss(a["logits"], a["column"])
    return choice, choice(a["logits"], a["column"], ignore_index=-100), choice.prepare(a["column"]), choice.explain()


# --- inputs in two layouts ------------------------------------------------------------------------


def _numpy_view(a: np.ndarray, name: str) -> np.ndarray:
    """``a``'s values as a read-only view: strided into a bigger buffer, or zero-stride (broadcast)."""
    if name == "weights":
        base = np.broadcast_to(a[None, :], (3, a.size))  # zero-stride rows, read-only
        return base[1]
    big = np.zeros(tuple(2 * d for d in a.shape) or (2,), dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)] if a.ndim else big[0:1].reshape(())
    view[...] = a
    view.flags.writeable = False
    return view


def make_inputs(backend: Any, layout: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, a in ARRAYS.items():
        if backend.name == "jax" and a.dtype == np.int64:
            a = a.astype(np.int32)
        if layout == "contiguous":
            out[name] = F.place(backend.name, a)
            continue
        if backend.name == "numpy":
            out[name] = _numpy_view(a, name)
        elif backend.name == "torch":
            torch = backend.module
            if name in ("logits", "cf_logits", "bin_logits", "prob_inputs"):
                out[name] = torch.tensor(a, requires_grad=True)  # a leaf: an in-place write on it raises
            else:
                big = torch.zeros(tuple(2 * d for d in a.shape), dtype=getattr(torch, a.dtype.name))
                view = big[tuple(slice(None, None, 2) for _ in a.shape)]
                view.copy_(torch.from_numpy(a))
                out[name] = view
        elif backend.name == "tensorflow" and name in ("logits", "cf_logits", "bin_logits", "prob_inputs"):
            out[name] = backend.module.Variable(a)
        else:
            out[name] = F.place(backend.name, np.asfortranarray(a))
    return out


def snapshot(x: Any) -> tuple[Any, ...]:
    """The bits of ``x``'s values (and a torch tensor's version counter)."""
    version = getattr(x, "_version", None)
    if type(x).__name__ in ("ResourceVariable", "Variable"):
        x = x.read_value()
    a = np.ascontiguousarray(F.to_numpy(x))
    return a.dtype.name, a.shape, a.tobytes(), version


def normalise(result: Any) -> Any:
    """A result in comparable form: arrays as (dtype, shape, bytes); specs and diagnoses as text."""
    if isinstance(result, tuple):
        return tuple(normalise(r) for r in result)
    if isinstance(result, (str, lk.Spec)):
        return str(result)
    if isinstance(result, lk.Diagnosis):
        return str(result), result.to_dict()["problems"]
    if isinstance(result, lk.LossChoice):
        return result.name, str(result.spec)
    a = np.ascontiguousarray(F.to_numpy(result))
    return a.dtype.name, a.shape, a.tobytes()


@pytest.mark.parametrize("layout", ["contiguous", "views"])
@pytest.mark.parametrize("name", list(CALLS))
def test_inputs_are_not_modified_and_results_repeat_bitwise(backend, name, layout):
    inputs = make_inputs(backend, layout)
    before = {k: snapshot(v) for k, v in inputs.items()}
    first = normalise(CALLS[name](inputs))
    for _ in range(2):
        assert normalise(CALLS[name](inputs)) == first, f"{name}: a repeated call gave a different result"
    for k, v in inputs.items():
        assert snapshot(v) == before[k], f"{name} modified its input {k!r}"


@pytest.mark.parametrize("name", [n for n in CALLS if n not in ("diagnose", "backend_of")])
def test_views_give_the_same_results_as_contiguous_arrays(backend, name):
    """Strided, read-only, broadcast inputs (and torch leaves, tf.Variables) compute the same bits."""
    got = normalise(CALLS[name](make_inputs(backend, "views")))
    want = normalise(CALLS[name](make_inputs(backend, "contiguous")))
    assert got == want
