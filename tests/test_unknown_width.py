"""SPEC "Inference", rule 6: labels whose size at the class axis is unknown while tracing.

``tf.function`` with ``TensorSpec((None, None))`` labels (and Keras, which casts every label to float)
gives labels that may be class ids ``(N, 1)`` or rows ``(N, C)``. labelkit never guesses from the dtype
and never broadcasts: TensorFlow branches on the run-time width (1: ids, C: rows, anything else: an
error naming both shapes), also under XLA; JAX, whose symbolic dims (``jax.export``) cannot be
branched on, gets a ``ShapeMismatchError`` at trace time asking for a static label shape. Every
function that infers obeys it: the losses, ``count_valid``, ``align``, ``one_hot(like=)``,
``validate``, ``infer`` and ``squeeze``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from conftest import backend_named
from loss_helpers import assert_close

rng = np.random.default_rng(6)
N, C = 6, 4
Z = rng.standard_normal((N, C)).astype("float32")
IDS = np.array([1, 0, 3, 1, 2, 1])
COLUMN = IDS[:, None].astype("float32")  # as Keras hands labels to a loss: float
ONE_HOT = np.eye(C, dtype="float32")[IDS]
PROBS = rng.dirichlet(np.ones(C), N).astype("float32")
W = [1.0, 2.0, 0.5, 3.0]

LABELS = {"column-float": COLUMN, "column-int": IDS[:, None], "one-hot": ONE_HOT, "probs": PROBS}
MODES = {"graph": False, "xla": True}


def _oracle(labels: np.ndarray, reduction: str = "mean", **kw: Any) -> O.Result:
    if labels.shape[-1] == 1:
        return O.sparse(Z, labels[:, 0].astype(int), reduction=reduction, **kw)
    return O.multiclass(Z, labels, reduction=reduction, **kw)


def _first_line_with(err: BaseException, text: str) -> str:
    return next((line for line in str(err).splitlines() if text in line), str(err))


# --- TensorFlow: a run-time branch ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tf() -> Any:
    return backend_named("tensorflow").module


_FNS: dict[tuple[str, bool, str], Any] = {}


def _losses_fn(tf: Any, jit_compile: bool, dtype: str) -> Any:
    """The loss, its gradient, per-element losses, a weighted mean and count_valid, with logits of shape
    (None, 4) and labels of shape (None, None): traced once, for every width."""
    key = ("losses", jit_compile, dtype)
    if key not in _FNS:

        @tf.function(
            input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, None), dtype)], jit_compile=jit_compile
        )
        def fn(z: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss = lk.cross_entropy(z, y)
            return (
                loss,
                tape.gradient(loss, z),
                lk.cross_entropy(z, y, reduction="none"),
                lk.cross_entropy(z, y, class_weight=W, label_smoothing=0.1),
                lk.count_valid(z, y),
                lk.count_valid(z, y, class_weight=W),
            )

        _FNS[key] = fn
    return _FNS[key]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(LABELS))
def test_tf_loss_reads_the_width_when_the_graph_runs(tf: Any, name: str, mode: str) -> None:
    labels = LABELS[name]
    dtype = "int64" if labels.dtype.kind == "i" else "float32"
    loss, grad, per_element, weighted, count, weighted_count = _losses_fn(tf, MODES[mode], dtype)(
        tf.constant(Z), tf.constant(labels)
    )
    expected = _oracle(labels)
    # Before: float (N, 1) ids were read as rows and broadcast (the issue's 7.46 for 1.46).
    assert_close(loss.numpy(), expected.value)
    assert_close(grad.numpy(), expected.grad)
    assert_close(per_element.numpy(), _oracle(labels, "none").value)
    assert_close(weighted.numpy(), _oracle(labels, class_weight=W, label_smoothing=0.1).value)
    assert float(count) == N
    targets = np.eye(C)[IDS] if labels.shape[-1] == 1 else labels
    assert_close(weighted_count.numpy(), float((targets * np.asarray(W)).sum()))
    # The same concrete function, the eager result: one trace serves every width.
    assert_close(loss.numpy(), lk.cross_entropy(tf.constant(Z), tf.constant(labels)).numpy())


def test_tf_keras_issue_example_column_ids_cast_to_float(tf: Any) -> None:
    """The issue's numbers: float (N, 1) ids inside tf.function gave 7.46 where eager gives 1.46."""
    sig = [tf.TensorSpec((None, C)), tf.TensorSpec((None, None), tf.float32)]
    traced = tf.function(lambda z, y: lk.cross_entropy(z, y), input_signature=sig)
    eager = lk.cross_entropy(tf.constant(Z), tf.constant(IDS))
    assert_close(traced(tf.constant(Z), tf.constant(COLUMN)).numpy(), eager.numpy())


