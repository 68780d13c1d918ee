"""``lk.explain`` on the real messages of ``tests/data/native_errors.json``, and on a few more forms.

The corpus was produced by running PyTorch, TensorFlow, Keras 3 (TensorFlow, JAX and PyTorch backends),
JAX and optax with wrong labels (``tests/data/collect_native_errors.py`` regenerates it). Each entry
holds the call, the exception and the diagnosis explain must give: the problem codes, the framework
whose words the fix uses, the shapes read from the message, and a piece of the fix.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import labelkit as lk
from labelkit._explain import parse_shape

DATA = Path(__file__).resolve().parent / "data"
CORPUS = json.loads((DATA / "native_errors.json").read_text())["cases"]
BY_ID = {c["id"]: c for c in CORPUS}


def _pasted(case: dict[str, Any]) -> str:
    """What a user pastes: the traceback's last line, ``Type: message``."""
    return f"{case['error_type']}: {case['message']}"


@pytest.mark.parametrize("case_id", list(BY_ID))
def test_corpus_message_is_diagnosed(case_id: str) -> None:
    case = BY_ID[case_id]
    expect = case["expect"]
    d = lk.explain(_pasted(case))
    assert set(expect["codes"]) <= set(d.codes), f"{case['call']}\n{case['message']}\n{d}"
    assert d.framework == expect["framework"]
    if expect["logits_shape"] is not None:
        assert d.logits_shape == tuple(expect["logits_shape"])
        assert d.labels_shape == tuple(expect["labels_shape"])
    fixes = " | ".join(p.fix for p in d.problems)
    assert expect["fix"] in fixes, fixes
    assert not d.ok  # the native call failed: every problem is an error
    assert all(p.severity == "error" and p.message and p.fix for p in d.problems)
    assert d.source and d.message
    json.dumps(d.to_dict())


@pytest.mark.parametrize("case_id", list(BY_ID))
def test_corpus_message_without_the_exception_type(case_id: str) -> None:
    case = BY_ID[case_id]
    assert set(case["expect"]["codes"]) <= set(lk.explain(case["message"]).codes)


def test_corpus_covers_every_framework() -> None:
    assert len(CORPUS) >= 15
    groups = {c["group"] for c in CORPUS}
    assert {"torch", "tensorflow", "keras-tensorflow", "keras-jax", "keras-torch", "jax"} <= groups
    assert {"optax" in c["call"] for c in CORPUS} == {True, False}
    messages = " ".join(c["message"] for c in CORPUS)
    for piece in ("0D or 1D target tensor expected", "Only axis=-1 is currently supported", "target.shape=",
                  "is out of bounds", "expected target dtype to be Long or Byte", "batch_size"):
        assert piece in messages


def test_corpus_matches_its_script() -> None:
    """Every case the collector defines is in the corpus, with the same call and expectation."""
    tree = ast.parse((DATA / "collect_native_errors.py").read_text())
    ids = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "case"
        and isinstance(node.args[0], ast.Constant)
    ]
    assert ids == [c["id"] for c in CORPUS]


def test_a_whole_traceback() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "train.py", line 12, in <module>\n'
        "    loss = criterion(logits, labels)\n"
        '  File ".../torch/nn/modules/loss.py", line 1310, in forward\n'
        "RuntimeError: " + BY_ID["torch-ce-column-labels"]["message"] + "\n"
    )
    d = lk.explain(text)
    assert d.codes == ("column_labels",)
    assert d.message == "RuntimeError: 0D or 1D target tensor expected, multi-target not supported"
    assert "labels.squeeze(-1)" in d.problems[0].fix


def test_headline_keras_message() -> None:
    d = lk.explain("ValueError: Arguments `target` and `output` must have the same shape. "
                   "Received: target.shape=(None, 1), output.shape=(None, 1000)")
    assert d.codes == ("wrong_loss",)
    assert d.spec is not None and d.spec.label_format == "sparse" and d.spec.squeeze
    p = d.problems[0]
    assert "these labels are class ids (shape (None, 1))" in p.message
    assert p.fix == ("keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits); "
                     "or keep the dense loss with lk.one_hot(labels, like=logits); "
                     "or, for any label format, model.compile(loss=labelkit.keras.CrossEntropy())")


