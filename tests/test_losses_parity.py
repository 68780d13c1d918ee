"""labelkit against each framework's own loss, where SPEC says they agree, and pinned where SPEC departs.

Agreement (float32: rtol 1e-5, atol 1e-6): torch ``F.cross_entropy`` (``ignore_index``, ``weight``,
``label_smoothing``, weight + smoothing, the class axis at dim 1) and ``F.binary_cross_entropy_with_logits``;
``tf.nn.sparse_softmax_cross_entropy_with_logits`` / ``softmax_cross_entropy_with_logits``; Keras
``SparseCategoricalCrossentropy`` (``ignore_class`` too), ``CategoricalCrossentropy(label_smoothing=…)``,
``BinaryCrossentropy(label_smoothing=…)``; optax ``softmax_cross_entropy(_with_integer_labels)`` and
``sigmoid_binary_cross_entropy``.

Departures (each test pins labelkit's value and asserts the native's different behaviour, so that the
README's table stays true): the all-ignored mean (torch NaN); dense targets with class weights (torch
divides by N); Keras BCE's ``"sum"`` and ``"none"`` on rank-1 logits (the batch mean) and torch's
multilabel ``"sum"`` over every class; optax wrapping ``-1`` to class ``C-1``; Keras truncating 2.7 to 2;
float16 overflow for C > 65504 (torch CPU, optax).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from conftest import backend_named
from loss_helpers import assert_close

rng = np.random.default_rng(7)
N, C = 8, 5
Z = rng.standard_normal((N, C)).astype("float32") * 2
IDS = np.array([0, 4, 2, 2, 1, 3, 0, 4])
IGNORED = np.array([0, -100, 2, 2, -100, 3, 0, 4])
W = np.array([0.5, 1.0, 2.0, 1.5, 3.0], "float32")
Z_SEQ = rng.standard_normal((3, 4, C)).astype("float32")
IDS_SEQ = rng.integers(0, C, size=(3, 4))
Z_NCHW = rng.standard_normal((2, C, 3, 4)).astype("float32")
IDS_NHW = rng.integers(0, C, size=(2, 3, 4))
SOFT = rng.dirichlet(np.ones(C), size=N).astype("float32")
ONE_HOT = np.eye(C, dtype="float32")[IDS]
Z_BIN = (rng.standard_normal(N) * 3).astype("float32")
T_BIN = np.array([0, 1, 1, 0, 1, 0, 0, 1], "float32")
T_SOFT = np.array([0.0, 0.2, 1.0, 0.5, 0.9, 0.1, 0.0, 1.0], "float32")
Z_ML = rng.standard_normal((N, 4)).astype("float32")
T_ML = (rng.random((N, 4)) > 0.5).astype("float32")

REDUCTIONS = ("mean", "sum", "none")


def _np(x: Any) -> np.ndarray:
    """Any framework's array as float64 NumPy."""
    if hasattr(x, "detach"):
        return x.detach().double().numpy()
    return np.asarray(x, dtype=np.float64)


# --- PyTorch -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> Any:
    return backend_named("torch").module


TORCH_OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "ignore": {"ignore_index": -100},
    "weight": {"weight": W},
    "smooth": {"label_smoothing": 0.15},
    "weight-smooth": {"weight": W, "label_smoothing": 0.15},
    "ignore-weight-smooth": {"ignore_index": -100, "weight": W, "label_smoothing": 0.15},
}
TORCH_LAYOUTS = {
    # id: (labelkit logits, labels, axis, the same logits with the class axis at dim 1 for torch)
    "NC": (Z, IDS, -1, Z),
    "NTC": (Z_SEQ, IDS_SEQ, -1, np.moveaxis(Z_SEQ, -1, 1)),
    "NCHW-axis1": (Z_NCHW, IDS_NHW, 1, Z_NCHW),
}


def _lk_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """torch's keyword arguments in labelkit's words."""
    names = {"weight": "class_weight", "ignore_index": "ignore_index", "label_smoothing": "label_smoothing"}
    return {names[k]: v for k, v in options.items()}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", list(TORCH_OPTIONS))