@pytest.mark.parametrize("width", [3, 0, 5])
def test_tf_any_other_width_stops_the_graph_naming_both_shapes(tf: Any, width: int) -> None:
    fn = _losses_fn(tf, False, "float32")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        fn(tf.constant(Z), tf.zeros((N, width)))
    line = _first_line_with(info.value, "labelkit ShapeMismatchError")
    assert f"labels have shape] [{N} {width}] [but logits have shape] [{N} {C}]" in line
    assert "size 1 as class ids, size 4 as one-hot/probability rows" in line


def test_tf_any_other_width_fails_under_xla_too(tf: Any) -> None:
    """XLA compiles the assertion out; the rows' branch then fails to compile: an error, never a broadcast."""
    with pytest.raises(tf.errors.InvalidArgumentError):
        _losses_fn(tf, True, "float32")(tf.constant(Z), tf.zeros((N, 3)))


def _fixed_fn(tf: Any, jit_compile: bool) -> Any:
    key = ("fixed", jit_compile, "float32")
    if key not in _FNS:
        sig = [tf.TensorSpec((None, C)), tf.TensorSpec((None, None), tf.float32)]

        @tf.function(input_signature=sig, jit_compile=jit_compile)
        def sparse(z: Any, y: Any) -> Any:
            return lk.sparse_categorical_crossentropy(z, y)

        @tf.function(input_signature=sig, jit_compile=jit_compile)
        def dense(z: Any, y: Any) -> Any:
            return lk.categorical_crossentropy(z, y)

        _FNS[key] = (sparse, dense)
    return _FNS[key]


@pytest.mark.parametrize("mode", list(MODES))
def test_tf_fixed_format_losses_check_the_width(tf: Any, mode: str) -> None:
    sparse, dense = _fixed_fn(tf, MODES[mode])
    assert_close(sparse(tf.constant(Z), tf.constant(COLUMN)).numpy(), _oracle(COLUMN).value)
    assert_close(dense(tf.constant(Z), tf.constant(PROBS)).numpy(), _oracle(PROBS).value)
    # The other format: an error (under XLA the compiler's own), never a silent squeeze or broadcast.
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        sparse(tf.constant(Z), tf.constant(ONE_HOT))
    if mode == "graph":
        assert "a sparse loss was asked for" in _first_line_with(info.value, "assertion failed")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        dense(tf.constant(Z), tf.constant(COLUMN))
    if mode == "graph":
        assert "size 4 on axis 1, one column per class (a dense loss was asked for)" in _first_line_with(
            info.value, "assertion failed"
        )


@pytest.mark.parametrize("mode", list(MODES))
def test_tf_count_valid_with_ignore_index(tf: Any, mode: str) -> None:
    """The issue: 6 instead of 4 with ignore_index=1 (the float ids were read as rows)."""

    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, None))], jit_compile=MODES[mode])
    def fn(z: Any, y: Any) -> Any:
        kw = {"ignore_index": 1}
        return lk.count_valid(z, y, **kw), lk.cross_entropy(z, y, **kw), lk.cross_entropy(z, y, reduction="sum", **kw)

    count, mean, total = fn(tf.constant(Z), tf.constant(COLUMN))
    assert float(count) == float((IDS != 1).sum()) == 3.0
    assert_close(mean.numpy(), O.sparse(Z, IDS, ignore_index=1).value)
    assert_close(total.numpy() / count.numpy(), mean.numpy())
    if mode == "graph":
        # Rows hold no ids to ignore: with an ignore_index, only class ids are accepted.
        with pytest.raises(tf.errors.InvalidArgumentError, match="ignore_index=1 was given"):
            fn(tf.constant(Z), tf.constant(ONE_HOT))


