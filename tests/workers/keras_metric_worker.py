"""Checks of ``lk.accuracy`` and ``labelkit.keras.Accuracy`` on the Keras backend named by ``KERAS_BACKEND``.

Run by ``tests/test_accuracy.py`` in a fresh process per backend (Keras picks its backend once per
process). Prints ``RESULT <json>``: the largest differences from Keras' own accuracy metrics, Keras'
``CategoricalAccuracy`` on ``(N, 1)`` ids (the trap), a ``fit``/``evaluate`` with the metric, its
serialisation, its errors, and (TensorFlow) a ``MirroredStrategy`` evaluation over two logical CPUs.
Imports nothing heavy at module level (pytest's doctest collection imports this file).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

N, D, C = 64, 8, 10


def _num(x: Any) -> float:
    import keras
    import numpy as np

    return float(np.asarray(keras.ops.convert_to_numpy(x), dtype="float64"))


def _stateful(metric: Any, batches: list[tuple[Any, ...]]) -> float:
    """The metric's result after one ``update_state`` per batch (labels, predictions[, sample weights])."""
    metric.reset_state()
    for batch in batches:
        metric.update_state(*batch)
    return _num(metric.result())


def _halves(*arrays: Any) -> list[tuple[Any, ...]]:
    """Two uneven batches of the same arrays (so that a mean of batch means would differ)."""
    return [tuple(a[:24] for a in arrays), tuple(a[24:] for a in arrays)]


def _compare(out: dict[str, float], key: str, ours: Any, theirs: Any) -> None:
    out[key] = abs(_num(ours) - _num(theirs)) if not isinstance(ours, float) else abs(ours - theirs)


def _distributed(lk: Any, Accuracy: Any, x: Any, y_ign: Any) -> dict[str, Any]:
    import keras
    import numpy as np
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(C)])
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
                      metrics=[Accuracy(ignore_index=-1)])
    got = model.evaluate(x, y_ign, batch_size=N, verbose=0, return_dict=True)["accuracy"]
    pred = model.predict(x, verbose=0)
    half = N // 2
    fractions = [float(lk.accuracy(pred[s], y_ign[s], ignore_index=-1)) for s in (slice(0, half), slice(half, N))]
    return {
        "replicas": strategy.num_replicas_in_sync,
        "metric": float(got),
        "global": float(lk.accuracy(pred, y_ign, ignore_index=-1)),
        "mean_of_replica_fractions": float(np.mean(fractions)),
    }


