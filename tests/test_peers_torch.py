"""labelkit fed PyTorch's own cross-entropy test cases, value and gradient against PyTorch.

The cases come from the generators PyTorch tests itself with (they ship in the torch wheel): the OpInfo
``sample_inputs`` of ``nn.functional.cross_entropy`` and the ModuleInfo inputs of ``nn.CrossEntropyLoss``,
in float32 and float64, drawn with PyTorch's own seed (1234) and a few more. They are generated once, at
collection, in a separate process (``tests/workers/torch_peers_worker.py``: importing
``torch.testing._internal`` loads its own hypothesis profile and freezes ``torch.backends`` flags).

Each OpInfo case ``F.cross_entropy(input, target, **kw)`` runs as ``lk.cross_entropy(input, target,
axis=1, class_weight=kw["weight"], ignore_index=kw.get("ignore_index", -100), ...)``; each ModuleInfo case
``nn.CrossEntropyLoss(**ctor)(input, target)`` as ``labelkit.torch.CrossEntropyLoss(**ctor)(input,
target)``. Both compare the value and the gradient with respect to the input (and to the target when it
is a float tensor) with PyTorch's. Where SPEC departs from PyTorch, the case takes an explicit branch
that asserts both sides (README, "PyTorch" and "Semantic choices"):

* probability targets whose rows do not sum to 1 (the OpInfo draws them from U[0, 1)): PyTorch computes,
  labelkit's value checks raise ``LabelValueError``; with ``check_values=False`` the value is PyTorch's
  formula (the next rule applies on top);
* dense targets with ``weight`` and ``"mean"``: PyTorch divides by N, labelkit by ``Σ_i Σ_c w_c t_ic``;
* every element ignored with ``"mean"``: PyTorch NaN, labelkit 0 with a zero gradient;
* a weighted mean whose ``D = Σ w[y_i]`` is exactly 0: labelkit 0 (PyTorch ±inf or NaN). A negative ``D``
  (PyTorch draws weights from [-9, 9]) is used as it is, so those cases must equal PyTorch.

``LABELKIT_PEER_SEEDS`` (a comma list) replaces the default seeds, e.g. ``LABELKIT_PEER_SEEDS=$(seq -s,
0 99)`` for a long run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import labelkit as lk
from conftest import BACKENDS, EXPLICIT, installed
from subproc import need, run_worker

PYTORCH_SEED = 1234  # what torch.testing._internal.common_utils seeds every test with
SEEDS = tuple(int(s) for s in os.environ.get("LABELKIT_PEER_SEEDS", f"{PYTORCH_SEED},0").split(",") if s.strip())
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}  # (rtol, atol), scaled by the case's conditioning
ROW_TOL = 1e-3  # SPEC: rows must sum to 1 within this


@dataclass(frozen=True)
class Case:
    """One call of PyTorch's generators, as plain data."""

    family: str  # "opinfo" (F.cross_entropy) or "module" (nn.CrossEntropyLoss)
    dtype: str
    seed: int
    desc: str
    input: np.ndarray
    target: np.ndarray
    kwargs: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.family}-{self.dtype}-seed{self.seed}-{self.desc}"

    @property
    def dense(self) -> bool:
        return self.target.dtype.kind == "f"

    @property
    def reduction(self) -> str:
        return self.kwargs.get("reduction", "mean")

    @property
    def ignore_index(self) -> int:
        return self.kwargs.get("ignore_index", -100)


def _opinfo_desc(inp: np.ndarray, target: np.ndarray, kwargs: dict[str, Any]) -> str:
    """A readable name for an OpInfo sample (PyTorch gives them none): shapes, target kind, arguments."""
    parts = ["x".join(map(str, inp.shape)), "probs" if target.dtype.kind == "f" else "ids"]
    for key, value in kwargs.items():
        parts.append("weight" if key == "weight" else f"{key}={value}")
    return "-".join(parts)