def test_tf_label_values_give_the_start_at_1_hint() -> None:
    d = lk.explain(BY_ID["tf-sparse-ids-start-at-1"]["message"])
    assert "The ids run 1..5: did they start at 1?" in d.problems[0].message
    assert d.logits_shape == (None, 5)


@pytest.mark.parametrize(
    ("text", "code", "fix"),
    [
        # Forms from other framework versions or devices (written from their sources, not collected here).
        ("RuntimeError: expected scalar type Long but found Float", "float_ids", "labels.long()"),
        ("RuntimeError: CUDA error: device-side assert triggered", "id_out_of_range", "lk.validate(logits, labels)"),
        ("Assertion `t >= 0 && t < n_classes` failed.", "id_out_of_range", "CUDA_LAUNCH_BLOCKING=1"),
        ("InvalidArgumentError: logits and labels must be same size: logits_size=[32,10] labels_size=[32,1]",
         "wrong_loss", "SparseCategoricalCrossentropy"),
        ("ValueError: logits and labels must have the same shape ((32, 1) vs (32,))", "binary_labels_shape",
         "tf.reshape(labels, tf.shape(logits))"),
        ("RuntimeError: Class values must be non-negative.", "id_out_of_range", "ignore_index"),
        ("ValueError: Only axis=-1 is supported", "wrong_axis", "keras.ops.moveaxis(logits, 1, -1)"),
    ],
)
def test_other_known_forms(text: str, code: str, fix: str) -> None:
    d = lk.explain(text)
    assert d.codes == (code,), str(d)
    assert fix in d.problems[0].fix


def test_native_rejects_when_labelkit_accepts_the_shapes() -> None:
    d = lk.explain("ValueError: `labels.shape` must equal `logits.shape` except for the last dimension. "
                   "Received: labels.shape=(32,) and logits.shape=(32, 10)")
    assert d.codes == ("native_rejects",)
    assert "labelkit accepts labels (32,) for logits (32, 10), but the native loss did not" in d.problems[0].message
    assert "lk.cross_entropy(logits, labels)" in d.problems[0].fix


def test_rank_mismatch_from_optax_ranks() -> None:
    d = lk.explain("ValueError: indices and arr must have the same number of dimensions; 4 vs. 2")
    assert d.codes == ("rank_mismatch",)
    assert "takes class ids of rank 1 (logits.shape[:-1]); these labels have rank 3" in d.problems[0].message


@pytest.mark.parametrize(
    ("text", "framework"),
    [
        ("logits shape (None, 1000) vs labels shape (None, 1)", "numpy"),
        ("my keras model: output (None, 1000), y_true (None, 1) int64", "keras"),
        ("torch: input torch.Size([32, 1000]) and target torch.Size([32, 1])", "torch"),
    ],
)
def test_a_description_of_the_shapes(text: str, framework: str) -> None:
    d = lk.explain(text)
    assert d.logits_shape[-1] == 1000 and d.labels_shape[-1] == 1  # type: ignore[index]
    assert d.codes == ("column_labels",) and d.ok  # labelkit accepts them; a warning explains the natives
    assert d.framework == framework
    assert "a dense loss does not" in d.problems[0].message


def test_unrecognised() -> None:
    d = lk.explain("KeyError: 'learning_rate' (shapes (3, 4) and (4,))")
    assert d.codes == ("unrecognised",) and not d.ok
    assert "It names the shapes (3, 4), (4,), but not which is which." in d.problems[0].message
    assert "lk.diagnose(logits, labels)" in d.problems[0].fix


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("(None, 1000)", (None, 1000)),
        ("(32,)", (32,)),
        ("()", ()),
        ("torch.Size([32, 1])", (32, 1)),
        ("TensorShape([None, 5])", (None, 5)),
        ("[4, 8, 8, 5]", (4, 8, 8, 5)),
        ("(?, 10)", (None, 10)),
    ],
)
def test_parse_shape(text: str, shape: tuple[Any, ...]) -> None:
    assert parse_shape(text) == shape


# --- a message as it is pasted from a terminal ------------------------------------------------------


