"""``label_validity``: the value checks read element by element, for code that cannot raise.

``labelkit.keras.CrossEntropy`` uses it where JAX's ``jit`` (or XLA) cannot raise, to give the elements
whose labels fail a check a NaN loss. It must mark exactly the elements that ``check_labels`` would
raise on — the same rules, never restated — on every backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import labelkit as lk
from labelkit._checks import label_validity
from labelkit._ops import prepare

C = 4
# name: (labels, kwargs, the elements that fail). Logits are (3, C) unless the labels say otherwise.
CASES: dict[str, tuple[Any, dict[str, Any], list[bool]]] = {
    "ids-valid": (np.array([0, 3, 1]), {}, [False, False, False]),
    "ids-out-of-range": (np.array([0, 4, -1]), {}, [False, True, True]),
    "ids-ignored": (np.array([0, -100, 5]), {"ignore_index": -100}, [False, False, True]),
    "column-float-ids": (np.array([[0.0], [1.5], [np.nan]], "float32"), {}, [False, True, True]),
    "one-hot-valid": (np.eye(C, dtype="float32")[[0, 2, 3]], {}, [False, False, False]),
    "multi-hot-rows": (np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], "float32"), {}, [True, False, True]),
    "probs-negative": (np.array([[0.5, 0.5, 0, 0], [1.5, -0.5, 0, 0], [0.25] * 4], "float32"), {},
                       [False, True, False]),
    "multilabel-out-of-range": (np.array([[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]], "float32"),
                                {"task": "multilabel"}, [False, True, False]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_label_validity_marks_what_the_checks_reject(backend: Any, case: str) -> None:
    labels, kw, failing = CASES[case]
    logits = backend.to_backend(np.zeros((3, C), "float32"))
    y = backend.to_backend(labels)
    ignore_index = kw.get("ignore_index")
    p = prepare(logits, y, task=kw.get("task", "auto"), ignore_index=ignore_index, check_values=False)
    valid = label_validity(p.backend, p.spec, p.labels, ignore_index=ignore_index)
    assert valid is not None
    assert backend.to_numpy(valid).tolist() == [not f for f in failing]
    # The same verdict as the checks that raise: each failing element alone raises, the others pass.
    for i, bad in enumerate(failing):
        one = backend.to_backend(labels[i : i + 1])
        row_logits = backend.to_backend(np.zeros((1, C), "float32"))
        if bad:
            with pytest.raises(lk.LabelValueError):
                lk.validate(row_logits, one, **kw)
        else:
            lk.validate(row_logits, one, **kw)