def _load_cases() -> tuple[list[Case], str]:
    """PyTorch's cases for every seed, or none (and why) when PyTorch is not tested."""
    if "torch" not in BACKENDS:
        return [], "torch is not among LABELKIT_TEST_BACKENDS"
    if not installed("torch"):
        return [], "torch is not installed"
    report = run_worker("torch_peers_worker.py", ",".join(map(str, SEEDS)), timeout=600)
    cases: list[Case] = []
    for raw in report["cases"]:
        inp = np.asarray(raw["input"], dtype=raw["dtype"]).reshape(raw["input_shape"])
        target = np.asarray(raw["target"], dtype=raw["target_dtype"]).reshape(raw["target_shape"])
        kwargs = dict(raw["kwargs"])
        if kwargs.get("weight") is not None:
            kwargs["weight"] = np.asarray(kwargs["weight"], dtype=raw["dtype"])
        desc = raw["desc"] if raw["family"] == "module" else _opinfo_desc(inp, target, raw["kwargs"])
        cases.append(Case(raw["family"], raw["dtype"], raw["seed"], desc, inp, target, kwargs))
    return cases, ""


CASES, WHY_NONE = _load_cases()
IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS), "two PyTorch cases got the same id"


@pytest.fixture(scope="module")
def torch() -> Any:
    """PyTorch, on one intra-op thread while these tiny cases run: on a busy 2-core machine its thread
    pool's waiting made each call ~20x slower (0.2 s of CPU for 252 cases instead of 5 s)."""
    need("torch")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_pytorch_generators_give_the_cases() -> None:
    """The generators ran and gave both families, both dtypes, every seed (a broken import fails here)."""
    if WHY_NONE and not (EXPLICIT and "torch" in BACKENDS):
        pytest.skip(WHY_NONE)
    need("torch")
    seen = {(c.family, c.dtype, c.seed) for c in CASES}
    assert seen == {(f, d, s) for f in ("opinfo", "module") for d in TOL for s in SEEDS}
    # What PyTorch 2.x generates per dtype and seed: 21 OpInfo samples, 105 ModuleInfo inputs.
    assert sum(c.family == "opinfo" for c in CASES) >= 20 * len(SEEDS) * len(TOL)
    assert sum(c.family == "module" for c in CASES) >= 100 * len(SEEDS) * len(TOL)


# --- running one case on both sides -------------------------------------------------------------


def _tensors(torch: Any, case: Case) -> tuple[Any, Any]:
    """Fresh leaf tensors; a float target takes part in autograd, as in PyTorch's generators."""
    inp = torch.tensor(case.input).requires_grad_(True)
    target = torch.tensor(case.target)
    if case.dense:
        target.requires_grad_(True)
    return inp, target