def _hard_wrapped(text: str) -> str:
    """A pager or terminal that breaks every line at 41 columns, inside words and shapes, and indents."""
    out = []
    for line in text.splitlines():
        chunks = [line[i : i + 41] for i in range(0, len(line), 41)] or [""]
        out += ["    " + c.rstrip() for c in chunks]
    return "\n".join(out)


def _wrapped_at_spaces(text: str) -> str:
    return "\n".join(textwrap.fill(line, 50, initial_indent="  ", subsequent_indent="      ") or ""
                     for line in text.splitlines())


def _coloured(text: str) -> str:
    """ANSI colours as IPython and Python 3.13 print them: the type bold red, numbers and shapes coloured."""
    head, sep, rest = text.partition(": ")
    rest = re.sub(r"\d+", lambda m: f"\x1b[36m{m.group(0)}\x1b[39m", rest)
    return f"\x1b[1;31m{head}\x1b[0m{sep}{rest}\x1b[0m"


def _rich_box(text: str) -> str:
    """A rich traceback: the code in a box, the message wrapped inside a frame of its own."""
    lines = ["╭───────────────── Traceback (most recent call last) ─────────────────╮",
             "│ /home/me/train.py:12 in <module>                                    │",
             "│ ❱ 12 loss = criterion(logits, labels)                               │",
             "╰─────────────────────────────────────────────────────────────────────╯"]
    for line in text.splitlines():
        lines += ["│ " + w.ljust(66) + " │" for w in textwrap.wrap(line, 66)]
    return "\n".join(lines)


def _in_a_traceback(text: str) -> str:
    return ("Traceback (most recent call last):\n  File \"train.py\", line 12, in <module>\n"
            "    loss = criterion(logits, labels)\n" + text + "\n")


TERMINAL = {"hard-wrapped": _hard_wrapped, "wrapped-at-spaces": _wrapped_at_spaces, "coloured": _coloured,
            "rich-box": _rich_box, "in-a-traceback": _in_a_traceback}


@pytest.mark.parametrize("style", list(TERMINAL))
@pytest.mark.parametrize("case_id", list(BY_ID))
def test_corpus_message_pasted_from_a_terminal(case_id: str, style: str) -> None:
    case = BY_ID[case_id]
    expect = case["expect"]
    d = lk.explain(TERMINAL[style](_pasted(case)))
    assert set(expect["codes"]) <= set(d.codes), f"{case['message']}\n{d}"
    if expect["logits_shape"] is not None:
        assert d.logits_shape == tuple(expect["logits_shape"])
        assert d.labels_shape == tuple(expect["labels_shape"])
    assert expect["fix"] in " | ".join(p.fix for p in d.problems)
    assert d.message and "\x1b" not in d.message and "│" not in d.message and "\n" not in d.message


def test_graph_execution_error_alone() -> None:
    # The first line of a TensorFlow graph error: it names no cause, so explain says where the cause is.
    d = lk.explain("InvalidArgumentError: Graph execution error:")
    assert d.codes == ("graph_execution_error",) and not d.ok and d.framework == "tensorflow"
    p = d.problems[0]
    assert "Received a label value" in p.message  # where the cause usually is
    assert "run_eagerly=True" in p.fix and "lk.diagnose" in p.fix
    # With the node it names, the explanation says which op failed.
    d = lk.explain("Graph execution error:\n\nDetected at node compile_loss/sparse_categorical_crossentropy/"
                   "SparseSoftmaxCrossEntropyWithLogits defined at (most recent call last):")
    assert "sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits" in d.problems[0].message


def test_graph_execution_error_with_its_cause_is_the_cause() -> None:
    d = lk.explain(_pasted(BY_ID["keras-tf-fit-scce-id-out-of-range"]))
    assert d.codes == ("id_out_of_range",)
    assert "8 outputs" in d.problems[0].fix


def test_mask_value_255_suggests_ignore_index() -> None:
    d = lk.explain("IndexError: Target 255 is out of bounds.")
    assert d.codes == ("id_out_of_range",)
    assert d.problems[0].fix.startswith("torch.nn.CrossEntropyLoss(ignore_index=255)")
    assert "256 outputs" in d.problems[0].fix  # the other reading, second


# --- labelkit's own messages --------------------------------------------------------------------------

_Z = np.zeros


