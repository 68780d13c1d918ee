"""``tf.distribute.MirroredStrategy`` over two logical CPUs, custom training loop, vs one device.

Run by ``tests/test_distributed.py`` in a fresh process (logical devices must be configured before
TensorFlow initialises). The recipe under test, per replica::

    local_sum = lk.cross_entropy(logits, y, ignore_index=-1, reduction="sum")
    count = ctx.all_reduce("sum", lk.count_valid(logits, y, ignore_index=-1))
    loss = tf.math.divide_no_nan(local_sum, count)   # this replica's share of the global mean

and ``optimizer.apply_gradients`` sums the replicas' gradients. Then ``model.fit`` and ``evaluate`` with
``labelkit.keras.CrossEntropy(ignore_index=-1)`` under the strategy, where Keras averages per-replica
means unless the loss makes its share the global mean (with the argument ``keras``, that part only,
for ``tests/test_keras.py``). Prints ``RESULT <json>`` with the largest
differences from one device on the same global batch.
"""

from __future__ import annotations

import json
import sys
from typing import Any

N, D, C = 16, 4, 5
SCENARIOS = {
    "ignore": {"ignore_index": -1},
    "ignore_weight_smoothing": {"ignore_index": -1, "class_weight": [1.0, 2.0, 0.5, 1.5, 1.0], "label_smoothing": 0.1},
}


def main() -> None:
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    import labelkit as lk

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype("float32")
    y = rng.integers(0, C, size=(N, 1)).astype("int64")
    y[:7] = -1  # replica 0 gets 1 labelled example of 8, replica 1 all 8
    w0 = rng.normal(size=(D, C)).astype("float32")
    b0 = rng.normal(size=(C,)).astype("float32")
    out: dict[str, Any] = {"replicas": strategy.num_replicas_in_sync}
    if sys.argv[1:] == ["keras"]:  # tests/test_keras.py: the Keras part only
        out["keras_fit"] = keras_fit(strategy, x, y)
        print("RESULT " + json.dumps(out))
        return

    for name, kw in SCENARIOS.items():
        # One device, the global batch.
        w1, b1 = tf.Variable(w0), tf.Variable(b0)
        with tf.GradientTape() as tape:
            ref_loss = lk.cross_entropy(tf.constant(x) @ w1 + b1, tf.constant(y), **kw)
        ref_grads = tape.gradient(ref_loss, [w1, b1])
        opt1 = keras.optimizers.SGD(0.5)
        opt1.apply_gradients(zip(ref_grads, [w1, b1]))

        # Two replicas, the same global batch split in two.
        with strategy.scope():
            w2, b2 = tf.Variable(w0), tf.Variable(b0)
            opt2 = keras.optimizers.SGD(0.5)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(N)
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

        @tf.function
        def train_step(batch: Any, kw: dict[str, Any] = kw, w2: Any = w2, b2: Any = b2, opt2: Any = opt2) -> Any:
            def replica_fn(xb: Any, yb: Any) -> Any:
                ctx = tf.distribute.get_replica_context()
                with tf.GradientTape() as tape:
                    logits = xb @ w2 + b2
                    local_sum = lk.cross_entropy(logits, yb, reduction="sum", **kw)
                    count_kw = {k: v for k, v in kw.items() if k in ("ignore_index", "class_weight")}
                    count = ctx.all_reduce("sum", lk.count_valid(logits, yb, **count_kw))
                    loss = tf.math.divide_no_nan(local_sum, count)
                    naive = lk.cross_entropy(logits, yb, **kw) / ctx.num_replicas_in_sync  # mean of means
                grads = tape.gradient(loss, [w2, b2])
                summed = ctx.all_reduce("sum", grads)
                opt2.apply_gradients(zip(grads, [w2, b2]))  # sums the replicas' gradients itself
                return ctx.all_reduce("sum", loss), summed, ctx.all_reduce("sum", naive)

            per_replica = strategy.run(replica_fn, args=batch)
            return strategy.experimental_local_results(per_replica)[0]

        loss, grads, naive = train_step(batch)
        out[name] = {
            "loss": float(loss),
            "ref_loss": float(ref_loss),
            "loss_diff": abs(float(loss) - float(ref_loss)),
            "grad_diff": max(float(np.max(np.abs(g.numpy() - r.numpy()))) for g, r in zip(grads, ref_grads)),
            "step_diff": max(
                float(np.max(np.abs(v.numpy() - r.numpy()))) for v, r in zip([w2, b2], [w1, b1])
            ),
            "naive_mean_of_means_diff": abs(float(naive) - float(ref_loss)),
        }
    print("RESULT " + json.dumps(out))


KERAS_SCENARIOS = {
    "ignore": ({"ignore_index": -1}, False),
    "ignore_sample_weight": ({"ignore_index": -1}, True),
    "ignore_weight_smoothing": (
        {"ignore_index": -1, "class_weight": [1.0, 2.0, 0.5, 1.5, 1.0], "label_smoothing": 0.1}, True
    ),
    "no_ignore": ({}, False),  # every element counts (the -1 labels made class 0): the factor is 1
}
LR = 0.5


def keras_fit(strategy: Any, x: Any, y: Any) -> dict[str, Any]:
    """One ``fit`` step and an ``evaluate`` on the global batch, on one device and under ``strategy``:
    the loss, and the gradient (the weights' step over the learning rate), against each other; and
    Keras' own ``SparseCategoricalCrossentropy(ignore_class=-1)``, which averages per-replica means."""
    import keras
    import numpy as np

    from labelkit.keras import CrossEntropy

    def model() -> Any:
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((D,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(C)])

    sw = np.linspace(0.5, 2.0, N).astype("float32")
    start = model().get_weights()

    def run(make_loss: Any, distributed: bool, weighted: bool, y: Any = y) -> tuple[float, float, list[Any]]:
        if distributed:
            with strategy.scope():
                m = model()
        else:
            m = model()
        m.set_weights(start)
        m.compile(optimizer=keras.optimizers.SGD(LR), loss=make_loss())
        kw = {"sample_weight": sw} if weighted else {}
        h = m.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0, **kw)
        evaluated = float(m.evaluate(x, y, batch_size=N, verbose=0, **kw))
        steps = [(w0 - w1) / LR for w0, w1 in zip(start, m.get_weights())]  # the gradient SGD applied
        return float(h.history["loss"][0]), evaluated, steps

    result: dict[str, Any] = {"replicas": strategy.num_replicas_in_sync}
    for name, (kw, weighted) in KERAS_SCENARIOS.items():
        labels = y if kw else np.maximum(y, 0)
        one = run(lambda kw=kw: CrossEntropy(**kw), False, weighted, labels)
        two = run(lambda kw=kw: CrossEntropy(**kw), True, weighted, labels)
        result[name] = {
            "loss": one[0],
            "loss_diff": abs(one[0] - two[0]),
            "evaluate_diff": abs(one[1] - two[1]),
            "grad_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(one[2], two[2])),
        }
    native = lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)  # noqa: E731
    one, two = run(native, False, False), run(native, True, False)
    result["native_ignore_class_loss_diff"] = abs(one[0] - two[0])
    return result



if __name__ == "__main__":
    sys.exit(main())