@pytest.mark.parametrize("layout", list(TORCH_LAYOUTS))
def test_torch_cross_entropy_sparse(torch: Any, layout: str, options: str, reduction: str) -> None:
    F = torch.nn.functional
    logits, ids, axis, dim1 = TORCH_LAYOUTS[layout]
    opts = TORCH_OPTIONS[options]
    if "ignore_index" in opts:
        ids = np.where(ids == 2, -100, ids)
    x = torch.tensor(logits, requires_grad=True)
    x_native = torch.tensor(dim1, requires_grad=True)
    y = torch.tensor(ids)
    native_opts = {k: torch.tensor(v) if k == "weight" else v for k, v in opts.items()}
    expected = F.cross_entropy(x_native, y, reduction=reduction, **native_opts)
    got = lk.cross_entropy(x, y, axis=axis, reduction=reduction, **_lk_kwargs(opts))
    if reduction == "none" and layout == "NTC":
        assert tuple(expected.shape) == tuple(got.shape)
    assert_close(_np(got), _np(expected))
    got.sum().backward()
    expected.sum().backward()
    native_grad = x_native.grad if axis == 1 or logits.ndim == 2 else torch.movedim(x_native.grad, 1, -1)
    assert_close(_np(x.grad), _np(native_grad))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", ["plain", "smooth"])
@pytest.mark.parametrize("targets", ["one_hot", "probs"])
def test_torch_cross_entropy_dense_targets(torch: Any, targets: str, options: str, reduction: str) -> None:
    """Without class weights, torch's probability targets agree (mean over N, smoothing included)."""
    F = torch.nn.functional
    t = ONE_HOT if targets == "one_hot" else SOFT
    opts = TORCH_OPTIONS[options]
    expected = F.cross_entropy(torch.tensor(Z), torch.tensor(t), reduction=reduction, **opts)
    got = lk.cross_entropy(torch.tensor(Z), torch.tensor(t), reduction=reduction, **_lk_kwargs(opts))
    assert_close(_np(got), _np(expected))


BCE_CASES = ["binary", "binary-soft", "binary-(N,1)", "multilabel", "multilabel-weight"]


@pytest.mark.parametrize(
    "case, reduction",
    # multilabel "sum" departs: see test_torch_multilabel_sum_counts_every_class_labelkit_sums_element_means
    [(c, r) for c in BCE_CASES for r in REDUCTIONS if not (c.startswith("multilabel") and r == "sum")],
    ids=lambda v: v,
)
def test_torch_binary_cross_entropy_with_logits(torch: Any, case: str, reduction: str) -> None:
    F = torch.nn.functional
    z, t, kw, native_kw = {
        "binary": (Z_BIN, T_BIN, {}, {}),
        "binary-soft": (Z_BIN, T_SOFT, {}, {}),
        "binary-(N,1)": (Z_BIN[:, None], T_BIN[:, None], {}, {}),
        "multilabel": (Z_ML, T_ML, {"task": "multilabel"}, {}),
        "multilabel-weight": (Z_ML, T_ML, {"task": "multilabel", "class_weight": [1.0, 2.0, 0.5, 3.0]},
                              {"weight": torch.tensor([1.0, 2.0, 0.5, 3.0])}),
    }[case]
    expected = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t), reduction=reduction, **native_kw)
    if reduction == "none" and case.startswith("multilabel"):
        expected = expected.mean(dim=-1)  # labelkit's l_i: the mean over the C classes
    if reduction == "none" and z.ndim == 2 and z.shape[1] == 1:
        expected = expected[:, 0]  # one loss per element: shape S
    got = lk.cross_entropy(torch.tensor(z), torch.tensor(t), reduction=reduction, **kw)
    assert_close(_np(got), _np(expected))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_binary_smoothing_is_bce_on_smoothed_targets(torch: Any, reduction: str) -> None:
    eps = 0.2
    F = torch.nn.functional
    smoothed = torch.tensor(T_BIN * (1 - eps) + eps / 2)
    expected = F.binary_cross_entropy_with_logits(torch.tensor(Z_BIN), smoothed, reduction=reduction)
    got = lk.binary_crossentropy(torch.tensor(Z_BIN), torch.tensor(T_BIN), label_smoothing=eps, reduction=reduction)
    assert_close(_np(got), _np(expected))