def _mask_255() -> np.ndarray:
    mask = np.random.default_rng(0).integers(0, 21, size=(2, 4, 4))
    mask[:, 0, :] = 255
    return mask


# id: (the call that raises, the problem code explain must give, a piece of the fix it must give)
OWN: dict[str, tuple[Any, str, str]] = {
    "class-axis-1-fits-axis-minus-1": (lambda: lk.cross_entropy(_Z((2, 3, 5)), _Z((2, 3), int), axis=1),
                                       "wrong_axis", "pass axis=-1"),
    "class-axis-minus-1-fits-axis-1": (lambda: lk.cross_entropy(_Z((2, 5, 3)), _Z((2, 3), int)),
                                       "wrong_axis", "pass axis=1"),
    "class-count": (lambda: lk.cross_entropy(_Z((8, 5)), _Z((8, 2))), "class_count_mismatch", "2 units"),
    "batch-size": (lambda: lk.cross_entropy(_Z((8, 5)), _Z(6, int)), "batch_mismatch", "same batch"),
    "ids-for-a-dense-loss": (lambda: lk.categorical_crossentropy(_Z((8, 5)), _Z(8, int)), "wrong_loss",
                             "lk.sparse_categorical_crossentropy"),
    "rows-for-a-sparse-loss": (lambda: lk.sparse_categorical_crossentropy(_Z((8, 5)), np.eye(5)[[0, 1] * 4]),
                               "wrong_loss", "lk.categorical_crossentropy"),
    "id-out-of-range": (lambda: lk.cross_entropy(_Z((4, 5)), np.array([1, 7, 0, 2])), "id_out_of_range",
                        "at least 8 classes"),
    "mask-255": (lambda: lk.cross_entropy(_Z((2, 21, 4, 4)), _mask_255(), axis=1), "id_out_of_range",
                 "Pass ignore_index=255"),
    "negative-id": (lambda: lk.cross_entropy(_Z((4, 5)), np.array([1, -1, 0, 2])), "id_out_of_range",
                    "pass ignore_index=-1"),
    "non-integral-id": (lambda: lk.cross_entropy(_Z((4, 5)), np.array([1.0, 2.5, 0.0, 4.0])), "non_integral_ids",
                        "Round or cast them"),
    "not-one-hot": (lambda: lk.cross_entropy(_Z((2, 3)), np.array([[1, 1, 0], [0, 1, 0]])), "not_one_hot",
                    "task='multilabel'"),
    "probs-not-normalised": (lambda: lk.cross_entropy(_Z((2, 3)), np.array([[0.2, 0.3, 0], [0, 1, 0]])),
                             "probs_not_normalised", "Normalise the rows"),
    "binary-target-out-of-range": (lambda: lk.cross_entropy(_Z((4, 1)), np.array([0, 3, 1, 0])),
                                   "target_out_of_range", "one column per class"),
    "bad-argument": (lambda: lk.cross_entropy(_Z((4, 5)), np.array([1, 2, 0, 2]), reduction="avg"),
                     "bad_argument", "reduction='mean'"),
}


def _raised(call: Any) -> str:
    with pytest.raises(lk.LabelkitError) as info:
        call()
    return f"{type(info.value).__module__}.{type(info.value).__name__}: {info.value}"


@pytest.mark.parametrize("style", ["as-raised", "hard-wrapped", "in-a-traceback"])
@pytest.mark.parametrize("case_id", list(OWN))
def test_labelkit_own_message(case_id: str, style: str) -> None:
    call, code, fix = OWN[case_id]
    text = _raised(call)
    d = lk.explain(text if style == "as-raised" else TERMINAL[style](text))
    assert not d.ok and "OK" not in str(d).splitlines()[0], str(d)
    assert d.codes[0] == code, str(d)
    assert fix in d.problems[0].fix, str(d)
    assert d.source and d.source.startswith("labelkit")


def test_labelkit_own_shape_message_is_diagnosed_with_its_class_axis() -> None:
    # The message names class axis 1: read with the default axis -1, these shapes would look fine.
    d = lk.explain(_raised(OWN["class-axis-1-fits-axis-minus-1"][0]))
    assert d.logits_shape == (2, 3, 5) and d.labels_shape == (2, 3)
    assert d.spec is None  # they do not fit at axis 1
