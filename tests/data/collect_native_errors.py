"""Regenerates ``native_errors.json``: the real error messages that frameworks raise for bad labels.

Each case below is run for real; its exception type and message are recorded next to the call that
raised it and the diagnosis ``lk.explain`` must give for it (``tests/test_explain.py`` checks them).
Every framework runs in its own subprocess (Keras once per Keras backend), so a missing framework only
drops its own cases.

    python tests/data/collect_native_errors.py            # rewrite native_errors.json
    python tests/data/collect_native_errors.py --check    # report messages that changed, write nothing

``expect`` holds: ``codes`` (problem codes the diagnosis must contain), ``framework`` (whose words
the fix uses), ``logits_shape``/``labels_shape`` (what explain must read from the message; ``None``
when the message names no shape), and ``fix`` (a piece of the fix the user must see).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "native_errors.json"

# group -> (imports run first, environment)
GROUPS = {
    "torch": ("import torch\nimport torch.nn.functional as F", {}),
    "tensorflow": ("import tensorflow as tf", {}),
    "keras-tensorflow": ("import numpy as np\nimport keras", {"KERAS_BACKEND": "tensorflow"}),
    "keras-jax": ("import numpy as np\nimport keras", {"KERAS_BACKEND": "jax"}),
    "keras-torch": ("import numpy as np\nimport keras", {"KERAS_BACKEND": "torch"}),
    "jax": ("import jax\nimport jax.numpy as jnp\nimport optax", {}),
}


def case(id, group, call, codes, framework, logits_shape=None, labels_shape=None, fix=""):
    return {
        "id": id,
        "group": group,
        "call": call,
        "expect": {
            "codes": codes,
            "framework": framework,
            "logits_shape": logits_shape,
            "labels_shape": labels_shape,
            "fix": fix,
        },
    }


CASES = [
    # --- PyTorch -------------------------------------------------------------------------------
    case("torch-ce-column-labels", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(32, 1000), torch.randint(0, 1000, (32, 1)))",
         ["column_labels"], "torch", fix="labels.squeeze(-1)"),
    case("torch-nll-column-labels", "torch",
         "F.nll_loss(torch.randn(32, 10).log_softmax(-1), torch.randint(0, 10, (32, 1)))",
         ["column_labels"], "torch", fix="labels.squeeze(-1)"),
    case("torch-ce-batch-size", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(32, 1000), torch.randint(0, 1000, (64,)))",
         ["batch_mismatch"], "torch", [32, None], [64], fix="same batch"),
    case("torch-ce-float-ids", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(32, 1000), torch.randint(0, 1000, (32,)).float())",
         ["float_ids"], "torch", fix="labels.long()"),
    case("torch-ce-int32-ids", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(32, 1000), torch.randint(0, 1000, (32,)).int())",
         ["labels_dtype"], "torch", fix="labels.long()"),
    case("torch-ce-id-out-of-range", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(4, 5), torch.tensor([1, 7, 0, 2]))",
         ["id_out_of_range"], "torch", fix="labels - 1"),
    case("torch-ce-negative-id", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(4, 5), torch.tensor([1, -1, 0, 2]))",
         ["id_out_of_range"], "torch", fix="ignore_index=-1"),
    case("torch-ce-one-hot-long", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(4, 5), F.one_hot(torch.tensor([1, 2, 0, 2]), 5))",
         ["labels_dtype"], "torch", fix="labels.float()"),
    case("torch-ce-channels-last-image", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(4, 8, 8, 5), torch.randint(0, 5, (4, 8, 8)))",
         ["wrong_axis"], "torch", [4, 8, 8, 5], [4, 8, 8], fix="logits.movedim(-1, 1)"),
    case("torch-ce-channels-last-sequence", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(8, 20, 100), torch.randint(0, 100, (8, 20)))",
         ["wrong_axis"], "torch", [8, None, 100], [8, 20], fix="logits.movedim(-1, 1)"),
    case("torch-ce-sequence-column-labels", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(8, 100, 20), torch.randint(0, 100, (8, 20, 1)))",
         ["extra_axis"], "torch", [8, None, 20], [8, 20, 1], fix="labels.squeeze(-1)"),
    case("torch-bce-flat-labels", "torch",
         "torch.nn.BCEWithLogitsLoss()(torch.randn(32, 1), torch.rand(32))",
         ["binary_labels_shape"], "torch", [32, 1], [32], fix="labels.reshape(logits.shape)"),
    case("torch-bce-long-targets", "torch",
         "torch.nn.BCEWithLogitsLoss()(torch.randn(32, 1), torch.randint(0, 2, (32, 1)))",
         ["labels_dtype"], "torch", fix="labels.float()"),
    case("torch-bce-column-vs-classes", "torch",
         "F.binary_cross_entropy(torch.rand(32, 10), torch.rand(32, 1))",
         ["wrong_loss"], "torch", [32, 10], [32, 1], fix="torch.nn.CrossEntropyLoss()"),
    case("torch-one-hot-out-of-range", "torch",
         "F.one_hot(torch.tensor([1, 7]), 5)",
         ["id_out_of_range"], "torch", fix="lk.one_hot"),
    case("torch-ce-mask-255", "torch",
         "torch.nn.CrossEntropyLoss()(torch.randn(2, 21, 4, 4), torch.full((2, 4, 4), 255))",
         ["id_out_of_range"], "torch", fix="ignore_index=255"),
    # --- TensorFlow (tf.nn) ----------------------------------------------------------------------
    case("tf-sparse-column-labels", "tensorflow",
         "tf.nn.sparse_softmax_cross_entropy_with_logits("
         "labels=tf.random.uniform((32, 1), 0, 1000, dtype=tf.int64), logits=tf.random.normal((32, 1000)))",
         ["column_labels"], "tensorflow", [32, 1000], [32, 1], fix="tf.squeeze(labels, axis=-1)"),
    case("tf-sparse-batch-size", "tensorflow",
         "tf.nn.sparse_softmax_cross_entropy_with_logits("
         "labels=tf.zeros((64,), tf.int64), logits=tf.random.normal((32, 1000)))",
         ["batch_mismatch"], "tensorflow", [32, 1000], [64], fix="same batch"),
    case("tf-sparse-id-out-of-range", "tensorflow",
         "tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([1, 7]), logits=tf.zeros((2, 5)))",
         ["id_out_of_range"], "tensorflow", fix="8 outputs"),
    case("tf-sparse-ids-start-at-1", "tensorflow",
         "tf.nn.sparse_softmax_cross_entropy_with_logits("
         "labels=tf.constant([1, 2, 3, 4, 5]), logits=tf.zeros((5, 5)))",
         ["id_out_of_range"], "tensorflow", fix="labels - 1"),
    case("tf-sparse-float-labels", "tensorflow",
         "tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([1., 2.]), logits=tf.zeros((2, 5)))",
         ["float_ids"], "tensorflow", fix="tf.cast(labels, tf.int64)"),
    case("tf-dense-class-count", "tensorflow",
         "tf.nn.softmax_cross_entropy_with_logits(labels=tf.zeros((32, 10)), logits=tf.random.normal((32, 1000)))",
         ["class_count_mismatch"], "tensorflow", [32, 1000], [32, 10], fix="Dense(10)"),
    case("tf-dense-batch-size", "tensorflow",
         "tf.nn.softmax_cross_entropy_with_logits(labels=tf.zeros((64, 1000)), logits=tf.random.normal((32, 1000)))",
         ["batch_mismatch"], "tensorflow", [32, 1000], [64, 1000], fix="same batch"),
    case("tf-sigmoid-flat-labels", "tensorflow",
         "tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros((32,)), logits=tf.zeros((32, 1)))",
         ["binary_labels_shape"], "tensorflow", [32, 1], [32], fix="tf.reshape(labels, tf.shape(logits))"),
    case("tf-shapes-incompatible", "tensorflow",
         "# the check Keras 2 (tf.keras) ran in categorical_crossentropy: target.shape vs output.shape\n"
         "tf.TensorShape([None, 1]).assert_is_compatible_with(tf.TensorShape([None, 10]))",
         ["wrong_loss"], "keras", [None, 10], [None, 1], fix="SparseCategoricalCrossentropy(from_logits=True)"),
    case("tf-sparse-mask-255", "tensorflow",
         "tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([[0, 255], [255, 3]]), "
         "logits=tf.zeros((2, 2, 21)))",
         ["id_out_of_range"], "tensorflow", fix="ignore_class=255"),
    # --- Keras 3 ---------------------------------------------------------------------------------
    case("keras-tf-cce-column-labels", "keras-tensorflow",
         "keras.losses.CategoricalCrossentropy(from_logits=True)("
         "np.random.randint(0, 1000, (32, 1)), np.random.randn(32, 1000).astype('float32'))",
         ["wrong_loss"], "keras", [32, 1000], [32, 1], fix="SparseCategoricalCrossentropy(from_logits=True)"),
    case("keras-tf-scce-one-hot", "keras-tensorflow",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True)("
         "np.eye(1000, dtype='float32')[:32], np.random.randn(32, 1000).astype('float32'))",
         ["wrong_loss"], "keras", [32, 1000], [32, 1000], fix="CategoricalCrossentropy(from_logits=True)"),
    case("keras-tf-scce-batch-size", "keras-tensorflow",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True)("
         "np.zeros((64,), 'int64'), np.random.randn(32, 1000).astype('float32'))",
         ["batch_mismatch"], "keras", [32, 1000], [64], fix="same batch"),
    case("keras-tf-scce-axis", "keras-tensorflow",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True, axis=1)("
         "np.zeros((4, 8), 'int64'), np.zeros((4, 5, 8), 'float32'))",
         ["wrong_axis"], "keras", fix="keras.ops.moveaxis(logits, 1, -1)"),
    case("keras-tf-scce-id-out-of-range", "keras-tensorflow",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([1, 7]), np.zeros((2, 5), 'float32'))",
         ["id_out_of_range"], "tensorflow", fix="8 outputs"),
    case("keras-tf-bce-column-vs-classes", "keras-tensorflow",
         "keras.losses.BinaryCrossentropy(from_logits=True)(np.zeros((32, 1)), np.zeros((32, 10), 'float32'))",
         ["wrong_loss"], "keras", [32, 10], [32, 1], fix="SparseCategoricalCrossentropy(from_logits=True)"),
    case("keras-tf-cce-class-count", "keras-tensorflow",
         "keras.losses.CategoricalCrossentropy(from_logits=True)("
         "np.zeros((32, 10)), np.random.randn(32, 1000).astype('float32'))",
         ["class_count_mismatch"], "keras", [32, 1000], [32, 10], fix="keras.layers.Dense(10)"),
    case("keras-tf-scce-channels-first", "keras-tensorflow",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True)("
         "np.zeros((8, 20), 'int64'), np.zeros((8, 100, 20), 'float32'))",
         ["wrong_axis"], "keras", [8, 100, 20], [8, 20], fix="keras.ops.moveaxis(logits, 1, -1)"),
    case("keras-tf-fit-cce-column-labels", "keras-tensorflow",
         "m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10)])\n"
         "m.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True))\n"
         "m.fit(np.zeros((16, 8), 'float32'), np.zeros((16, 1), 'int64'), verbose=0)",
         ["wrong_loss"], "keras", [None, 10], [None, 1], fix="model.compile(loss=labelkit.keras.CrossEntropy())"),
    case("keras-tf-fit-scce-one-hot", "keras-tensorflow",
         "m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10)])\n"
         "m.compile(loss='sparse_categorical_crossentropy')\n"
         "m.fit(np.zeros((16, 8), 'float32'), np.zeros((16, 10), 'float32'), verbose=0)",
         ["wrong_loss"], "keras", [None, 10], [None, 10], fix="CategoricalCrossentropy(from_logits=True)"),
    case("keras-tf-fit-scce-id-out-of-range", "keras-tensorflow",
         "m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5)])\n"
         "m.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
         "m.fit(np.zeros((16, 8), 'float32'), np.full((16,), 7), verbose=0)",
         ["id_out_of_range"], "tensorflow", fix="8 outputs"),
    case("keras-jax-scce-one-hot", "keras-jax",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True)("
         "np.eye(1000, dtype='float32')[:32], np.random.randn(32, 1000).astype('float32'))",
         ["wrong_loss"], "keras", [32, 1000], [32, 1000], fix="CategoricalCrossentropy(from_logits=True)"),
    case("keras-jax-scce-channels-first", "keras-jax",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True, axis=1)("
         "np.zeros((4, 8), 'int64'), np.zeros((4, 5, 8), 'float32'))",
         ["wrong_axis"], "keras", [4, 5, 8], [4, 8], fix="keras.ops.moveaxis(logits, 1, -1)"),
    case("keras-torch-cce-column-labels", "keras-torch",
         "keras.losses.CategoricalCrossentropy(from_logits=True)("
         "np.random.randint(0, 1000, (32, 1)), np.random.randn(32, 1000).astype('float32'))",
         ["wrong_loss"], "keras", [32, 1000], [32, 1], fix="SparseCategoricalCrossentropy(from_logits=True)"),
    case("keras-torch-scce-batch-size", "keras-torch",
         "keras.losses.SparseCategoricalCrossentropy(from_logits=True)("
         "np.zeros((64,), 'int64'), np.random.randn(32, 1000).astype('float32'))",
         ["batch_mismatch"], "keras", [32, 1000], [64], fix="same batch"),
    # --- JAX / optax -----------------------------------------------------------------------------
    case("optax-int-column-labels", "jax",
         "optax.softmax_cross_entropy_with_integer_labels(jnp.zeros((32, 1000)), jnp.zeros((32, 1), jnp.int32))",
         ["column_labels"], "jax", fix="labels.squeeze(-1)"),
    case("optax-int-sequence-column-labels", "jax",
         "optax.softmax_cross_entropy_with_integer_labels(jnp.zeros((8, 20, 100)), jnp.zeros((8, 20, 1), jnp.int32))",
         ["column_labels"], "jax", fix="labels.squeeze(-1)"),
    case("optax-int-batch-size", "jax",
         "optax.softmax_cross_entropy_with_integer_labels(jnp.zeros((32, 1000)), jnp.zeros((64,), jnp.int32))",
         ["batch_mismatch"], "jax", [32, None], [64], fix="same batch"),
    case("optax-int-float-labels", "jax",
         "optax.softmax_cross_entropy_with_integer_labels(jnp.zeros((32, 1000)), jnp.zeros((32,), jnp.float32))",
         ["float_ids"], "jax", fix="labels.astype(jnp.int32)"),
    case("optax-int-channels-first", "jax",
         "optax.softmax_cross_entropy_with_integer_labels(jnp.zeros((4, 5, 8)), jnp.zeros((4, 8), jnp.int32))",
         ["wrong_axis"], "jax", [4, 5, None], [4, 8], fix="axis=1"),
    case("optax-dense-class-count", "jax",
         "optax.softmax_cross_entropy(jnp.zeros((32, 1000)), jnp.zeros((32, 10)))",
         ["class_count_mismatch"], "jax", [32, 1000], [32, 10], fix="10 outputs"),
    case("optax-dense-batch-size", "jax",
         "optax.softmax_cross_entropy(jnp.zeros((32, 1000)), jnp.zeros((64, 1000)))",
         ["batch_mismatch"], "jax", [32, 1000], [64, 1000], fix="same batch"),
    case("optax-dense-sparse-labels", "jax",
         "optax.softmax_cross_entropy(jnp.zeros((32, 1000)), jnp.zeros((32,), jnp.int32))",
         ["wrong_loss"], "jax", [32, 1000], [32], fix="optax.softmax_cross_entropy_with_integer_labels"),
    case("optax-sigmoid-class-count", "jax",
         "optax.sigmoid_binary_cross_entropy(jnp.zeros((32, 10)), jnp.zeros((32, 3)))",
         ["class_count_mismatch"], "jax", [32, 10], [32, 3], fix="3 outputs"),
]


def _run_group(group: str) -> list[dict]:
    """Runs one group's cases in this process (called in a subprocess) and returns the records."""
    imports, _ = GROUPS[group]
    ns: dict = {}
    exec(imports, ns)
    versions = {}
    for mod in ("torch", "tensorflow", "keras", "jax", "optax"):
        if mod in ns or mod in sys.modules:
            versions[mod] = getattr(sys.modules.get(mod), "__version__", "?")
    if group.startswith("keras"):
        versions["keras_backend"] = ns["keras"].backend.backend()
    out = []
    for c in CASES:
        if c["group"] != group:
            continue
        rec = dict(c)
        try:
            exec(c["call"], dict(ns))
        except Exception as exc:
            rec["error_type"] = type(exc).__name__
            rec["message"] = str(exc).strip()
        else:
            rec["error_type"] = None
            rec["message"] = None  # no error: the case is dropped (and reported)
        rec["versions"] = versions
        out.append(rec)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", help=argparse.SUPPRESS)
    ap.add_argument("--check", action="store_true", help="report changed messages; write nothing")
    args = ap.parse_args(argv)
    if args.group:
        json.dump(_run_group(args.group), sys.stdout)
        return 0
    records: list[dict] = []
    for group, (_, env) in GROUPS.items():
        proc = subprocess.run(
            [sys.executable, __file__, "--group", group],
            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        )
        if proc.returncode != 0:
            print(f"{group}: skipped ({proc.stderr.strip().splitlines()[-1:] or 'failed'})", file=sys.stderr)
            continue
        got = json.loads(proc.stdout)
        for rec in got:
            if rec["message"] is None:
                print(f"{rec['id']}: raised nothing; dropped", file=sys.stderr)
        records += [r for r in got if r["message"] is not None]
        print(f"{group}: {len(got)} cases", file=sys.stderr)
    if args.check:
        old = {r["id"]: r["message"] for r in json.loads(OUT.read_text())["cases"]} if OUT.exists() else {}
        changed = [r["id"] for r in records if old.get(r["id"]) != r["message"]]
        print("changed: " + (", ".join(changed) or "none"))
        return 1 if changed else 0
    OUT.write_text(json.dumps({"about": __doc__.splitlines()[0], "cases": records}, indent=1) + "\n")
    print(f"wrote {len(records)} messages to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