def test_torch_binary_class_weight_sum_is_bce_with_per_element_weights(torch: Any) -> None:
    F = torch.nn.functional
    w0, w1 = 0.3, 2.0
    # torch weights the whole element; labelkit weights each of its two terms: they agree on hard targets.
    expected = F.binary_cross_entropy_with_logits(torch.tensor(Z_BIN), torch.tensor(T_BIN),
                                                  weight=torch.tensor(w0 * (1 - T_BIN) + w1 * T_BIN), reduction="sum")
    got = lk.cross_entropy(torch.tensor(Z_BIN), torch.tensor(T_BIN), class_weight=[w0, w1], reduction="sum")
    assert_close(_np(got), _np(expected))
    # the mean divides by Σ w0 (1 - t) + w1 t (torch's sparse-label convention), not by N
    mean = lk.cross_entropy(torch.tensor(Z_BIN), torch.tensor(T_BIN), class_weight=[w0, w1])
    assert_close(_np(mean), _np(expected) / float((w0 * (1 - T_BIN) + w1 * T_BIN).sum()))


# Departures from torch, pinned.


@pytest.mark.parametrize("options", ["plain", "weight", "smooth"])
def test_torch_all_ignored_mean_is_nan_labelkit_gives_zero(torch: Any, options: str) -> None:
    F = torch.nn.functional
    opts = {k: torch.tensor(v) if k == "weight" else v for k, v in TORCH_OPTIONS[options].items()}
    y = torch.full((N,), -100)
    native = F.cross_entropy(torch.tensor(Z), y, ignore_index=-100, **opts)
    assert math.isnan(native.item())
    ours = lk.cross_entropy(torch.tensor(Z), y, ignore_index=-100, **_lk_kwargs(TORCH_OPTIONS[options]))
    assert ours.item() == 0.0


def test_torch_dense_targets_with_class_weights_divide_by_n_labelkit_by_sum_of_w_t(torch: Any) -> None:
    F = torch.nn.functional
    native = F.cross_entropy(torch.tensor(Z), torch.tensor(ONE_HOT), weight=torch.tensor(W)).item()
    native_sparse = F.cross_entropy(torch.tensor(Z), torch.tensor(IDS), weight=torch.tensor(W)).item()
    ours = lk.cross_entropy(torch.tensor(Z), torch.tensor(ONE_HOT), class_weight=W).item()
    total = float(F.cross_entropy(torch.tensor(Z), torch.tensor(IDS), weight=torch.tensor(W), reduction="sum"))
    assert native == pytest.approx(total / N, rel=1e-5)  # torch: Σ w_y l / N for probability targets
    assert ours == pytest.approx(total / float(W[IDS].sum()), rel=1e-5)  # labelkit: Σ w_y l / Σ w_y
    assert ours == pytest.approx(native_sparse, rel=1e-5)  # ... the same as torch's sparse-label mean
    assert abs(native - ours) > 0.1
    # soft targets: D = Σ_i Σ_c w_c t_ic
    soft = lk.cross_entropy(torch.tensor(Z), torch.tensor(SOFT), class_weight=W).item()
    expected = O.multiclass(Z, SOFT, class_weight=W).value
    assert soft == pytest.approx(float(expected), rel=1e-5)


def test_torch_multilabel_sum_counts_every_class_labelkit_sums_element_means(torch: Any) -> None:
    F = torch.nn.functional
    native = F.binary_cross_entropy_with_logits(torch.tensor(Z_ML), torch.tensor(T_ML), reduction="sum").item()
    ours = lk.cross_entropy(torch.tensor(Z_ML), torch.tensor(T_ML), task="multilabel", reduction="sum").item()
    assert ours == pytest.approx(native / Z_ML.shape[1], rel=1e-5)  # Keras' convention: Σ_i mean_c


def test_torch_cpu_float16_overflows_above_65504_classes_labelkit_does_not(torch: Any) -> None:
    F = torch.nn.functional
    x = torch.zeros((2, 70000), dtype=torch.float16)
    y = torch.tensor([0, 5])
    native = F.cross_entropy(x, y)
    assert native.dtype == torch.float16
    assert math.isinf(native.item())  # the float16 sum of 70000 exp(0) overflows
    ours = lk.cross_entropy(x, y)
    assert ours.dtype == torch.float32
    assert ours.item() == pytest.approx(math.log(70000), rel=1e-6)


# --- TensorFlow and Keras ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf() -> Any:
    return backend_named("tensorflow").module


@pytest.fixture(scope="module")
def keras(tf: Any) -> Any:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    assert keras.backend.backend() == "tensorflow", "these tests compare Keras on its TensorFlow backend"
    return keras