def main() -> None:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    import labelkit as lk
    from labelkit.keras import Accuracy

    out: dict[str, Any] = {"backend": keras.backend.backend()}
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(N, C)).astype("float32")
    y = rng.integers(0, C, size=(N, 1))
    y_flat = y[:, 0]
    onehot = np.eye(C, dtype="float32")[y_flat]
    sw = rng.uniform(0.1, 2.0, size=(N,)).astype("float32")
    zb = rng.normal(size=(N, 1)).astype("float32")
    tb = rng.integers(0, 2, size=(N, 1)).astype("float32")
    multi = (rng.uniform(size=(N, C)) < 0.3).astype("float32")
    probs_b = 1.0 / (1.0 + np.exp(-zb))
    probs_m = 1.0 / (1.0 + np.exp(-logits))

    diffs: dict[str, float] = {}
    km = keras.metrics
    # The function, against Keras' metric over the whole batch.
    cases = {
        "sparse_column": (lk.accuracy(logits, y), km.SparseCategoricalAccuracy()(y, logits)),
        "sparse_flat": (lk.accuracy(logits, y_flat), km.SparseCategoricalAccuracy()(y_flat, logits)),
        "sparse_top3": (lk.accuracy(logits, y, top_k=3), km.SparseTopKCategoricalAccuracy(k=3)(y_flat, logits)),
        "categorical": (lk.accuracy(logits, onehot), km.CategoricalAccuracy()(onehot, logits)),
        "categorical_top3": (lk.accuracy(logits, onehot, top_k=3), km.TopKCategoricalAccuracy(k=3)(onehot, logits)),
        "binary_logits": (lk.accuracy(zb, tb), km.BinaryAccuracy()(tb, probs_b)),
        "binary_probs": (lk.accuracy(probs_b, tb, from_logits=False, threshold=0.7),
                         km.BinaryAccuracy(threshold=0.7)(tb, probs_b)),
        "multilabel": (lk.accuracy(logits, multi, task="multilabel"), km.BinaryAccuracy()(multi, probs_m)),
    }
    for key, (ours, theirs) in cases.items():
        _compare(diffs, f"lk.accuracy_{key}", ours, theirs)
    # The stateful metric over two uneven batches, against Keras' metric updated the same way.
    stateful = {  # (ours, Keras', our arrays, Keras' arrays)
        "sparse_column": (Accuracy(), km.SparseCategoricalAccuracy(), (y, logits), (y, logits)),
        "sparse_top3": (Accuracy(top_k=3), km.SparseTopKCategoricalAccuracy(k=3), (y, logits), (y_flat, logits)),
        "categorical": (Accuracy(), km.CategoricalAccuracy(), (onehot, logits), (onehot, logits)),
        "binary_probs": (Accuracy(from_logits=False), km.BinaryAccuracy(), (tb, probs_b), (tb, probs_b)),
        "multilabel": (Accuracy(task="multilabel", from_logits=True), km.BinaryAccuracy(), (multi, logits),
                       (multi, probs_m)),
        "binary_logits": (Accuracy(from_logits=True), km.BinaryAccuracy(), (tb, zb), (tb, probs_b)),
        "sample_weight": (Accuracy(), km.SparseCategoricalAccuracy(), (y, logits, sw), (y, logits, sw)),
    }
    for key, (ours, theirs, mine, their) in stateful.items():
        _compare(diffs, f"Accuracy_{key}", _stateful(ours, _halves(*mine)), _stateful(theirs, _halves(*their)))
    out["diffs"] = diffs

    # fit / evaluate: a learnable task, (N, 1) labels, the metric in compile.
    w_true = rng.normal(size=(D, C)).astype("float32")
    x = rng.normal(size=(N, D)).astype("float32")
    y_fit = (x @ w_true).argmax(-1)[:, None]
    y_ign = y_fit.copy()
    y_ign[:20] = np.where(rng.uniform(size=(20, 1)) < 0.8, -1, y_ign[:20])  # unevenly spread
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(C)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss, metrics=[Accuracy()],
                  weighted_metrics=[Accuracy(name="weighted_accuracy")])
    hist = model.fit(x, y_fit, epochs=8, batch_size=16, verbose=0, shuffle=False)
    pred = model.predict(x, verbose=0)
    fit: dict[str, Any] = {
        "metric_first": hist.history["accuracy"][0],
        "metric_last": hist.history["accuracy"][-1],
        "evaluate": model.evaluate(x, y_fit, batch_size=16, verbose=0, return_dict=True)["accuracy"],
        "direct": float(lk.accuracy(pred, y_fit)),
    }
    per = np.asarray(lk.accuracy(pred, y_fit, reduction="none"), dtype="float64")
    fit["sample_weight"] = model.evaluate(x, y_fit, sample_weight=sw, batch_size=16, verbose=0,
                                          return_dict=True)["weighted_accuracy"]
    fit["direct_sample_weight"] = float(np.sum(per * sw) / np.sum(sw))
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
                  metrics=[Accuracy(ignore_index=-1, name="acc_ignore")])
    fit["evaluate_ignore"] = model.evaluate(x, y_ign, batch_size=16, verbose=0, return_dict=True)["acc_ignore"]
    fit["direct_ignore"] = float(lk.accuracy(pred, y_ign, ignore_index=-1))
    out["fit"] = fit
    # The trap, on the trained model: Keras' CategoricalAccuracy given (N, 1) ids takes the argmax over one
    # column (always 0), so it reports the share of predictions of class 0, about 1/C.
    y_col = y_fit.astype("float32")
    out["trap"] = {
        "keras_categorical_accuracy": _num(km.CategoricalAccuracy()(y_col, pred)),
        "right": float(np.mean(pred.argmax(-1) == y_fit[:, 0])),
        "labelkit": _stateful(Accuracy(), [(y_col, pred)]),
    }

    # A sigmoid output: its logits are read where Keras attaches them (TensorFlow, PyTorch); JAX arrays carry
    # none, so there from_logits must be given: the default refuses a binary task instead of scoring the
    # probabilities as logits (every prediction positive); from_logits=False matches BinaryAccuracy everywhere.
    yb = (x[:, 0] > 0).astype("float32")[:, None]
    keras.utils.set_random_seed(2)
    sigmoid = keras.Sequential([keras.Input((D,)), keras.layers.Dense(1, activation="sigmoid")])
    sigmoid.compile(loss="binary_crossentropy", metrics=[
        Accuracy(from_logits=True, name="lk_logits"), Accuracy(from_logits=False, name="lk_probs"),
        km.BinaryAccuracy(name="keras")])
    fit["sigmoid"] = sigmoid.evaluate(x, yb, batch_size=16, verbose=0, return_dict=True)
    fit["sigmoid"]["all_positive"] = float(np.mean(yb))  # what probabilities read as logits score
    sigmoid.compile(loss="binary_crossentropy", metrics=[Accuracy(name="lk_default")])
    try:
        fit["sigmoid"]["lk_default"] = sigmoid.evaluate(x, yb, batch_size=16, verbose=0, return_dict=True)["lk_default"]
    except Exception as exc:
        fit["sigmoid"]["lk_default"] = f"{type(exc).__name__}: {exc}"
    # A Dense(1) without activation: logits, scored right with from_logits=True on every backend.
    linear = keras.Sequential([keras.Input((D,)), keras.layers.Dense(1)])
    linear.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=[
        Accuracy(from_logits=True, name="lk_logits"), km.BinaryAccuracy(threshold=0.0, name="keras_at_0")])
    fit["linear"] = linear.evaluate(x, yb, batch_size=16, verbose=0, return_dict=True)
    # Serialisation: config, serialize/deserialize, model.save + load_model.
    metric = Accuracy(task="multiclass", top_k=2, ignore_index=-1, threshold=0.3, name="lk_acc")
    config = metric.get_config()
    ser: dict[str, Any] = {
        "config_roundtrip": Accuracy.from_config(config).get_config() == config,
        "config_json": json.loads(json.dumps(config)) == config,
    }
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    ser["deserialize_type"] = type(restored).__name__
    ignoring = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    model.compile(optimizer="sgd", loss=ignoring, metrics=[metric])
    before = model.evaluate(x, y_ign, verbose=0, return_dict=True)["lk_acc"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
    after = loaded.evaluate(x, y_ign, verbose=0, return_dict=True)["lk_acc"]
    ser["evaluate_before_after"] = [before, after]
    ser["direct"] = float(lk.accuracy(pred, y_ign, top_k=2, ignore_index=-1))
    metrics = loaded.get_compile_config()["metrics"]
    ser["loaded_metric_types"] = [
        f"{type(m).__module__}.{type(m).__name__}" for m in (keras.metrics.deserialize(c) for c in metrics)
    ]
    out["serialise"] = ser

    errors = {}
    for key, make in {
        "top_k": lambda: Accuracy(top_k=0),
        "shape": lambda: Accuracy().update_state(np.zeros((4, 2), "int64"), np.zeros((4, 3), "float32")),
        "binary_default": lambda: Accuracy().update_state(tb, probs_b),
        "multilabel_default": lambda: Accuracy(task="multilabel").update_state(multi, probs_m),
        "multiclass_default": lambda: Accuracy().update_state(y, probs_m),
    }.items():
        try:
            make()
            errors[key] = "no error"
        except Exception as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
    out["errors"] = errors

    if backend == "tensorflow":
        y_dist = y_fit.copy()
        y_dist[: N // 2 - 4] = -1  # replica 0 keeps 4 labelled elements of 32, replica 1 all 32
        out["distributed"] = _distributed(lk, Accuracy, x, y_dist)
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
