"""Fuzzing: arbitrary inputs to every public function, on every backend (issue 7).

Every drawn call ends in one of labelkit's errors (``LabelkitError``, a ``ValueError``/``TypeError``;
or a plain ``TypeError``/``ValueError`` for an argument of a wrong type) or in a result that passes
``tests/fuzz_cases.py``'s judge. A framework's own exception escaping, a finite loss for labels SPEC
calls invalid, or a result that differs from the float64 oracle fails the test.

Budget: ``LABELKIT_FUZZ_EXAMPLES`` examples in all (every test and backend together; default 3000
under the ``ci`` hypothesis profile, 600 otherwise), shared out by the weights below. For a long
run: ``LABELKIT_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import os
import sys

from hypothesis import given, note, settings
from hypothesis import strategies as st

import fuzz_cases as F
import labelkit as lk
from conftest import BACKENDS, EXPLICIT, installed

_PROFILE = settings.get_current_profile_name()
TOTAL = int(os.environ.get("LABELKIT_FUZZ_EXAMPLES", "0") or 0) or (3000 if _PROFILE == "ci" else 600)
_N = max(1, len(BACKENDS))
# Each test's share of TOTAL (the per-backend tests split theirs among the backends).
WEIGHTS = {
    "label_ops": 0.22,
    "losses": 0.25,
    "invalid_labels": 0.15,
    "diagnose": 0.20,
    "not_arrays": 0.10,
    "backend_of": 0.03,
    "explain": 0.05,
}


def budget(name: str, per_backend: bool = True) -> settings:
    n = TOTAL * WEIGHTS[name] / (_N if per_backend else 1)
    return settings(max_examples=max(5, int(n)))


def _other(backend: str) -> str | None:
    """Another framework to take the labels from in the mixed-framework cases."""
    for name in ("torch", "tensorflow", "jax"):
        if name != backend and name in BACKENDS and (EXPLICIT or installed(name)):
            __import__(name)
            return name
    return None


def check(case: F.Case, backend: str) -> F.Outcome:
    note(repr(case))
    outcome = F.run(case, backend, _other(backend) if case.mixed else None)
    if outcome.status == "bug":
        if outcome.exc is not None:
            raise AssertionError(f"{outcome.detail}\n{case!r}") from outcome.exc
        raise AssertionError(f"{outcome.detail}\n{case!r}")
    return outcome


@budget("label_ops")
@given(case=F.cases(fns=F.LABEL_OPS))
def test_fuzz_label_ops(backend, case):
    check(case, backend.name)


@budget("losses")
@given(case=F.cases(fns=(*F.LOSSES, "select_loss")))
def test_fuzz_losses(backend, case):
    check(case, backend.name)


@budget("invalid_labels")
@given(case=F.cases(kinds=F.INVALID_LABEL_KINDS, fns=F.LOSSES))
def test_invalid_labels_never_give_a_finite_loss(backend, case):
    """Eager, ``check_values="auto"``: labels SPEC calls invalid raise, never a finite loss."""
    case.args.pop("check_values", None)
    check(case, backend.name)


@budget("diagnose")
@given(case=F.cases(fns=("diagnose",)))
def test_diagnose_never_raises_on_user_data(backend, case):
    """Only a nonsense keyword value (an ``ArgumentError``) may make ``diagnose`` raise."""
    check(case, backend.name)


@budget("not_arrays")
@given(case=F.cases(kinds=("not_arrays", "mixed_frameworks", "kwargs", "dtypes", "shapes"), fns=F.FUNCTIONS))
def test_fuzz_wrong_arguments(backend, case):
    check(case, backend.name)


@budget("backend_of")
@given(x=st.one_of(F.any_array(), st.sampled_from(F.NOT_ARRAYS)))
def test_fuzz_backend_of(backend, x):
    x = F.place(backend.name, x)
    try:
        name = lk.backend_of(x)
    except lk.BackendError:
        return
    assert name == F.native_of(x) or (name == "numpy" and F.native_of(x) not in ("torch", "tensorflow", "jax"))


@budget("explain", per_backend=False)
@given(text=F.explain_texts())
def test_explain_never_raises(text):
    case = F.Case("text", "explain", {"text": text}, ("text",))
    outcome = F.run(case, "numpy")
    assert outcome.status == "ok", f"{outcome.detail}\n{text!r}"


def test_the_budget_is_shared_out():
    """The fuzz tests together draw about TOTAL examples."""
    per_backend = sum(w for k, w in WEIGHTS.items() if k != "explain")
    assert abs(per_backend + WEIGHTS["explain"] - 1.0) < 1e-9
    assert "hypothesis" in sys.modules