@pytest.mark.parametrize("layout", ["NC", "NTC"])
def test_tf_sparse_softmax_cross_entropy_with_logits(tf: Any, layout: str) -> None:
    logits, ids = (Z, IDS) if layout == "NC" else (Z_SEQ, IDS_SEQ)
    native = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(ids), logits=tf.constant(logits))
    for reduction, expected in (("none", native), ("mean", tf.reduce_mean(native)), ("sum", tf.reduce_sum(native))):
        got = lk.cross_entropy(tf.constant(logits), tf.constant(ids), reduction=reduction)
        assert_close(got.numpy(), expected.numpy(), what=reduction)


@pytest.mark.parametrize("layout", ["NC-one_hot", "NC-probs", "NCHW-axis1"])
def test_tf_softmax_cross_entropy_with_logits(tf: Any, layout: str) -> None:
    if layout == "NCHW-axis1":
        logits, t, axis = Z_NCHW, np.moveaxis(np.eye(C, dtype="float32")[IDS_NHW], -1, 1), 1
    else:
        logits, t, axis = Z, (ONE_HOT if layout == "NC-one_hot" else SOFT), -1
    native = tf.nn.softmax_cross_entropy_with_logits(labels=tf.constant(t), logits=tf.constant(logits), axis=axis)
    got = lk.cross_entropy(tf.constant(logits), tf.constant(t), axis=axis, reduction="none")
    assert_close(got.numpy(), native.numpy())
    assert_close(lk.cross_entropy(tf.constant(logits), tf.constant(t), axis=axis).numpy(),
                 tf.reduce_mean(native).numpy())


KERAS_REDUCTIONS = {"mean": "sum_over_batch_size", "sum": "sum", "none": "none"}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["NC", "column", "NTC", "ignore", "ignore-NTC", "probs-input"])
def test_keras_sparse_categorical_crossentropy(keras: Any, tf: Any, case: str, reduction: str) -> None:
    logits, ids, kw, native_kw = {
        "NC": (Z, IDS, {}, {}),
        "column": (Z, IDS[:, None], {}, {}),
        "NTC": (Z_SEQ, IDS_SEQ, {}, {}),
        "ignore": (Z, np.where(IDS == 2, -1, IDS), {"ignore_index": -1}, {"ignore_class": -1}),
        "ignore-NTC": (Z_SEQ, np.where(IDS_SEQ == 1, -1, IDS_SEQ), {"ignore_index": -1}, {"ignore_class": -1}),
        "probs-input": (np.exp(Z) / np.exp(Z).sum(-1, keepdims=True), IDS, {"from_logits": False}, {}),
    }[case]
    from_logits = kw.get("from_logits", True)
    native = keras.losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, reduction=KERAS_REDUCTIONS[reduction], **native_kw
    )(tf.constant(ids), tf.constant(logits))
    got = lk.sparse_categorical_crossentropy(tf.constant(logits), tf.constant(ids), reduction=reduction, **kw)
    if reduction == "none" and ids.ndim == 2 and ids.shape[1] == 1:
        native = tf.squeeze(native, -1) if native.shape.rank == 2 else native
    assert_close(got.numpy(), native.numpy())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["one_hot", "one_hot-smooth", "probs-smooth", "probs-input", "axis1"])
def test_keras_categorical_crossentropy(keras: Any, tf: Any, case: str, reduction: str) -> None:
    probs_in = np.exp(Z) / np.exp(Z).sum(-1, keepdims=True) * 2.0  # renormalised by both
    one_hot_nchw = np.moveaxis(np.eye(C, dtype="float32")[IDS_NHW], -1, 1)
    logits, t, eps, from_logits, axis = {
        "one_hot": (Z, ONE_HOT, 0.0, True, -1),
        "one_hot-smooth": (Z, ONE_HOT, 0.1, True, -1),
        "probs-smooth": (Z, SOFT, 0.25, True, -1),
        "probs-input": (probs_in.astype("float32"), SOFT, 0.1, False, -1),
        "axis1": (Z_NCHW, one_hot_nchw, 0.0, True, 1),  # with smoothing see test_keras_smoothing_with_axis1_...
    }[case]
    native = keras.losses.CategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=eps, axis=axis, reduction=KERAS_REDUCTIONS[reduction]
    )(tf.constant(t), tf.constant(logits))
    got = lk.categorical_crossentropy(tf.constant(logits), tf.constant(t), from_logits=from_logits,
                                      label_smoothing=eps, axis=axis, reduction=reduction)
    assert_close(got.numpy(), native.numpy())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["(N,1)", "(N,1)-smooth", "(N,1)-soft-smooth", "(N,1)-probs", "multilabel-smooth"])
