"""``labelkit.keras.CrossEntropy`` on every Keras 3 backend: TensorFlow, JAX and PyTorch.

Keras picks its backend once per process, so each backend runs ``tests/workers/keras_worker.py`` in a
fresh process with ``KERAS_BACKEND`` set (one process per backend; every check of that backend reads
its report). A backend's framework not in ``LABELKIT_TEST_BACKENDS`` skips; requested but broken fails.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from subproc import need, run_worker

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
RTOL = 1e-5  # float32, relative to the loss's magnitude


@pytest.fixture(scope="module", params=KERAS_BACKENDS, ids=[f"keras-{b}" for b in KERAS_BACKENDS])
def report(request: pytest.FixtureRequest) -> dict[str, Any]:
    backend = request.param
    need(backend, "keras")
    return run_worker("keras_worker.py", env={"KERAS_BACKEND": backend})


def test_runs_on_the_requested_keras_backend(report: dict[str, Any], request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["report"]
    assert report["backend"] == backend
    # The loss comes back as the backend's own tensor (labelkit dispatched on what Keras handed it).
    assert report["backend_of_loss"] == backend


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
