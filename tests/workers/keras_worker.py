"""Checks of ``labelkit.keras.CrossEntropy`` on the Keras backend named by ``KERAS_BACKEND``.

Run by ``tests/test_keras.py`` in a fresh process per backend (Keras picks its backend once per
process). Prints ``RESULT <json>``: the largest differences from Keras' own losses, the training
histories, and what came back from ``model.save``/``load_model``. Imports nothing heavy at module level
(pytest's doctest collection imports this file).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

N, D, C = 64, 16, 1000


def _diff(a: Any, b: Any) -> float:
    """The largest difference, relative to the magnitude of ``b`` when that exceeds 1."""
    import keras
    import numpy as np

    a = np.asarray(keras.ops.convert_to_numpy(a), dtype="float64")
    b = np.asarray(keras.ops.convert_to_numpy(b), dtype="float64")
    if a.shape != b.shape:
        return float("inf")
    if not a.size:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))  # relative to the loss's size


def _model(seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((D,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(C)])


def _fit_pair(model: Any, loss_a: Any, loss_b: Any, x: Any, y: Any, epochs: int = 3,
              **fit_kw: Any) -> tuple[list[float], list[float]]:
    """Trains ``model`` from the same weights once per loss; returns both loss histories."""
    import keras

    start = model.get_weights()
    histories = []
    for loss in (loss_a, loss_b):
        model.set_weights(start)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        h = model.fit(x, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0, **fit_kw)
        histories.append([float(v) for v in h.history["loss"]])
    model.set_weights(start)
    return histories[0], histories[1]


def main() -> None:
    import keras
    import numpy as np

    import labelkit
    from labelkit.keras import CrossEntropy

    out: dict[str, Any] = {"backend": keras.backend.backend()}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    y = rng.integers(0, C, size=(N, 1))  # the (None, 1) labels of the headline
    sw = rng.uniform(0.1, 2.0, size=(N,)).astype("float32")
    # Enough ignored labels, unevenly spread, that dividing by N instead of the valid count shows.
    y_ign = y.copy()
    y_ign[rng.uniform(size=N) < 0.4] = -1
    scce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # 1. Dense(1000) logits fitted on (N, 1) labels: trains, and matches Keras' own loss step by step.
    model = _model(0)
    ours, theirs = _fit_pair(model, CrossEntropy(), scce, x, y)
    out["fit"] = {"labelkit": ours, "keras": theirs}
    ignore_class = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    ours_i, theirs_i = _fit_pair(
        model, CrossEntropy(ignore_index=-1), ignore_class, x, y_ign, epochs=2, sample_weight=sw
    )
    out["fit_ignore_sample_weight"] = {"labelkit": ours_i, "keras": theirs_i}

    logits = model.predict(x, verbose=0)
    y_flat = y[:, 0]
    onehot = np.eye(C, dtype="float32")[y_flat]
    diffs: dict[str, float] = {}
    # 2. Any label format, equal to the Keras loss that fits it.
    diffs["column_vs_scce"] = _diff(CrossEntropy()(y, logits), scce(y, logits))
    diffs["flat_vs_scce"] = _diff(CrossEntropy()(y_flat, logits), scce(y_flat, logits))
    cce = keras.losses.CategoricalCrossentropy(from_logits=True)
    diffs["onehot_vs_cce"] = _diff(CrossEntropy()(onehot, logits), cce(onehot, logits))
    probs = rng.dirichlet(np.ones(C), size=N).astype("float32")
    diffs["probs_vs_cce"] = _diff(CrossEntropy()(probs, logits), cce(probs, logits))
    softmax = keras.ops.softmax(keras.ops.convert_to_tensor(logits), axis=-1)
    diffs["from_probs_vs_scce"] = _diff(
        CrossEntropy(from_logits=False)(y, softmax), keras.losses.SparseCategoricalCrossentropy()(y, softmax)
    )
    # 3. sample_weight, every reduction.
    for red in ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"):
        ref = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=red)
        diffs[f"sample_weight_{red}"] = _diff(
            CrossEntropy(reduction=red)(y, logits, sample_weight=sw), ref(y, logits, sample_weight=sw)
        )
    # 4. ignore_index against ignore_class, with and without sample weights, every reduction.
    for red in ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"):
        ref = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, reduction=red)
        ours_loss = CrossEntropy(ignore_index=-1, reduction=red)
        diffs[f"ignore_{red}"] = _diff(ours_loss(y_ign, logits), ref(y_ign, logits))
        diffs[f"ignore_sample_weight_{red}"] = _diff(
            ours_loss(y_ign, logits, sample_weight=sw), ref(y_ign, logits, sample_weight=sw)
        )
    valid = y_ign[:, 0] != -1
    per = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(y, logits)
    per = np.asarray(keras.ops.convert_to_numpy(per), dtype="float64")
    expected = float(np.sum(per[valid] * sw[valid]) / valid.sum())  # Σ s_i l_i / (valid count)
    diffs["ignore_mean_is_over_valid_count"] = abs(
        float(keras.ops.convert_to_numpy(CrossEntropy(ignore_index=-1)(y_ign, logits, sample_weight=sw))) - expected
    )
    all_ignored = float(keras.ops.convert_to_numpy(CrossEntropy(ignore_index=-1)(np.full((N, 1), -1), logits)))
    diffs["all_ignored_is_zero"] = abs(all_ignored)
    # 5. Label smoothing (Keras has it for dense labels) and class weights (like fit's class_weight).
    cce_s = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    diffs["smoothing_onehot_vs_cce"] = _diff(CrossEntropy(label_smoothing=0.1)(onehot, logits), cce_s(onehot, logits))
    diffs["smoothing_sparse_vs_cce"] = _diff(CrossEntropy(label_smoothing=0.1)(y, logits), cce_s(onehot, logits))
    w = rng.uniform(0.5, 2.0, size=C).astype("float32")
    diffs["class_weight_vs_sample_weight"] = _diff(
        CrossEntropy(class_weight=w)(y, logits), scce(y, logits, sample_weight=w[y_flat])
    )
    # 6. Binary: Dense(1) logits with (N, 1) 0/1 targets.
    zb = rng.normal(size=(N, 1)).astype("float32")
    tb = rng.integers(0, 2, size=(N, 1)).astype("float32")
    diffs["binary_vs_bce"] = _diff(CrossEntropy()(tb, zb), keras.losses.BinaryCrossentropy(from_logits=True)(tb, zb))
    out["diffs"] = diffs
    out["loss_type"] = type(CrossEntropy()(y, logits)).__module__.partition(".")[0]
    out["backend_of_loss"] = labelkit.backend_of(CrossEntropy()(y, logits))

    # 7. Errors: bad arguments at construction, and a label shape that does not fit, in labelkit's words.
    errors = {}
    for key, make in {
        "label_smoothing": lambda: CrossEntropy(label_smoothing=2),
        "class_weight": lambda: CrossEntropy(class_weight=[[1.0, 2.0]]),
        "task": lambda: CrossEntropy(task="softmax"),
        "shape": lambda: CrossEntropy()(np.zeros((4, 2), "int64"), np.zeros((4, 3), "float32")),
    }.items():
        try:
            make()
            errors[key] = "no error"
        except Exception as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
    out["errors"] = errors

    # 8. get_config/from_config, serialize/deserialize, model.save + load_model.
    loss = CrossEntropy(label_smoothing=0.05, class_weight=w[:C].tolist(), ignore_index=-1, check_values=True,
                        name="lk_ce")
    config = loss.get_config()
    again = CrossEntropy.from_config(config)
    out["config_roundtrip"] = again.get_config() == config
    out["config_check_values"] = config.get("check_values")
    out["config_json"] = json.loads(json.dumps(config)) == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    out["deserialize_type"] = type(restored).__name__
    out["deserialize_config"] = restored.get_config() == config
    model.compile(optimizer="sgd", loss=loss)
    before = float(model.evaluate(x, y_ign, verbose=0))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
    out["loaded_loss_type"] = f"{type(loaded.loss).__module__}.{type(loaded.loss).__name__}"
    out["loaded_config"] = loaded.loss.get_config() == config
    out["evaluate_before_after"] = [before, float(loaded.evaluate(x, y_ign, verbose=0))]
    # Logits that merely look like probabilities (hand-written one-hot-like rows; a batch of one) are
    # logits: the loss equals Keras' own on every backend (the JAX softmax test must not take them).
    one_hot_like = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]], "float32")
    near_softmax_one_row = np.array([[0.1, 0.2, 0.3, 0.4]], "float32")
    out["logits_that_look_like_probs"] = {
        "one_hot_like": [float(CrossEntropy()(np.array([0, 1]), one_hot_like)),
                         float(scce(np.array([0, 1]), one_hot_like))],
        "one_row": [float(CrossEntropy()(np.array([3]), near_softmax_one_row)),
                    float(scce(np.array([3]), near_softmax_one_row))],
    }
    # Integer ids reach labelkit as integers: Keras casts y_true to float32, where 2**24 + 1 rounds to
    # 2**24 (another class). Logits (1, 2**24 + 2), the last class ahead by 5.
    big = 2**24 + 2
    z_big = np.zeros((1, big), "float32")
    z_big[0, big - 1] = 5.0
    out["id_above_2_24"] = float(CrossEntropy()(np.array([big - 1]), z_big))
    del z_big
    out["inside_fit"] = inside_fit()
    out["training_program"] = training_program()
    print("RESULT " + json.dumps(out))


def training_program() -> dict[str, Any] | None:
    """A real training program on scikit-learn's digits (bundled, nothing downloaded): Keras' own loss
    and labelkit's from the same seed and data, labels shaped ``(N, 1)`` as datasets yield them. Read
    by ``tests/test_training_programs.py``; ``None`` without scikit-learn."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        return None
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    from labelkit.keras import CrossEntropy

    digits = load_digits()
    x = (digits.data[:640] / 16.0).astype("float32")
    y = digits.target[:640].reshape(-1, 1)

    def curve(loss: Any, activation: Any = None) -> tuple[list[float], float]:
        keras.utils.set_random_seed(0)
        hidden = keras.layers.Dense(32, activation="relu")
        model = keras.Sequential([keras.Input((64,)), hidden, keras.layers.Dense(10, activation=activation)])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
        h = model.fit(x, y, epochs=5, batch_size=64, shuffle=False, verbose=0)
        accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y[:, 0]))
        return [float(v) for v in h.history["loss"]], accuracy

    native, native_accuracy = curve(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours, accuracy = curve(CrossEntropy())
    native_softmax, _ = curve(keras.losses.SparseCategoricalCrossentropy(), "softmax")
    ours_softmax, _ = curve(CrossEntropy(from_logits=False), "softmax")
    return {"native": native, "labelkit": ours, "native_accuracy": native_accuracy, "accuracy": accuracy,
            "native_softmax": native_softmax, "labelkit_softmax": ours_softmax}


# --- Inside the training loop: the paths users take -------------------------------------------------

FN, FD, FC, FB = 48, 8, 5, 16  # examples, features, classes, batch size (3 batches an epoch)


def _outcome(run: Any) -> dict[str, Any]:
    """What ``run()`` did: its result, or the error (type and message), and labelkit's warnings."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: dict[str, Any] = {"result": run()}
        except Exception as exc:  # the outcome is what is recorded: any exception, by its type
            result = {"error": type(exc).__name__, "message": str(exc)[-2000:]}
    result["warnings"] = [str(w.message) for w in caught if "labelkit" in str(w.message)]
    return result


def _small(seed: int = 0, activation: Any = None, dtype: Any = None) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((FD,)), keras.layers.Dense(12, activation="relu"), keras.layers.Dense(FC, activation=activation,
                                                                                             dtype=dtype)]
    )


def _history(model: Any, loss: Any, x: Any, y: Any = None, epochs: int = 2, **compile_kw: Any) -> list[float]:
    import keras

    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, **compile_kw)
    kw = {} if y is None else {"batch_size": FB}
    h = model.fit(x, y, epochs=epochs, shuffle=False, verbose=0, **kw)
    return [float(v) for v in h.history["loss"]]


def _generator_dataset(x: Any, y: Any, label_spec: Any) -> Any:
    """``tf.data.Dataset.from_generator`` yielding batches, with the labels' ``TensorSpec`` as given."""
    import tensorflow as tf

    def batches() -> Any:
        for i in range(0, len(x), FB):
            yield x[i : i + FB], y[i : i + FB]

    return tf.data.Dataset.from_generator(
        batches, output_signature=(tf.TensorSpec((None, FD), tf.float32), label_spec)
    )


def inside_fit() -> dict[str, Any]:
    """``CrossEntropy`` in ``fit``/``evaluate``/``predict``: bad labels, softmax outputs, ``tf.data``
    (static and unknown label shapes), mixed precision. Outcomes, histories and differences."""
    import keras
    import numpy as np
    import tensorflow as tf

    from labelkit.keras import CrossEntropy

    res: dict[str, Any] = {}
    rng = np.random.default_rng(1)
    x = rng.normal(size=(FN, FD)).astype("float32")
    y = rng.integers(0, FC, size=(FN, 1)).astype("int64")
    y_bad = y.copy()
    y_bad[20] = FC + 2  # in the second batch: the first step trains, the second must stop
    multi_hot = rng.integers(0, 2, size=(FN, FC)).astype("float32")
    multi_hot[:, 0] = 1 - multi_hot[:, 1]  # every row has at least one 1
    multi_hot[np.arange(FN) % 3 == 0, 2:] = 1  # and a third of them several: not one-hot rows

    # Bad labels in fit: an error where the backend can raise, a NaN loss under JAX's jit.
    res["bad_id"] = _outcome(lambda: _history(_small(), CrossEntropy(), x, y_bad))
    res["bad_id_unchecked"] = _outcome(lambda: _history(_small(), CrossEntropy(check_values=False), x, y_bad))
    res["multi_hot_auto"] = _outcome(lambda: _history(_small(), CrossEntropy(), x, multi_hot))
    res["multi_hot_multilabel"] = _outcome(lambda: _history(_small(), CrossEntropy(task="multilabel"), x, multi_hot))
    if keras.backend.backend() == "tensorflow":  # XLA drops in-graph asserts: NaN, as documented
        res["bad_id_xla"] = _outcome(lambda: _history(_small(), CrossEntropy(), x, y_bad, jit_compile=True))
        res["multi_hot_xla"] = _outcome(lambda: _history(_small(), CrossEntropy(), x, multi_hot, jit_compile=True))
        res["bad_id_forced_eager"] = _outcome(
            lambda: _history(_small(), CrossEntropy(check_values=True), x, y_bad, run_eagerly=True)
        )

    if keras.backend.backend() == "torch":  # torch.compile (Keras' jit_compile=True) skips checks: NaN
        import torch

        loss = CrossEntropy()
        compiled = torch.compile(lambda labels, logits: loss(labels, logits))
        z = torch.from_numpy(rng.normal(size=(FB, FC)).astype("float32"))
        res["multi_hot_compiled"] = float(compiled(torch.from_numpy(multi_hot[:FB]), z))
        ids = torch.from_numpy(y[:FB].astype("float32"))  # as Keras hands them over: floats
        res["ids_compiled"] = [float(compiled(ids, z)), float(loss(ids, z))]

    # Softmax outputs: the logits behind Keras' softmax, never a double softmax.
    reference = _history(_small(), CrossEntropy(), x, y)
    res["logits_model"] = reference
    res["softmax_model"] = _outcome(lambda: _history(_small(activation="softmax"), CrossEntropy(), x, y))
    res["softmax_model_from_probs"] = _outcome(
        lambda: _history(_small(activation="softmax"), CrossEntropy(from_logits=False), x, y)
    )
    res["softmax_model_unchecked"] = _outcome(
        lambda: _history(_small(activation="softmax"), CrossEntropy(check_values=False), x, y)
    )
    scce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    res["native_logits_model"] = _history(_small(), scce, x, y)
    res["native_softmax_model"] = _history(_small(activation="softmax"), scce, x, y)  # for the README only
    res["native_bad_id"] = _outcome(lambda: _history(_small(), scce, x, y_bad))  # for the README only

    # tf.data: static shapes, unknown batch, unknown label width (from_generator, as datasets yield them).
    model = _small()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=CrossEntropy())
    start = model.get_weights()
    eager = float(model.evaluate(x, y, batch_size=FB, verbose=0))
    res["evaluate_arrays"] = eager
    static = tf.data.Dataset.from_tensor_slices((x, y)).batch(FB)
    res["evaluate_static_dataset"] = float(model.evaluate(static, verbose=0))
    unknown_batch = _generator_dataset(x, y, tf.TensorSpec((None, 1), tf.int64))
    res["evaluate_unknown_batch"] = float(model.evaluate(unknown_batch, verbose=0))
    unknown_width = _generator_dataset(x, y, tf.TensorSpec((None, None), tf.int64))
    res["evaluate_unknown_width"] = _outcome(lambda: float(model.evaluate(unknown_width, verbose=0)))
    onehot = np.eye(FC, dtype="float32")[y[:, 0]]
    rows_unknown = _generator_dataset(x, onehot, tf.TensorSpec((None, None), tf.float32))
    res["evaluate_rows_unknown_width"] = _outcome(lambda: float(model.evaluate(rows_unknown, verbose=0)))
    res["fit_static_dataset"] = _history(_small(), CrossEntropy(), static)
    res["fit_unknown_width"] = _outcome(lambda: _history(_small(), CrossEntropy(), unknown_width))
    if keras.backend.backend() == "tensorflow":
        res["fit_unknown_width_xla"] = _outcome(
            lambda: _history(_small(), CrossEntropy(), unknown_width, jit_compile=True)
        )
        res["softmax_model_xla"] = _outcome(
            lambda: _history(_small(activation="softmax"), CrossEntropy(), x, y, jit_compile=True)
        )
    model.set_weights(start)
    res["predict_diff"] = _diff(model.predict(static, verbose=0), model.predict(x, batch_size=FB, verbose=0))

    # Mixed precision: float16 logits, a float32 loss; the softmax output's logits survive Keras' cast.
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        res["mixed_labelkit"] = _history(_small(), CrossEntropy(), x, y)
        res["mixed_native"] = _history(_small(), scce, x, y)
        res["mixed_softmax_model"] = _outcome(lambda: _history(_small(activation="softmax"), CrossEntropy(), x, y))
        res["mixed_dataset_unknown_width"] = _outcome(lambda: _history(_small(), CrossEntropy(), unknown_width))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return res


if __name__ == "__main__":
    sys.exit(main())