def test_keras_binary_crossentropy(keras: Any, tf: Any, case: str, reduction: str) -> None:
    z, t, eps, from_logits = {
        "(N,1)": (Z_BIN[:, None], T_BIN[:, None], 0.0, True),
        "(N,1)-smooth": (Z_BIN[:, None], T_BIN[:, None], 0.2, True),
        "(N,1)-soft-smooth": (Z_BIN[:, None], T_SOFT[:, None], 0.1, True),
        "(N,1)-probs": (1 / (1 + np.exp(-Z_BIN[:, None])), T_SOFT[:, None], 0.0, False),
        "multilabel-smooth": (Z_ML, T_ML, 0.1, True),
    }[case]
    native = keras.losses.BinaryCrossentropy(
        from_logits=from_logits, label_smoothing=eps, reduction=KERAS_REDUCTIONS[reduction]
    )(tf.constant(t), tf.constant(z.astype("float32")))
    got = lk.binary_crossentropy(tf.constant(z.astype("float32")), tf.constant(t), from_logits=from_logits,
                                 label_smoothing=eps, reduction=reduction)
    assert_close(got.numpy(), native.numpy())


# Departures from Keras, pinned.


def test_keras_smoothing_with_axis1_divides_by_the_last_dim_labelkit_by_c(keras: Any, tf: Any) -> None:
    """Keras' CategoricalCrossentropy(axis=1, label_smoothing=ε) smooths with ε/shape[-1], not ε/C."""
    eps = 0.1
    t = np.moveaxis(np.eye(C, dtype="float32")[IDS_NHW], -1, 1)  # (N, C, H, W), C = 5, W = 4
    native = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps, axis=1)(
        tf.constant(t), tf.constant(Z_NCHW)
    )
    last_dim = Z_NCHW.shape[-1]
    assert_close(native.numpy(), O.multiclass(Z_NCHW, (1 - eps) * t + eps / last_dim, axis=1).value)
    ours = lk.categorical_crossentropy(tf.constant(Z_NCHW), tf.constant(t), axis=1, label_smoothing=eps)
    assert_close(ours.numpy(), O.multiclass(Z_NCHW, t, axis=1, label_smoothing=eps).value)
    assert abs(float(ours) - float(native)) > 0.01


def test_keras_all_ignored_gives_zero_like_labelkit(keras: Any, tf: Any) -> None:
    ids = tf.constant(np.full(N, -1))
    native = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(ids, tf.constant(Z))
    assert float(native) == 0.0
    assert float(lk.cross_entropy(tf.constant(Z), ids, ignore_index=-1)) == 0.0


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_keras_bce_on_rank1_logits_gives_the_batch_mean_labelkit_one_loss_per_element(
    keras: Any, tf: Any, reduction: str
) -> None:
    z, t = tf.constant(Z_BIN), tf.constant(T_BIN)
    native = keras.losses.BinaryCrossentropy(from_logits=True, reduction=reduction)(t, z)
    per_element = O.binary(Z_BIN, T_BIN, reduction="none").value
    assert native.shape == ()
    assert_close(native.numpy(), per_element.mean())  # Keras averages the last axis: the batch
    ours = lk.binary_crossentropy(z, t, reduction=reduction)
    assert_close(ours.numpy(), per_element.sum() if reduction == "sum" else per_element)


def test_keras_truncates_fractional_ids_labelkit_refuses_them(keras: Any, tf: Any) -> None:
    ids = np.array([2.7, 0, 1, 4, 0, 1, 2, 3], "float32")
    native = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(
        tf.constant(ids), tf.constant(Z)
    )
    as_two = O.sparse(Z[:1], np.array([2]), reduction="none").value[0]
    assert_close(native.numpy()[0], as_two)  # 2.7 read as class 2
    with pytest.raises(lk.LabelValueError, match=r"labels\[0\] is 2\.7, which is not a whole number"):
        lk.sparse_categorical_crossentropy(tf.constant(Z), tf.constant(ids))
    unchecked = lk.sparse_categorical_crossentropy(tf.constant(Z), tf.constant(ids), reduction="none",
                                                   check_values=False)
    assert math.isnan(float(unchecked[0]))
    assert_close(unchecked.numpy()[1:], native.numpy()[1:])


# --- JAX and optax -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def optax() -> Any:
    backend_named("jax")
    try:
        import optax
    except ImportError as exc:  # optax comes with labelkit[jax]
        pytest.fail(f"optax is needed for the JAX parity tests: {exc!r}", pytrace=False)
    return optax


