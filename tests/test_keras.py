"""``labelkit.keras.CrossEntropy`` on every Keras 3 backend: TensorFlow, JAX and PyTorch.

Keras picks its backend once per process, so each backend runs ``tests/workers/keras_worker.py`` in a
fresh process with ``KERAS_BACKEND`` set (one process per backend, shared with
``tests/test_training_programs.py``; every check of that backend reads its report). A backend's
framework not in ``LABELKIT_TEST_BACKENDS`` skips; requested but broken fails.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from keras_runs import KERAS_BACKENDS, keras_report
from subproc import need, run_worker

RTOL = 1e-5  # float32, relative to the loss's magnitude


@pytest.fixture(scope="module", params=KERAS_BACKENDS, ids=[f"keras-{b}" for b in KERAS_BACKENDS])
def report(request: pytest.FixtureRequest) -> dict[str, Any]:
    return keras_report(request.param)


def test_runs_on_the_requested_keras_backend(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["report"]
    assert report["backend"] == backend
    # The loss comes back as the backend's own tensor (labelkit dispatched on what Keras handed it).
    assert report["backend_of_loss"] == backend


def test_integer_ids_are_not_rounded_through_float32(report: dict[str, Any]) -> None:
    """Keras casts y_true to the loss's float dtype; labelkit's loss reads integer ids as they came, so an id
    above 2**24 (which float32 rounds to a neighbour) picks its own class."""
    c = 2**24 + 2
    expected = -(5.0 - (5.0 + np.log1p((c - 1) * np.exp(-5.0))))  # -log softmax of the class ahead by 5
    # (float32 sums of 2**24 terms: torch is 8e-4 off; the rounded id would give 16.6, 43 % off.)
    assert report["id_above_2_24"] == pytest.approx(expected, rel=5e-3)


def test_dense_1000_on_column_labels_trains_like_sparse_categorical_crossentropy(report: dict[str, Any]) -> None:
    ours, theirs = report["fit"]["labelkit"], report["fit"]["keras"]
    assert ours[-1] < ours[0], f"the loss did not decrease: {ours}"
    np.testing.assert_allclose(ours, theirs, rtol=RTOL)


def test_fit_with_ignore_index_and_sample_weight_matches_ignore_class(report: dict[str, Any]) -> None:
    ours, theirs = report["fit_ignore_sample_weight"]["labelkit"], report["fit_ignore_sample_weight"]["keras"]
    assert ours[-1] < ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=RTOL)


@pytest.mark.parametrize(
    "check",
    [
        "column_vs_scce",
        "flat_vs_scce",
        "onehot_vs_cce",
        "probs_vs_cce",
        "from_probs_vs_scce",
        "smoothing_onehot_vs_cce",
        "smoothing_sparse_vs_cce",
        "class_weight_vs_sample_weight",
        "binary_vs_bce",
    ],
)
def test_any_label_format_equals_the_matching_keras_loss(report: dict[str, Any], check: str) -> None:
    assert report["diffs"][check] <= RTOL


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sample_weight_as_keras(report: dict[str, Any], reduction: str) -> None:
    assert report["diffs"][f"sample_weight_{reduction}"] <= RTOL


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_index_as_ignore_class(report: dict[str, Any], reduction: str, weighted: bool) -> None:
    key = f"ignore_sample_weight_{reduction}" if weighted else f"ignore_{reduction}"
    assert report["diffs"][key] <= RTOL


def test_ignore_index_mean_divides_by_the_valid_count(report: dict[str, Any]) -> None:
    assert report["diffs"]["ignore_mean_is_over_valid_count"] <= RTOL
    assert report["diffs"]["all_ignored_is_zero"] == 0.0


def test_config_roundtrip(report: dict[str, Any]) -> None:
    assert report["config_roundtrip"] and report["config_json"]
    assert report["deserialize_type"] == "CrossEntropy" and report["deserialize_config"]


def test_model_save_and_load_model(report: dict[str, Any]) -> None:
    assert report["loaded_loss_type"] == "labelkit.keras.CrossEntropy"
    assert report["loaded_config"]
    before, after = report["evaluate_before_after"]
    assert after == pytest.approx(before, rel=RTOL)


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("label_smoothing", r"^ArgumentError: label_smoothing: expected a number in \[0, 1\], got 2.0"),
        ("class_weight", r"^ArgumentError: class_weight: expected one weight per class, shape \(C,\), got shape"),
        ("task", r"^ArgumentError: task: expected one of 'auto', 'multiclass', 'binary', 'multilabel'"),
        ("shape", r"^ShapeMismatchError: labels have shape \(4, 2\) but logits have shape \(4, 3\)"),
    ],
)
def test_errors_in_labelkit_words(report: dict[str, Any], key: str, match: str) -> None:
    assert re.match(match, report["errors"][key]), report["errors"][key]


def test_check_values_is_in_the_config(report: dict[str, Any]) -> None:
    assert report["config_check_values"] is True


# --- Inside fit/evaluate/predict: the same outcome on every Keras backend --------------------------
#
# Where a backend can raise, a bad label stops fit with an error: TensorFlow through in-graph asserts
# (InvalidArgumentError naming labelkit's rule), PyTorch eagerly (LabelValueError). JAX's jit cannot
# raise: the loss is NaN there (documented in the README's Keras outcome table).

BAD_LABEL_ERROR = {"tensorflow": "InvalidArgumentError", "torch": "LabelValueError", "jax": None}


def _is_nan_history(outcome: dict[str, Any]) -> bool:
    return "result" in outcome and all(np.isnan(v) for v in outcome["result"])


def _assert_stops(outcome: dict[str, Any], backend: str, match: str) -> None:
    expected = BAD_LABEL_ERROR[backend]
    if expected is None:
        assert _is_nan_history(outcome), outcome
    else:
        assert outcome.get("error") == expected, outcome
        assert re.search(match, outcome["message"]), outcome["message"]


def _backend(request: pytest.FixtureRequest) -> str:
    return request.node.callspec.params["report"]


def test_a_bad_id_stops_fit(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    _assert_stops(report["inside_fit"]["bad_id"], _backend(request), r"outside .*(0\.\.4|\[0, 5\))")


def test_a_bad_id_unchecked_is_a_nan_loss(report: dict[str, Any]) -> None:
    assert _is_nan_history(report["inside_fit"]["bad_id_unchecked"]), report["inside_fit"]["bad_id_unchecked"]


def test_tensorflow_under_xla_and_eagerly(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    if _backend(request) != "tensorflow":
        pytest.skip("jit_compile and run_eagerly variants of the TensorFlow graph")
    fit = report["inside_fit"]
    assert _is_nan_history(fit["bad_id_xla"]), fit["bad_id_xla"]  # XLA drops asserts: NaN, as documented
    assert _is_nan_history(fit["multi_hot_xla"]), fit["multi_hot_xla"]
    for key in ("fit_unknown_width_xla", "softmax_model_xla"):  # the rest of the outcome table under XLA
        assert "result" in fit[key], fit[key]
        np.testing.assert_allclose(fit[key]["result"], fit["logits_model"], rtol=RTOL)
    assert fit["bad_id_forced_eager"]["error"] == "LabelValueError", fit["bad_id_forced_eager"]


def test_multi_hot_rows_with_task_auto_stop_fit(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    _assert_stops(report["inside_fit"]["multi_hot_auto"], _backend(request), r"sum|one-hot|multilabel")
    multilabel = report["inside_fit"]["multi_hot_multilabel"]["result"]
    assert np.all(np.isfinite(multilabel)) and multilabel[-1] < multilabel[0]


def test_torch_compile_gives_nan_where_checks_cannot_raise(
    report: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    if _backend(request) != "torch":
        pytest.skip("torch.compile: the PyTorch backend's traced path")
    assert np.isnan(report["inside_fit"]["multi_hot_compiled"])
    compiled, eager = report["inside_fit"]["ids_compiled"]
    assert compiled == pytest.approx(eager, rel=RTOL)


def test_labelkit_fit_equals_keras_on_logits(report: dict[str, Any]) -> None:
    fit = report["inside_fit"]
    np.testing.assert_allclose(fit["logits_model"], fit["native_logits_model"], rtol=RTOL)


def test_a_softmax_output_is_read_through_its_logits(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    fit = report["inside_fit"]
    if _backend(request) == "jax":
        # Keras' JAX arrays carry no _keras_logits: the softmax is told by its values and gives NaN.
        assert _is_nan_history(fit["softmax_model"]), fit["softmax_model"]
        return
    outcome = fit["softmax_model"]
    np.testing.assert_allclose(outcome["result"], fit["logits_model"], rtol=RTOL)  # no double softmax
    assert len(outcome["warnings"]) == 1 and "from_logits=True" in outcome["warnings"][0], outcome["warnings"]


def test_logits_that_look_like_probabilities_are_logits(report: dict[str, Any]) -> None:
    """One-hot-like logits, or a single row that sums to 1, are not taken for a softmax's output on any
    backend (on JAX the softmax is told by its values: strictly inside (0, 1), rows summing to 1, two rows
    or more)."""
    for case, (ours, theirs) in report["logits_that_look_like_probs"].items():
        assert np.isfinite(ours), case
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, err_msg=case)


def test_a_softmax_output_with_from_logits_false(report: dict[str, Any]) -> None:
    fit = report["inside_fit"]
    outcome = fit["softmax_model_from_probs"]
    np.testing.assert_allclose(outcome["result"], fit["logits_model"], rtol=RTOL)
    assert outcome["warnings"] == []


def test_evaluate_and_predict_on_tf_data(report: dict[str, Any]) -> None:
    fit = report["inside_fit"]
    eager = fit["evaluate_arrays"]
    assert fit["evaluate_static_dataset"] == pytest.approx(eager, rel=RTOL)
    assert fit["evaluate_unknown_batch"] == pytest.approx(eager, rel=RTOL)
    np.testing.assert_allclose(fit["fit_static_dataset"], fit["logits_model"], rtol=RTOL)
    assert fit["predict_diff"] == 0.0


@pytest.mark.parametrize("key", ["evaluate_unknown_width", "evaluate_rows_unknown_width"])
def test_evaluate_with_labels_of_unknown_width_gives_the_eager_loss(report: dict[str, Any], key: str) -> None:
    # from_generator with TensorSpec((None, None), ...) labels, which Keras casts to float: never broadcast.
    outcome = report["inside_fit"][key]
    assert "result" in outcome, outcome
    assert outcome["result"] == pytest.approx(report["inside_fit"]["evaluate_arrays"], rel=RTOL)


def test_fit_with_labels_of_unknown_width(report: dict[str, Any]) -> None:
    outcome = report["inside_fit"]["fit_unknown_width"]
    assert "result" in outcome, outcome
    np.testing.assert_allclose(outcome["result"], report["inside_fit"]["logits_model"], rtol=RTOL)


def test_mixed_precision(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    fit = report["inside_fit"]
    np.testing.assert_allclose(fit["mixed_labelkit"], fit["mixed_native"], rtol=RTOL)
    if _backend(request) == "jax":
        assert _is_nan_history(fit["mixed_softmax_model"]), fit["mixed_softmax_model"]
    else:  # the float16 softmax output is cast to float32 before call: its logits are read before the cast
        np.testing.assert_allclose(fit["mixed_softmax_model"]["result"], fit["mixed_labelkit"], rtol=RTOL)
    outcome = fit["mixed_dataset_unknown_width"]
    assert "result" in outcome, outcome
    np.testing.assert_allclose(outcome["result"], fit["mixed_labelkit"], rtol=RTOL)


# --- fit under tf.distribute.MirroredStrategy ------------------------------------------------------

DISTRIBUTED_TOL = 1e-6


@pytest.fixture(scope="module")
def mirrored_report() -> dict[str, Any]:
    need("tensorflow", "keras")
    return run_worker("tf_distributed_worker.py", "keras")["keras_fit"]


@pytest.mark.parametrize("scenario", ["ignore", "ignore_sample_weight", "ignore_weight_smoothing", "no_ignore"])
def test_fit_under_mirrored_strategy_is_the_global_mean(mirrored_report: dict[str, Any], scenario: str) -> None:
    assert mirrored_report["replicas"] == 2
    r = mirrored_report[scenario]
    assert r["loss_diff"] <= DISTRIBUTED_TOL * max(1.0, r["loss"]), r
    assert r["evaluate_diff"] <= DISTRIBUTED_TOL * max(1.0, r["loss"]), r
    assert r["grad_diff"] <= DISTRIBUTED_TOL, r
    # Keras' own ignore_class averages the replicas' means: the data is built so that it shows.
    assert mirrored_report["native_ignore_class_loss_diff"] > 1e-3
