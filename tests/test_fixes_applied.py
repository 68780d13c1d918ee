"""Every fix an error message suggests is tested by doing it.

Each row of ``FIXES`` is one message labelkit raises: the bad call, the fix as the message words it (the
test asserts the message contains it), the call with that fix applied, and the right result of the fixed
call — the float64 oracle of ``tests/loss_oracle.py`` for a loss, the plain NumPy result for the other
functions. A message whose fix cannot be followed as written fails here, on every backend.

Messages that name no change to make (e.g. "check that the labels belong to these logits") have no row;
the fixes ``lk.diagnose`` and ``lk.explain`` write as code are run by the tests at the end of this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as lo
from conftest import backend_named
from loss_helpers import as_f64, assert_close, float_input

A = dict[str, np.ndarray]  # a case's inputs, as NumPy arrays


@dataclass(frozen=True)
class Fix:
    make: Callable[[np.random.Generator], A]  # the inputs
    bad: Callable[[Any, A], Any]  # (backend, inputs) -> the call that raises
    error: type[Exception]
    fix: str  # the fix, as the message words it
    fixed: Callable[[Any, A], Any]  # the same call with the fix applied
    expected: Callable[[A], Any]  # the right result of the fixed call (float64)


def X(b: Any, a: np.ndarray) -> Any:
    """Logits (or float rows) as float32 arrays of the backend."""
    return float_input(b, a)


def Y(b: Any, a: np.ndarray) -> Any:
    """Labels of the backend, in their own dtype."""
    return b.to_backend(a)


def _softmax(t: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(t - t.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logits(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape) * 2


def _ids(rng: np.random.Generator, shape: Any, c: int) -> np.ndarray:
    return rng.integers(0, c, size=shape)


def _with(a: A, **kw: np.ndarray) -> A:
    return {**a, **kw}


def _mask(rng: np.random.Generator) -> np.ndarray:
    mask = _ids(rng, (2, 4, 4), 21)
    mask[:, :2, :] = 255  # segmentation masks' "ignore" value, on a region
    return mask


def _with_padding(rng: np.random.Generator, pad: int) -> A:
    ids = _ids(rng, 8, 5)
    ids[[1, 4]] = pad
    return {"z": _logits(rng, 8, 5), "y": ids}


def _zero_row(rng: np.random.Generator) -> A:
    ids = _ids(rng, 6, 4)
    rows = np.eye(4)[ids]
    rows[2] = 0  # a padding row
    return {"z": _logits(rng, 6, 4), "y": rows, "ids": np.where(rows.sum(1) > 0, ids, -100)}


FIXES: dict[str, Fix] = {
    # --- _spec.py: arguments and shapes ----------------------------------------------------------
    "task-misspelt": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="multi-class"),
        lk.ArgumentError, "Leave task='auto'",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="auto"),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "axis-not-an-int": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis="last"),
        lk.ArgumentError, "Pass e.g. axis=-1",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=-1),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "axis-out-of-range": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=2),
        lk.ArgumentError, "Use axis=-1 for channels-last",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=-1),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "complex-labels": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"] + 0j)),
        lk.BackendError, "Convert the labels, e.g. to int64 class ids",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, np.real(a["y"] + 0j).astype("int64"))),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "complex-logits": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(Y(b, a["z"].astype("complex64")), Y(b, a["y"])),
        lk.BackendError, "logits.astype('float32')",
        lambda b, a: lk.cross_entropy(Y(b, a["z"].astype("complex64").real.astype("float32")), Y(b, a["y"])),
        lambda a: lo.sparse(a["z"].astype("float32"), a["y"]).value),
    "scalar-logits": Fix(
        lambda r: {"z": np.array(0.7), "y": np.array(1.0)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.ShapeMismatchError, "logits[None] (and labels[None] for a scalar label)",
        lambda b, a: lk.cross_entropy(X(b, a["z"][None]), Y(b, a["y"][None])),
        lambda a: lo.binary(a["z"][None], a["y"][None]).value),
    "binary-task-with-classes": Fix(
        lambda r: {"z": _logits(r, 5, 3), "y": (r.uniform(size=(5, 3)) < 0.5).astype("float32")},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="binary"),
        lk.ShapeMismatchError, "pass task='multilabel'",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="multilabel"),
        lambda a: lo.multilabel(a["z"], a["y"]).value),
    "multiclass-with-one-logit": Fix(
        lambda r: {"z": _logits(r, 6, 1), "y": _ids(r, 6, 2).astype("float32")},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="multiclass"),
        lk.ShapeMismatchError, "use task='binary'",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="binary"),
        lambda a: lo.binary(a["z"][:, 0], a["y"]).value),
    "one-example-class-logits": Fix(
        lambda r: {"z": _logits(r, 5), "y": np.array(3)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.ShapeMismatchError, "pass task='multiclass'",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="multiclass"),
        lambda a: lo.sparse(a["z"][None], a["y"][None]).value),
    "batch-sizes-differ": Fix(
        lambda r: {"z": _logits(r, 8, 5), "y": _ids(r, 8, 5)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"][:6])),  # labels of another batch
        lk.ShapeMismatchError, "Pass the labels of the same batch as the logits",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "trailing-size-1-axis-channels-first": Fix(
        lambda r: {"z": _logits(r, 2, 5, 3), "y": _ids(r, (2, 3, 1), 5)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=1),
        lk.ShapeMismatchError, "labels.squeeze(-1)",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"].squeeze(-1)), axis=1),
        lambda a: lo.sparse(a["z"], a["y"][..., 0], axis=1).value),
    "extra-size-1-axis": Fix(
        lambda r: {"z": _logits(r, 4, 5), "y": _ids(r, (4, 1, 1), 5)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.ShapeMismatchError, "labels.squeeze(-1)",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"].squeeze(-1))),
        lambda a: lo.sparse(a["z"], a["y"][:, 0, 0]).value),
    "channels-first-logits": Fix(
        lambda r: {"z": _logits(r, 2, 5, 3), "y": _ids(r, (2, 3), 5)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.ShapeMismatchError, "pass axis=1",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=1),
        lambda a: lo.sparse(a["z"], a["y"], axis=1).value),
    "channels-last-logits": Fix(
        lambda r: {"z": _logits(r, 2, 3, 5), "y": _ids(r, (2, 3), 5)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=1),
        lk.ShapeMismatchError, "pass axis=-1",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=-1),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "class-counts-differ": Fix(
        lambda r: {"z": _logits(r, 8, 5), "z3": _logits(r, 8, 3), "y": np.eye(3)[_ids(r, 8, 3)]},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.ShapeMismatchError, "Make the model's last layer output 3 units",
        lambda b, a: lk.cross_entropy(X(b, a["z3"]), Y(b, a["y"])),  # the model with 3 outputs
        lambda a: lo.multiclass(a["z3"], a["y"]).value),
    "ids-for-multilabel": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="multilabel"),
        lk.ShapeMismatchError, "lk.one_hot(labels, like=logits)",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), lk.one_hot(Y(b, a["y"]), like=X(b, a["z"])), task="multilabel"),
        lambda a: lo.multilabel(a["z"], np.eye(4)[a["y"]]).value),
    # --- _checks.py: ignore_index, check_values and label values ---------------------------------
    "ignore-index-not-an-int": Fix(
        lambda r: _with_padding(r, -100),
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), ignore_index=1.5),
        lk.ArgumentError, "Pass e.g. ignore_index=-100",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), ignore_index=-100),
        lambda a: lo.sparse(a["z"], a["y"], ignore_index=-100).value),
    "check-values-misspelt": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), check_values="yes"),
        lk.ArgumentError, "Leave it 'auto'",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), check_values="auto"),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "nan-in-labels": Fix(
        lambda r: {"z": _logits(r, 5, 3), "y": np.where(np.arange(5)[:, None] == 2, np.nan,
                                                         np.eye(3)[_ids(r, 5, 3)])},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"])),
        lk.LabelValueError, "Remove or mask the NaN/Inf entries",
        lambda b, a: lk.cross_entropy(X(b, a["z"][[0, 1, 3, 4]]), X(b, a["y"][[0, 1, 3, 4]])),  # row 2 removed
        lambda a: lo.multiclass(a["z"][[0, 1, 3, 4]], a["y"][[0, 1, 3, 4]]).value),
    "ids-not-whole": Fix(
        lambda r: {"z": _logits(r, 4, 5), "y": np.array([1.0, 2.4, 0.0, 4.0])},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"])),
        lk.LabelValueError, "labels.round()",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, np.round(a["y"]))),
        lambda a: lo.sparse(a["z"], np.round(a["y"])).value),
    "pytorch-padding-id": Fix(
        lambda r: _with_padding(r, -100),
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.LabelValueError, "pass ignore_index=-100",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), ignore_index=-100),
        lambda a: lo.sparse(a["z"], a["y"], ignore_index=-100).value),
    "negative-padding-id": Fix(
        lambda r: _with_padding(r, -1),
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.LabelValueError, "pass ignore_index=-1",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), ignore_index=-1),
        lambda a: lo.sparse(a["z"], a["y"], ignore_index=-1).value),
    "segmentation-mask-255": Fix(
        lambda r: {"z": _logits(r, 2, 21, 4, 4), "y": _mask(r)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=1),
        lk.LabelValueError, "Pass ignore_index=255",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), axis=1, ignore_index=255),
        lambda a: lo.sparse(a["z"], a["y"], axis=1, ignore_index=255).value),
    "ids-start-at-1": Fix(
        lambda r: {"z": _logits(r, 6, 5), "y": np.array([1, 5, 3, 2, 5, 4])},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.LabelValueError, "Pass labels - 1",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]) - 1),
        lambda a: lo.sparse(a["z"], a["y"] - 1).value),
    "too-few-classes": Fix(
        lambda r: {"z": _logits(r, 4, 5), "z8": _logits(r, 4, 8), "y": np.array([1, 7, 0, 2])},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.LabelValueError, "make the model output 8 units",
        lambda b, a: lk.cross_entropy(X(b, a["z8"]), Y(b, a["y"])),  # the model with 8 outputs
        lambda a: lo.sparse(a["z8"], a["y"]).value),
    "logits-as-labels": Fix(
        lambda r: {"z": _logits(r, 5, 3), "y": _logits(r, 5, 3)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"])),
        lk.LabelValueError, "Pass probabilities (e.g. a softmax), not logits, as labels",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, _softmax(a["y"]))),
        lambda a: lo.multiclass(a["z"], _softmax(a["y"])).value),
    "several-ones-per-row": Fix(
        lambda r: {"z": _logits(r, 3, 4), "y": np.array([[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 1]])},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.LabelValueError, "pass task='multilabel'",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), task="multilabel"),
        lambda a: lo.multilabel(a["z"], a["y"]).value),
    "padding-row-of-zeros": Fix(
        _zero_row,
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"])),
        lk.LabelValueError, "pass sparse ids with ignore_index instead",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["ids"]), ignore_index=-100),
        lambda a: lo.sparse(a["z"], a["ids"], ignore_index=-100).value),
    "rows-not-normalised": Fix(
        lambda r: {"z": _logits(r, 5, 3), "y": r.uniform(0.1, 1.0, size=(5, 3))},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"])),
        lk.LabelValueError, "labels / labels.sum(axis, keepdims=True)",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"] / a["y"].sum(-1, keepdims=True))),
        lambda a: lo.multiclass(a["z"], a["y"] / a["y"].sum(-1, keepdims=True)).value),
    "float-multi-hot-rows": Fix(
        lambda r: {"z": _logits(r, 3, 4), "y": np.array([[1.0, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 0]])},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"])),
        lk.LabelValueError, "pass task='multilabel'",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), X(b, a["y"]), task="multilabel"),
        lambda a: lo.multilabel(a["z"], a["y"]).value),
    "class-ids-for-one-logit": Fix(
        lambda r: {"z": _logits(r, 4, 1), "z4": _logits(r, 4, 4), "y": np.array([0, 3, 1, 2])},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"])),
        lk.LabelValueError, "give the logits one column per class",
        lambda b, a: lk.cross_entropy(X(b, a["z4"]), Y(b, a["y"])),  # one column per class: 4
        lambda a: lo.sparse(a["z4"], a["y"]).value),
    # --- _losses.py: loss arguments and the format-fixed losses -------------------------------------
    "reduction-misspelt": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), reduction="avg"),
        lk.ArgumentError, "Pass reduction='mean' for the average",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), reduction="mean"),
        lambda a: lo.sparse(a["z"], a["y"], reduction="mean").value),
    "from-logits-not-a-bool": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), from_logits="yes"),
        lk.ArgumentError, "expected True or False",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), from_logits=True),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "label-smoothing-out-of-range": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), label_smoothing=1.5),
        lk.ArgumentError, "Pass e.g. label_smoothing=0.1",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), label_smoothing=0.1),
        lambda a: lo.sparse(a["z"], a["y"], label_smoothing=0.1).value),
    "class-weight-not-numbers": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), class_weight="balanced"),
        lk.ArgumentError, "class_weight: expected a sequence of numbers",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), class_weight=[1.0, 2.0, 0.5, 1.5]),
        lambda a: lo.sparse(a["z"], a["y"], class_weight=[1.0, 2.0, 0.5, 1.5]).value),
    "class-weight-wrong-length": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), class_weight=[1.0, 2.0]),
        lk.ArgumentError, "Pass a list with one number per class",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), class_weight=[1.0, 2.0, 0.5, 1.5]),
        lambda a: lo.sparse(a["z"], a["y"], class_weight=[1.0, 2.0, 0.5, 1.5]).value),
    "binary-class-weight-per-class": Fix(
        lambda r: {"z": _logits(r, 6), "y": _ids(r, 6, 2)},
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), class_weight=[1.0, 2.0, 3.0]),
        lk.ArgumentError, "[weight of 0 targets, weight of 1 targets]",
        lambda b, a: lk.cross_entropy(X(b, a["z"]), Y(b, a["y"]), class_weight=[1.0, 2.0]),
        lambda a: lo.binary(a["z"], a["y"], class_weight=[1.0, 2.0]).value),
    "sparse-loss-given-rows": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": np.eye(4)[_ids(r, 6, 4)]},
        lambda b, a: lk.sparse_categorical_crossentropy(X(b, a["z"]), X(b, a["y"])),
        lk.ShapeMismatchError, "Use lk.categorical_crossentropy",
        lambda b, a: lk.categorical_crossentropy(X(b, a["z"]), X(b, a["y"])),
        lambda a: lo.multiclass(a["z"], a["y"]).value),
    "sparse-loss-given-rows-to-sparse": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": np.eye(4)[_ids(r, 6, 4)]},
        lambda b, a: lk.sparse_categorical_crossentropy(X(b, a["z"]), X(b, a["y"])),
        lk.ShapeMismatchError, "lk.to_sparse(labels) to get class ids",
        lambda b, a: lk.sparse_categorical_crossentropy(X(b, a["z"]), lk.to_sparse(X(b, a["y"]))),
        lambda a: lo.multiclass(a["z"], a["y"]).value),
    "dense-loss-given-ids": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.categorical_crossentropy(X(b, a["z"]), Y(b, a["y"])),
        lk.ShapeMismatchError, "Use lk.sparse_categorical_crossentropy",
        lambda b, a: lk.sparse_categorical_crossentropy(X(b, a["z"]), Y(b, a["y"])),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    "dense-loss-given-ids-one-hot": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.categorical_crossentropy(X(b, a["z"]), Y(b, a["y"])),
        lk.ShapeMismatchError, "lk.one_hot(labels, like=logits) to get shape (6, 4)",
        lambda b, a: lk.categorical_crossentropy(X(b, a["z"]), lk.one_hot(Y(b, a["y"]), like=X(b, a["z"]))),
        lambda a: lo.sparse(a["z"], a["y"]).value),
    # --- _ops.py: one_hot, validate, squeeze, to_sparse, align ---------------------------------------
    "one-hot-dtype-unreadable": Fix(
        lambda r: {"y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"]), 4, dtype="floaty"),
        lk.ArgumentError, "Pass e.g. dtype='float32'",
        lambda b, a: lk.one_hot(Y(b, a["y"]), 4, dtype="float32"),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-dtype-not-real": Fix(
        lambda r: {"y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"]), 4, dtype="complex64"),
        lk.ArgumentError, "Pass dtype='float32'",
        lambda b, a: lk.one_hot(Y(b, a["y"]), 4, dtype="float32"),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-num-classes-zero": Fix(
        lambda r: {"y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"]), 0),
        lk.ArgumentError, "num_classes: expected a positive int",
        lambda b, a: lk.one_hot(Y(b, a["y"]), 4),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-num-classes-huge": Fix(
        lambda r: {"y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"]), 2**40),
        lk.ArgumentError, "Pass the number of classes of the model's output",
        lambda b, a: lk.one_hot(Y(b, a["y"]), 4),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-without-classes": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"])),
        lk.ArgumentError, "Pass lk.one_hot(labels, like=logits)",
        lambda b, a: lk.one_hot(Y(b, a["y"]), like=X(b, a["z"])),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-num-classes-not-like": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"]), 7, like=X(b, a["z"])),
        lk.ShapeMismatchError, "Drop num_classes to use like's",
        lambda b, a: lk.one_hot(Y(b, a["y"]), like=X(b, a["z"])),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-like-a-scalar": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"]), like=X(b, a["z"][0, 0])),
        lk.ShapeMismatchError, "Pass the logits",
        lambda b, a: lk.one_hot(Y(b, a["y"]), like=X(b, a["z"])),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-like-one-logit": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"]), like=X(b, a["z"][0, :1])),
        lk.ShapeMismatchError, "Pass the logits of the whole batch as like",
        lambda b, a: lk.one_hot(Y(b, a["y"]), like=X(b, a["z"])),
        lambda a: np.eye(4)[a["y"]]),
    "one-hot-of-rows": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": np.eye(4)[_ids(r, 6, 4)]},
        lambda b, a: lk.one_hot(X(b, a["y"]), like=X(b, a["z"])),
        lk.ShapeMismatchError, "Use them as they are, or lk.to_sparse(labels) for ids",
        lambda b, a: lk.one_hot(lk.to_sparse(X(b, a["y"])), like=X(b, a["z"])),
        lambda a: a["y"]),
    "one-hot-complex-ids": Fix(
        lambda r: {"y": _ids(r, 6, 4)},
        lambda b, a: lk.one_hot(Y(b, a["y"] + 0j), 4),
        lk.ArgumentError, "labels.astype('int64')",
        lambda b, a: lk.one_hot(Y(b, np.real(a["y"] + 0j).astype("int64")), 4),
        lambda a: np.eye(4)[a["y"]]),
    "validate-num-classes-differs": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.validate(X(b, a["z"]), Y(b, a["y"]), num_classes=7),
        lk.ShapeMismatchError, "Drop num_classes",
        lambda b, a: np.array(lk.validate(X(b, a["z"]), Y(b, a["y"])).num_classes),
        lambda a: np.array(4)),
    "squeeze-rows": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": np.eye(4)[_ids(r, 6, 4)]},
        lambda b, a: lk.squeeze(X(b, a["y"]), like=X(b, a["z"])),
        lk.ShapeMismatchError, "Use lk.to_sparse(labels) to get class ids",
        lambda b, a: lk.to_sparse(X(b, a["y"])),
        lambda a: a["y"].argmax(-1)),
    "to-sparse-of-an-id": Fix(
        lambda r: {"y": np.eye(4)[_ids(r, 6, 4)]},
        lambda b, a: lk.to_sparse(Y(b, np.array(3))),
        lk.ShapeMismatchError, "Pass one-hot or probability rows, not class ids",
        lambda b, a: lk.to_sparse(X(b, a["y"])),
        lambda a: a["y"].argmax(-1)),
    "align-to-misspelt": Fix(
        lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)},
        lambda b, a: lk.align(X(b, a["z"]), Y(b, a["y"]), to="onehot"),
        lk.ArgumentError, "expected 'sparse' or 'one_hot'",
        lambda b, a: lk.align(X(b, a["z"]), Y(b, a["y"]), to="one_hot"),
        lambda a: np.eye(4)[a["y"]]),
    "align-multi-hot-to-sparse": Fix(
        lambda r: {"z": _logits(r, 3, 4), "y": np.array([[1.0, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 0]])},
        lambda b, a: lk.align(X(b, a["z"]), X(b, a["y"]), to="sparse", task="multilabel"),
        lk.ShapeMismatchError, "expected to='one_hot'",
        lambda b, a: lk.align(X(b, a["z"]), X(b, a["y"]), to="one_hot", task="multilabel"),
        lambda a: a["y"]),
}


@pytest.mark.parametrize("case", list(FIXES), ids=list(FIXES))
def test_the_fix_a_message_suggests_works(backend: Any, case: str) -> None:
    f = FIXES[case]
    a = f.make(np.random.default_rng(sum(map(ord, case))))
    with pytest.raises(f.error) as info:
        f.bad(backend, a)
    assert f.fix in str(info.value), f"the message does not name the fix {f.fix!r}: {info.value}"
    got = f.fixed(backend, a)
    host = isinstance(got, (np.ndarray, np.generic, float, int))
    assert_close(np.asarray(got, np.float64) if host else as_f64(backend, got), f.expected(a), what=case)


# --- arguments that concern two frameworks, and the integrations --------------------------------------


def test_class_weight_of_another_framework(framework: Any) -> None:
    # class_weight from another framework than the logits: "(or pass a list)".
    rng = np.random.default_rng(5)
    z, y, w = _logits(rng, 6, 4), _ids(rng, 6, 4), [1.0, 2.0, 0.5, 1.5]
    foreign = backend_named("jax" if framework.name != "jax" else "torch").to_backend(np.array(w, np.float32))
    with pytest.raises(lk.BackendError, match=re.escape("(or pass a list)")):
        lk.cross_entropy(X(framework, z), Y(framework, y), class_weight=foreign)
    got = lk.cross_entropy(X(framework, z), Y(framework, y), class_weight=w)
    assert_close(as_f64(framework, got), lo.sparse(z, y, class_weight=w).value)


def test_torch_module_messages_are_followed() -> None:
    torch = backend_named("torch").module
    import labelkit.torch as lkt

    rng = np.random.default_rng(6)
    z, y = _logits(rng, 2, 3, 5), _ids(rng, (2, 3), 5)
    x = torch.tensor(z, dtype=torch.float32)
    with pytest.raises(lk.ShapeMismatchError) as info:
        lkt.CrossEntropyLoss()(x, torch.tensor(y))
    assert "labelkit.torch.CrossEntropyLoss(axis=-1)" in str(info.value)
    got = lkt.CrossEntropyLoss(axis=-1)(x, torch.tensor(y))
    assert_close(got.item(), lo.sparse(z, y).value)
    # A segmentation mask: the module's default ignore_index is -100; the message asks for 255.
    zm, mask = _logits(rng, 2, 21, 4, 4), _mask(rng)
    xm = torch.tensor(zm, dtype=torch.float32)
    with pytest.raises(lk.LabelValueError, match="Pass ignore_index=255"):
        lkt.CrossEntropyLoss()(xm, torch.tensor(mask))
    got = lkt.CrossEntropyLoss(ignore_index=255)(xm, torch.tensor(mask))
    assert_close(got.item(), lo.sparse(zm, mask, axis=1, ignore_index=255).value)
    with pytest.raises(lk.ArgumentError, match="Leave task='auto'"):
        lkt.CrossEntropyLoss(task="multi-class")
    assert_close(lkt.CrossEntropyLoss(task="auto", axis=-1)(x, torch.tensor(y)).item(), lo.sparse(z, y).value)


def test_keras_loss_messages_are_followed() -> None:
    backend_named("tensorflow")
    pytest.importorskip("keras")
    import labelkit.keras as lkk

    rng = np.random.default_rng(7)
    z, y, w = _logits(rng, 6, 4).astype("float32"), _ids(rng, 6, 4), [1.0, 2.0, 0.5, 1.5]
    for bad, match in (("balanced", "Pass a list with one weight per class"),
                       ([[1.0, 2.0]], "Pass a list with one weight per class")):
        with pytest.raises(lk.ArgumentError, match=match):
            lkk.CrossEntropy(class_weight=bad)
    with pytest.raises(lk.ArgumentError, match=re.escape("Pass e.g. axis=-1 or axis=1")):
        lkk.CrossEntropy(axis="last")
    got = float(lkk.CrossEntropy(class_weight=w, axis=-1)(y, z))
    # Keras' mean divides by the element count (like fit(class_weight=...)): Σ w[y_i] l_i / N.
    expected = lo.sparse(z, y, class_weight=w, reduction="sum").value / len(y)
    assert_close(got, expected)


# --- the fixes lk.diagnose and lk.explain write as code are run ----------------------------------------

# id: (logits, labels, diagnose keyword arguments); each gives one error whose fix is a labelkit call or an
# expression of the labels (NumPy wording), which the test runs.
DIAGNOSED: dict[str, tuple[Callable[[np.random.Generator], A], dict[str, Any]]] = {
    "mask-255": (lambda r: {"z": _logits(r, 2, 21, 4, 4), "y": _mask(r)}, {"axis": 1}),
    "padding--1": (lambda r: _with_padding(r, -1), {}),
    "padding--100": (lambda r: _with_padding(r, -100), {}),
    "ids-start-at-1": (lambda r: {"z": _logits(r, 6, 5), "y": np.array([1, 5, 3, 2, 5, 4])}, {}),
    "channels-first": (lambda r: {"z": _logits(r, 2, 5, 3), "y": _ids(r, (2, 3), 5)}, {}),
    "channels-last": (lambda r: {"z": _logits(r, 2, 3, 5), "y": _ids(r, (2, 3), 5)}, {"axis": 1}),
    "ids-not-whole": (lambda r: {"z": _logits(r, 4, 5), "y": np.array([1.0, 2.4, 0.0, 4.0])}, {}),
    "ids-for-multilabel": (lambda r: {"z": _logits(r, 6, 4), "y": _ids(r, 6, 4)}, {"task": "multilabel"}),
}


def _run_fix(fix: str, logits: np.ndarray, labels: np.ndarray, kw: dict[str, Any]) -> Any:
    """Runs a fix written as code: a whole labelkit call, or an expression giving the labels to pass to
    the call the user made (``kw``: its other arguments)."""
    code = fix.split("  #")[0].split("; or")[0].strip()
    ns = {"lk": lk, "np": np, "logits": logits, "labels": labels}
    if code.startswith("lk.cross_entropy("):
        return eval(code, ns)
    return lk.cross_entropy(logits, eval(code, ns), **kw)


@pytest.mark.parametrize("case", list(DIAGNOSED), ids=list(DIAGNOSED))
def test_diagnose_fix_runs(case: str) -> None:
    make, kw = DIAGNOSED[case]
    a = make(np.random.default_rng(sum(map(ord, case))))
    z = a["z"].astype(np.float32)
    d = lk.diagnose(z, a["y"], **kw)
    assert not d.ok, str(d)
    fix = d.problems[0].fix
    got = _run_fix(fix, z, a["y"], kw)
    assert np.isfinite(got), fix
    # The fixed call gives the loss of the labels it meant: the same call fixed by hand, on the oracle.
    expected = {
        "mask-255": lambda: lo.sparse(z, a["y"], axis=1, ignore_index=255).value,
        "padding--1": lambda: lo.sparse(z, a["y"], ignore_index=-1).value,
        "padding--100": lambda: lo.sparse(z, a["y"], ignore_index=-100).value,
        "ids-start-at-1": lambda: lo.sparse(z, a["y"] - 1).value,
        "channels-first": lambda: lo.sparse(z, a["y"], axis=1).value,
        "channels-last": lambda: lo.sparse(z, a["y"]).value,
        "ids-not-whole": lambda: lo.sparse(z, np.round(a["y"])).value,
        "ids-for-multilabel": lambda: lo.multilabel(z, np.eye(4)[a["y"]]).value,
    }[case]()
    assert_close(got, expected, what=fix)