def test_tf_valid_mask_from_either_reading(tf: Any) -> None:
    from labelkit._distributed import valid_mask

    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, None))])
    def fn(z: Any, y: Any) -> Any:
        return valid_mask(z, y, ignore_index=-100)

    np.testing.assert_array_equal(fn(tf.constant(Z), tf.constant(np.where(COLUMN == 1, -100, COLUMN))).numpy(),
                                  IDS != 1)
    np.testing.assert_array_equal(fn(tf.constant(Z), tf.constant(ONE_HOT)).numpy(), np.ones(N, bool))


@pytest.mark.parametrize("mode", list(MODES))
def test_tf_align_and_one_hot(tf: Any, mode: str) -> None:
    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, None))], jit_compile=MODES[mode])
    def aligned(z: Any, y: Any) -> Any:
        return lk.align(z, y, to="sparse"), lk.align(z, y, to="one_hot")

    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, None))], jit_compile=MODES[mode])
    def hot(z: Any, y: Any) -> Any:
        return lk.one_hot(y, like=z), lk.squeeze(y, like=z)

    for labels in (COLUMN, ONE_HOT):  # before: align(to="sparse") of float ids gave all zeros
        ids, rows = aligned(tf.constant(Z), tf.constant(labels))
        np.testing.assert_array_equal(ids.numpy(), IDS)
        np.testing.assert_array_equal(rows.numpy(), ONE_HOT)
    rows, ids = hot(tf.constant(Z), tf.constant(COLUMN))
    np.testing.assert_array_equal(rows.numpy(), ONE_HOT)
    np.testing.assert_array_equal(ids.numpy(), IDS)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        hot(tf.constant(Z), tf.constant(ONE_HOT))  # rows are not class ids
    if mode == "graph":
        assert "lk.one_hot takes class ids" in _first_line_with(info.value, "assertion failed")


def test_tf_validate_and_infer(tf: Any) -> None:
    found = []

    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, None))])
    def fn(z: Any, y: Any) -> Any:
        found.append(lk.infer(z, y))
        found.append(lk.validate(z, y, check_values=True))
        return z

    for labels in (COLUMN, ONE_HOT, PROBS):
        fn(tf.constant(Z), tf.constant(labels))
    spec = found[0]
    assert found == [spec, spec]  # traced once
    assert (spec.task, spec.num_classes, spec.axis, spec.deferred) == ("multiclass", C, 1, True)
    assert str(spec) == (
        "multiclass: sparse class ids (width 1) or one-hot/probability rows (width 4), read from the labels' "
        "width at run time; 4 classes on axis 1; backend tensorflow"
    )
    # Each reading's value checks run in its own branch, as in-graph asserts.
    bad = {
        "a class id is outside [0, 4)": [[7.0]],
        "a class id is not a whole number": [[1.5]],
        "a row does not sum to 1 along axis 1": [[0.5, 0.5, 0.5, 0.0]],
        "a row has a negative entry": [[-0.5, 1.5, 0.0, 0.0]],
        "an entry is NaN or Inf": [[np.nan, 1.0, 0.0, 0.0]],
        "labels have shape] [1 2]": [[0.5, 0.5]],
    }
    for text, labels in bad.items():
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            fn(tf.constant(Z[:1]), tf.constant(labels, tf.float32))
        assert text in _first_line_with(info.value, "assertion failed"), text