def _run(torch: Any, case: Case, fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``fn(input, target)``, and the gradients of its sum with respect to the input and the target."""
    inp, target = _tensors(torch, case)
    out = fn(inp, target)
    out.sum().backward()
    t_grad = None if not case.dense else target.grad.double().numpy()
    return out.detach().double().numpy(), inp.grad.double().numpy(), t_grad


def _pytorch(torch: Any, case: Case) -> Any:
    kw = dict(case.kwargs)
    if kw.get("weight") is not None:
        kw["weight"] = torch.tensor(kw["weight"])
    if case.family == "opinfo":
        return lambda inp, target: torch.nn.functional.cross_entropy(inp, target, **kw)
    return torch.nn.CrossEntropyLoss(**kw)


def _labelkit(torch: Any, case: Case, **extra: Any) -> Any:
    kw = dict(case.kwargs)
    weight = None if kw.get("weight") is None else torch.tensor(kw["weight"])
    if case.family == "opinfo":
        return lambda inp, target: lk.cross_entropy(
            inp,
            target,
            axis=1,
            class_weight=weight,
            ignore_index=case.ignore_index,
            reduction=case.reduction,
            label_smoothing=kw.get("label_smoothing", 0.0),
            **extra,
        )
    import labelkit.torch

    if weight is not None:
        kw["weight"] = weight
    return labelkit.torch.CrossEntropyLoss(**kw, **extra)


def _elements(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Per element: the target row ``t`` (one-hot of the id; zero when ignored) and whether it counts."""
    c = case.input.shape[0] if case.input.ndim == 1 else case.input.shape[1]
    if case.dense:
        rows = case.target.astype(np.float64)
        rows = rows.reshape(1, c) if rows.ndim == 1 else np.moveaxis(rows, 1, -1).reshape(-1, c)
        return rows, np.ones(len(rows), dtype=bool)
    ids = case.target.reshape(-1)
    keep = ids != case.ignore_index
    rows = np.zeros((ids.size, c))
    rows[np.flatnonzero(keep), ids[keep]] = 1.0
    return rows, keep


def _denominator(case: Case) -> tuple[float, float]:
    """SPEC's ``D`` of the mean and the conditioning ``Σ|terms| / |D|`` that bounds its rounding."""
    rows, keep = _elements(case)
    weight = case.kwargs.get("weight")
    if weight is None:
        return float(keep.sum()), 1.0
    terms = rows * weight.astype(np.float64)
    d = float(terms.sum())
    return d, (float(np.abs(terms).sum()) / abs(d) if d else 1.0)


def _assert_close(actual: np.ndarray, expected: np.ndarray, case: Case, cond: float, what: str) -> None:
    rtol, atol = TOL[case.dtype]
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, PyTorch {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol * cond, atol=atol * cond * scale, err_msg=what)


# --- the cases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pytorch_case_value_and_gradient(torch: Any, case: Case) -> None:
    rows, keep = _elements(case)
    extra: dict[str, Any] = {}
    if case.dense and not (
        np.all(rows >= 0) and np.allclose(rows.sum(-1), 1.0, rtol=0, atol=ROW_TOL)
    ):
        # PyTorch computes with such rows; labelkit's value checks reject them, and unchecked it computes.
        with pytest.raises(lk.LabelValueError, match="sums to"):
            _labelkit(torch, case)(*_tensors(torch, case))
        extra["check_values"] = False
    value, grad, t_grad = _run(torch, case, _labelkit(torch, case, **extra))
    want, want_grad, want_t_grad = _run(torch, case, _pytorch(torch, case))

    d, cond = _denominator(case)
    n = len(keep)
    if case.reduction == "mean" and not keep.any():
        # Every element ignored: PyTorch 0/0 = NaN; labelkit 0 with a zero gradient.
        assert np.isnan(want), f"PyTorch gave {want} for an all-ignored mean"
        want, want_grad = np.zeros_like(want), np.zeros_like(want_grad)
    elif case.reduction == "mean" and case.kwargs.get("weight") is not None and d == 0.0:
        # D = 0: labelkit 0 with a zero gradient (PyTorch divides by zero).
        want, want_grad = np.zeros_like(want), np.zeros_like(want_grad)
        want_t_grad = None if want_t_grad is None else np.zeros_like(want_t_grad)
    elif case.reduction == "mean" and case.dense and case.kwargs.get("weight") is not None:
        # Dense targets with class weights: PyTorch divides Σ l_i by N, labelkit by D = Σ_i Σ_c w_c t_ic.
        want, want_grad, want_t_grad = want * n / d, want_grad * n / d, want_t_grad * n / d
        # labelkit's D also depends on the targets: d(Σ l / D)/dt = (dΣl/dt) / D - (Σ l / D) w / D.
        weight = case.kwargs["weight"].astype(np.float64)
        w_b = weight if case.target.ndim == 1 else weight.reshape((1, -1) + (1,) * (case.target.ndim - 2))
        want_t_grad = want_t_grad - np.broadcast_to(float(want) * w_b / d, want_t_grad.shape)
    _assert_close(value, want, case, cond, "value")
    _assert_close(grad, want_grad, case, cond, "gradient w.r.t. the input")
    if want_t_grad is not None:
        _assert_close(t_grad, want_t_grad, case, cond, "gradient w.r.t. the target")


DENSE_OPINFO = [c for c in CASES if c.family == "opinfo" and c.dense and c.seed == SEEDS[0]]


@pytest.mark.parametrize("case", DENSE_OPINFO, ids=[c.id for c in DENSE_OPINFO])
def test_pytorch_probability_case_with_ignore_index_raises_on_both(torch: Any, case: Case) -> None:
    """PyTorch's generator skips ``ignore_index`` with probability targets because PyTorch raises for it;
    labelkit raises an ``ArgumentError`` (SPEC: ``ignore_index`` has no meaning for dense rows)."""
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        torch.nn.functional.cross_entropy(*_tensors(torch, case), ignore_index=1)
    with pytest.raises(lk.ArgumentError, match="ignore_index"):
        lk.cross_entropy(*_tensors(torch, case), axis=1, ignore_index=1, check_values=False)