@pytest.mark.parametrize("layout", ["NC", "NTC", "column"])
def test_optax_softmax_cross_entropy_with_integer_labels(optax: Any, layout: str) -> None:
    import jax.numpy as jnp

    logits, ids = {"NC": (Z, IDS), "NTC": (Z_SEQ, IDS_SEQ), "column": (Z, IDS[:, None])}[layout]
    flat_ids = jnp.asarray(ids.reshape(logits.shape[:-1]))  # optax takes ids of the batch shape only
    native = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(logits), flat_ids)
    got = lk.cross_entropy(jnp.asarray(logits), jnp.asarray(ids), reduction="none")
    assert_close(np.asarray(got), np.asarray(native))
    assert_close(np.asarray(lk.cross_entropy(jnp.asarray(logits), jnp.asarray(ids))), np.asarray(jnp.mean(native)))


@pytest.mark.parametrize("case", ["one_hot", "probs", "one_hot-smooth", "probs-smooth"])
def test_optax_softmax_cross_entropy(optax: Any, case: str) -> None:
    import jax.numpy as jnp

    t = ONE_HOT if case.startswith("one_hot") else SOFT
    eps = 0.2 if case.endswith("smooth") else 0.0
    native = optax.softmax_cross_entropy(jnp.asarray(Z), optax.smooth_labels(jnp.asarray(t), eps))
    got = lk.cross_entropy(jnp.asarray(Z), jnp.asarray(t), label_smoothing=eps, reduction="none")
    assert_close(np.asarray(got), np.asarray(native))
    if case == "one_hot-smooth":  # sparse ids with smoothing: the same as their one-hot
        got_ids = lk.cross_entropy(jnp.asarray(Z), jnp.asarray(IDS), label_smoothing=eps, reduction="none")
        assert_close(np.asarray(got_ids), np.asarray(native))


@pytest.mark.parametrize("case", ["binary", "binary-soft", "multilabel"])
def test_optax_sigmoid_binary_cross_entropy(optax: Any, case: str) -> None:
    import jax.numpy as jnp

    z, t, kw = {"binary": (Z_BIN, T_BIN, {}), "binary-soft": (Z_BIN, T_SOFT, {}),
                "multilabel": (Z_ML, T_ML, {"task": "multilabel"})}[case]
    native = optax.sigmoid_binary_cross_entropy(jnp.asarray(z), jnp.asarray(t))
    got = lk.cross_entropy(jnp.asarray(z), jnp.asarray(t), reduction="none", **kw)
    expected = native.mean(axis=-1) if case == "multilabel" else native
    assert_close(np.asarray(got), np.asarray(expected))
    assert_close(np.asarray(lk.cross_entropy(jnp.asarray(z), jnp.asarray(t), **kw)), np.asarray(native.mean()))


# Departures from optax, pinned.


def test_optax_wraps_minus_one_to_the_last_class_labelkit_never_does(optax: Any) -> None:
    import jax
    import jax.numpy as jnp

    ids = np.array([-1, 0, 1, 2, 3, 4, 0, 1])
    native = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(Z), jnp.asarray(ids))
    last = O.sparse(Z[:1], np.array([C - 1]), reduction="none").value[0]
    assert_close(np.asarray(native)[0], last)  # -1 read as class C-1, silently
    with pytest.raises(lk.LabelValueError, match=r"labels\[0\] is -1, .*never wrapped around"):
        lk.cross_entropy(jnp.asarray(Z), jnp.asarray(ids))
    unchecked = lk.cross_entropy(jnp.asarray(Z), jnp.asarray(ids), reduction="none", check_values=False)
    traced = jax.jit(lambda z, y: lk.cross_entropy(z, y, reduction="none"))(jnp.asarray(Z), jnp.asarray(ids))
    for out in (unchecked, traced):
        assert math.isnan(float(out[0]))
        assert_close(np.asarray(out)[1:], np.asarray(native)[1:])


def test_optax_float16_overflows_above_65504_classes_labelkit_does_not(optax: Any) -> None:
    import jax.numpy as jnp

    x = jnp.zeros((2, 70000), jnp.float16)
    y = jnp.asarray([0, 5])
    native = optax.softmax_cross_entropy_with_integer_labels(x, y)
    assert np.isinf(np.asarray(native)).all()
    ours = lk.cross_entropy(x, y)
    assert ours.dtype == jnp.float32
    assert float(ours) == pytest.approx(math.log(70000), rel=1e-6)