@pytest.mark.parametrize("mode", list(MODES))
def test_tf_sequence_logits_with_labels_of_unknown_rank_sizes(tf: Any, mode: str) -> None:
    """(None, None, C) logits with (None, None, None) labels: (N, T, 1) ids or (N, T, C) rows."""
    z = rng.standard_normal((2, 3, 5)).astype("float32")
    ids = rng.integers(0, 5, (2, 3))

    @tf.function(
        input_signature=[tf.TensorSpec((None, None, 5)), tf.TensorSpec((None, None, None))], jit_compile=MODES[mode]
    )
    def fn(z: Any, y: Any) -> Any:
        return lk.cross_entropy(z, y, reduction="none"), lk.count_valid(z, y), lk.align(z, y, to="sparse")

    expected = O.sparse(z, ids, reduction="none").value
    for labels in (ids[..., None].astype("float32"), np.eye(5, dtype="float32")[ids]):
        losses, count, aligned = fn(tf.constant(z), tf.constant(labels))
        assert_close(losses.numpy(), expected)
        assert float(count) == 6.0
        np.testing.assert_array_equal(aligned.numpy(), ids)


@pytest.mark.parametrize("mode", list(MODES))
def test_tf_binary_and_multilabel_widths_are_checked_never_broadcast(tf: Any, mode: str) -> None:
    zb = rng.standard_normal((N, 1)).astype("float32")
    tb = rng.integers(0, 2, (N, 1)).astype("float32")
    tm = rng.integers(0, 2, (N, C)).astype("float32")

    @tf.function(input_signature=[tf.TensorSpec((None, 1)), tf.TensorSpec((None, None))], jit_compile=MODES[mode])
    def binary(z: Any, y: Any) -> Any:
        return lk.cross_entropy(z, y)

    @tf.function(input_signature=[tf.TensorSpec((None, C)), tf.TensorSpec((None, None))], jit_compile=MODES[mode])
    def multilabel(z: Any, y: Any) -> Any:
        return lk.cross_entropy(z, y, task="multilabel")

    @tf.function(input_signature=[tf.TensorSpec((None,)), tf.TensorSpec((None, None))], jit_compile=MODES[mode])
    def rank1(z: Any, y: Any) -> Any:
        return lk.cross_entropy(z, y)

    assert_close(binary(tf.constant(zb), tf.constant(tb)).numpy(), O.binary(zb[:, 0], tb[:, 0]).value)
    assert_close(rank1(tf.constant(zb[:, 0]), tf.constant(tb)).numpy(), O.binary(zb[:, 0], tb[:, 0]).value)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        rank1(tf.constant(zb[:, 0]), tf.constant(np.zeros((N, 2), "float32")))
    if mode == "graph":
        assert "binary targets have one column" in _first_line_with(info.value, "assertion failed")
    assert_close(multilabel(tf.constant(Z), tf.constant(tm)).numpy(), O.multilabel(Z, tm).value)
    with pytest.raises(tf.errors.InvalidArgumentError):
        binary(tf.constant(zb), tf.constant(np.zeros((N, 3), "float32")))
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        multilabel(tf.constant(Z), tf.constant(tm[:, :1]))  # before: broadcast to every class
    if mode == "graph":
        assert "multi-hot rows have one column per class" in _first_line_with(info.value, "assertion failed")


# --- JAX: symbolic dims cannot be branched on ----------------------------------------------------


@pytest.fixture(scope="module")
def jax() -> Any:
    backend_named("jax")
    import jax

    return jax


FUNCTIONS = {
    "cross_entropy": lambda z, y: lk.cross_entropy(z, y),
    "categorical_crossentropy": lambda z, y: lk.categorical_crossentropy(z, y),
    "count_valid": lambda z, y: lk.count_valid(z, y),
    "align": lambda z, y: lk.align(z, y, to="sparse"),
    "one_hot": lambda z, y: lk.one_hot(y, like=z),
    "validate": lambda z, y: z * lk.validate(z, y).num_classes,
    "infer": lambda z, y: z * lk.infer(z, y).num_classes,
}


def _export(jax: Any, fn: Any, logits_shape: str, labels_shape: str, labels_dtype: Any) -> Any:
    """``jax.export`` of ``fn`` with symbolic shapes such as ``"b, 4"`` and ``"b, w"`` (one scope)."""
    from jax import export

    dims = export.symbolic_shape(f"{logits_shape}, {labels_shape}")
    k = logits_shape.count(",") + 1
    return export.export(jax.jit(fn))(
        jax.ShapeDtypeStruct(dims[:k], jax.numpy.float32), jax.ShapeDtypeStruct(dims[k:], labels_dtype)
    )


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jax_export_with_a_symbolic_label_width_asks_for_a_static_shape(jax: Any, name: str) -> None:
    with pytest.raises(lk.ShapeMismatchError, match=r"labels have shape \(None, None\), whose size on the class "
                       r"axis 1 is unknown while tracing, and jax cannot branch .* Give the labels a static shape: "
                       r"class ids of shape \(None,\) or \(None, 1\), or rows of shape \(None, 4\)"):
        _export(jax, FUNCTIONS[name], "b, 4", "b, w", jax.numpy.float32)


@pytest.mark.parametrize("labels", ["sparse", "column", "rows"])
def test_jax_export_with_a_symbolic_class_count_asks_for_a_static_one(jax: Any, labels: str) -> None:
    shape = {"sparse": "b", "column": "b, 1", "rows": "b, c"}[labels]
    dtype = jax.numpy.float32 if labels == "rows" else jax.numpy.int32
    # Before: JAX's own InconclusiveDimensionOperation ("'c' < '2' is inconclusive").
    with pytest.raises(lk.LabelkitError, match=r"static number of classes"):
        _export(jax, FUNCTIONS["cross_entropy"], "b, c", shape, dtype)


@pytest.mark.parametrize("call", ["align-one-hot", "cross-entropy", "count-valid", "accuracy"])
def test_tf_an_unknown_class_count_with_sparse_labels_is_a_labelkit_error(tf: Any, call: str) -> None:
    """Logits of shape (None, None) with class ids: one-hot rows, the sparse loss, the count and the
    accuracy need C; a LabelkitError naming the logits, never TensorFlow's bare "None values not
    supported" (align(to="one_hot") gave that before)."""
    fns = {
        "align-one-hot": lambda z, y: lk.align(z, y, to="one_hot"),
        "cross-entropy": lambda z, y: lk.cross_entropy(z, y),
        "count-valid": lambda z, y: lk.count_valid(z, y),
        "accuracy": lambda z, y: lk.accuracy(z, y, top_k=2),
    }
    sig = [tf.TensorSpec((None, None), tf.float32), tf.TensorSpec((None,), tf.int64)]
    f = tf.function(fns[call], input_signature=sig)
    with pytest.raises(lk.LabelkitError, match=r"logits: the number of classes \(axis 1\) is unknown"):
        f.get_concrete_function()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(LABELS))
def test_tf_accuracy_reads_the_width_when_the_graph_runs(tf: Any, name: str, mode: str) -> None:
    """lk.accuracy with labels of unknown width: the eager values (it broadcast to (N, N) before), for
    every reduction and top_k."""
    labels = LABELS[name]
    sig = [tf.TensorSpec((None, C), tf.float32), tf.TensorSpec((None, None), tf.as_dtype(labels.dtype))]

    @tf.function(input_signature=sig, jit_compile=MODES[mode])
    def f(z: Any, y: Any) -> Any:
        return (lk.accuracy(z, y), lk.accuracy(z, y, reduction="none"), lk.accuracy(z, y, top_k=2))

    got = [np.asarray(v) for v in f(tf.constant(Z), tf.constant(labels))]
    want = [np.asarray(lk.accuracy(Z, labels)), np.asarray(lk.accuracy(Z, labels, reduction="none")),
            np.asarray(lk.accuracy(Z, labels, top_k=2))]
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w)
