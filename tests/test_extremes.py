"""Numerical extremes (issue 7): huge logits, float16 near its maximum, bfloat16, and C up to 131072.

A loss that is mathematically finite must come out finite, and within float32 rounding of a float64
oracle, on every backend. The oracle is written here, vectorised in float64 NumPy straight from SPEC
"Loss semantics"; it shares nothing with labelkit. float16/bfloat16 logits are compared with the
oracle on the values those dtypes hold (SPEC computes them in float32, so C > 65504 cannot overflow).

The tolerance is float32's own: ``1e-5`` relative plus ``8 * eps32 * max|logit|`` absolute (a logit
of 1e4 is only known to ~1e-3 in float32, so neither can its loss be).
"""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple

import numpy as np
import pytest

import fuzz_cases as F
import labelkit as lk

EPS32 = float(np.finfo(np.float32).eps)


# --- the float64 oracle --------------------------------------------------------------------------


def _log_softmax(x: np.ndarray) -> np.ndarray:
    """Along the last axis; ``-inf`` entries stay ``-inf``, a row's max is shifted out first."""
    m = np.max(np.where(np.isfinite(x), x, -np.inf), axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.sum(np.exp(x - m), axis=-1, keepdims=True)
        return (x - m) - np.log(s)


def oracle_multiclass(x: np.ndarray, t: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Per-element ``-Σ_c t'_c log_softmax(x)_c`` with ``t' = (1-ε) t + ε/C`` (class axis last)."""
    c = x.shape[-1]
    ts = (1.0 - eps) * t + eps / c
    logp = _log_softmax(x)
    with np.errstate(invalid="ignore"):
        return -np.sum(np.where(ts == 0, 0.0, ts * logp), axis=-1)


def oracle_sigmoid(z: np.ndarray, t: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Elementwise ``max(z,0) - z t' + log(1 + exp(-|z|))`` with ``t' = t (1-ε) + ε/2``."""
    ts = t * (1.0 - eps) + eps / 2.0
    return np.maximum(z, 0) - z * ts + np.log1p(np.exp(-np.abs(z)))


# --- the cases -----------------------------------------------------------------------------------


class Extreme(NamedTuple):
    fmt: str  # sparse, one_hot, probs, binary, multilabel
    c: int
    n: int
    dtype: str
    pattern: str
    eps: float = 0.0
    reduction: str = "mean"


def _logits(case: Extreme, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(logits as float64, target ids) for the case's pattern; ids index the class each row aims at."""
    n, c = case.n, case.c
    ids = rng.integers(0, c, size=n)
    rows = np.arange(n)
    p = case.pattern
    if p == "normal":
        x = rng.standard_normal((n, c))
    elif p.startswith("pm"):  # ± a big value, random signs; the target gets the big positive one
        big = float(p[2:])
        x = rng.choice([-big, big], size=(n, c))
        x[rows, ids] = big
        x[rows[: n // 2], (ids[: n // 2] + 1) % c] = big  # ties with the target in half the rows
    elif p == "target_max":  # the target at +3e38, every other class at -3e38
        x = np.full((n, c), -3e38)
        x[rows, ids] = 3e38
    elif p == "target_1e38":  # another class at +3e38, the target at 1e38: loss 2e38, still finite
        x = np.full((n, c), -1e4)
        x[rows, (ids + 1) % c] = 3e38
        x[rows, ids] = 1e38
    elif p == "target_max_vs_1e4":  # with smoothing, every class's log-probability counts: keep them finite
        x = rng.choice([-1e4, 1e4], size=(n, c))
        x[rows, ids] = 3e38
    elif p.startswith("equal"):  # every logit the same: log C exactly
        x = np.full((n, c), float(p[5:] or 0.0))
    elif p == "masked":  # -inf on classes that are not targets (masked classes stay finite)
        x = rng.standard_normal((n, c)) * 1e4
        x[rng.random((n, c)) < 0.5] = -np.inf
        x[rows, ids] = 1.0
    else:
        raise AssertionError(p)
    return x, ids


CASES = {
    # ±1e4 and ±3e38 in float32
    "f32-1e4-sparse-C2": Extreme("sparse", 2, 8, "float32", "pm1e4"),
    "f32-1e4-onehot-C10": Extreme("one_hot", 10, 8, "float32", "pm1e4"),
    "f32-1e4-probs-smoothing": Extreme("probs", 10, 8, "float32", "pm1e4", eps=0.1),
    "f32-1e4-sparse-smoothing": Extreme("sparse", 7, 8, "float32", "pm1e4", eps=0.2),
    "f32-3e38-sparse-target-max": Extreme("sparse", 5, 4, "float32", "target_max"),
    "f32-3e38-onehot-target-max": Extreme("one_hot", 5, 4, "float32", "target_max"),
    "f32-3e38-sparse-loss-2e38": Extreme("sparse", 5, 1, "float32", "target_1e38"),
    "f32-3e38-onehot-loss-2e38-none": Extreme("one_hot", 5, 3, "float32", "target_1e38", reduction="none"),
    "f32-3e38-sparse-smoothing": Extreme("sparse", 5, 4, "float32", "target_max_vs_1e4", eps=0.1),
    "f32-3e38-all-equal": Extreme("sparse", 1000, 2, "float32", "equal3e38"),
    "f32-minus3e38-all-equal": Extreme("one_hot", 1000, 2, "float32", "equal-3e38"),
    "f32-masked-inf-sparse": Extreme("sparse", 10, 6, "float32", "masked"),
    "f32-masked-inf-onehot": Extreme("one_hot", 10, 6, "float32", "masked"),
    "f32-1e4-binary": Extreme("binary", 1, 8, "float32", "pm1e4"),
    "f32-3e38-binary-none": Extreme("binary", 1, 6, "float32", "pm3e38", reduction="none"),
    "f32-3e38-binary-smoothing-none": Extreme("binary", 1, 6, "float32", "pm3e38", eps=0.1, reduction="none"),
    "f32-1e4-multilabel": Extreme("multilabel", 5, 4, "float32", "pm1e4"),
    # float16 near 65504
    "f16-65504-sparse": Extreme("sparse", 10, 8, "float16", "pm65504"),
    "f16-65504-onehot": Extreme("one_hot", 10, 8, "float16", "pm65504"),
    "f16-65504-probs-smoothing": Extreme("probs", 10, 8, "float16", "pm65504", eps=0.1),
    "f16-65504-binary": Extreme("binary", 1, 8, "float16", "pm65504"),
    "f16-65504-multilabel": Extreme("multilabel", 6, 4, "float16", "pm65504"),
    "f16-C131072-equal-sparse": Extreme("sparse", 131072, 2, "float16", "equal"),
    "f16-C131072-equal-onehot": Extreme("one_hot", 131072, 2, "float16", "equal"),
    "f16-C65536-65504": Extreme("sparse", 65536, 2, "float16", "pm65504"),
    # bfloat16
    "bf16-3e38-sparse-target-max": Extreme("sparse", 5, 4, "bfloat16", "target_max"),
    "bf16-1e4-probs": Extreme("probs", 100, 4, "bfloat16", "pm1e4"),
    "bf16-1e4-binary": Extreme("binary", 1, 8, "bfloat16", "pm1e4"),
    "bf16-C131072-sparse": Extreme("sparse", 131072, 2, "bfloat16", "normal"),
    "bf16-C131072-onehot-smoothing": Extreme("one_hot", 131072, 2, "bfloat16", "normal", eps=0.1),
    # C from 2 to 131072
    **{f"f32-C{c}-sparse": Extreme("sparse", c, 2, "float32", "pm1e4") for c in (2, 3, 255, 65504, 65505, 131072)},
    **{f"f32-C{c}-onehot": Extreme("one_hot", c, 2, "float32", "normal") for c in (2, 256, 131072)},
}


def _one_hot(ids: np.ndarray, c: int) -> np.ndarray:
    out = np.zeros((ids.size, c))
    out[np.arange(ids.size), ids] = 1.0
    return out


def _build(case: Extreme) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(logits in the case's dtype, labels, logits as held in float64, per-element oracle loss)."""
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x64, ids = _logits(case, rng)
    if case.fmt in ("binary", "multilabel"):
        c = 1 if case.fmt == "binary" else case.c
        x64 = x64[:, :c] if case.fmt == "multilabel" else x64[:, :1] * rng.choice([-1, 1], size=(case.n, 1))
        if case.fmt == "binary" and case.pattern == "pm1e4":
            x64 = rng.choice([-1e4, 1e4, -3.5, 0.0], size=(case.n, 1))
        t = rng.integers(0, 2, size=x64.shape).astype(np.float64)
    logits = F.astype(x64, case.dtype)
    held = np.asarray(F.to_numpy(logits), dtype=np.float64)
    if case.fmt == "sparse":
        labels = ids.astype(np.int64)
        want = oracle_multiclass(held, _one_hot(ids, case.c), case.eps)
    elif case.fmt == "one_hot":
        labels = _one_hot(ids, case.c).astype(np.float32)
        want = oracle_multiclass(held, labels.astype(np.float64), case.eps)
    elif case.fmt == "probs":
        t = _one_hot(ids, case.c) * 0.7 + _one_hot((ids + 3) % case.c, case.c) * 0.3
        labels = t.astype(np.float32)
        want = oracle_multiclass(held, labels.astype(np.float64), case.eps)
    elif case.fmt == "binary":
        labels = t[:, 0].astype(np.float32)
        want = oracle_sigmoid(held[:, 0], t[:, 0], case.eps)
    else:
        labels = t.astype(np.float32)
        want = oracle_sigmoid(held, t, case.eps).mean(axis=-1)
    return logits, labels, held, want


def _reduce(want: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return want
    return np.asarray(want.sum() if reduction == "sum" else want.mean())


FIXED = {"sparse": "sparse_categorical_crossentropy", "one_hot": "categorical_crossentropy",
         "probs": "categorical_crossentropy", "binary": "binary_crossentropy", "multilabel": "binary_crossentropy"}


@pytest.mark.parametrize("fn", ["cross_entropy", "fixed"])
@pytest.mark.parametrize("name", list(CASES))
def test_extreme_logits_give_the_oracle_loss(backend, name, fn):
    case = CASES[name]
    if case.dtype == "bfloat16" and F.BFLOAT16 is None:
        pytest.skip("no bfloat16 (ml_dtypes) installed")
    logits, labels, held, per_element = _build(case)
    want = _reduce(per_element, case.reduction)
    assert np.all(np.isfinite(want)), "the case itself must have a finite loss"
    z = F.place(backend.name, logits)
    y = F.place(backend.name, labels)
    kw: dict[str, Any] = {"reduction": case.reduction, "label_smoothing": case.eps}
    if fn == "cross_entropy":
        out = lk.cross_entropy(z, y, task="multilabel" if case.fmt == "multilabel" else "auto", **kw)
    else:
        out = getattr(lk, FIXED[case.fmt])(z, y, **kw)
    assert F.native_of(out) == backend.name
    got = F.to_numpy(out)
    assert got.dtype == np.float32, f"{case.dtype} logits give a float32 loss, got {got.dtype}"
    got = got.astype(np.float64)
    assert got.shape == want.shape
    assert np.all(np.isfinite(got)), f"a finite loss came out as {got.ravel()[:6]} (oracle {want.ravel()[:6]})"
    finite = held[np.isfinite(held)]
    atol = 8 * EPS32 * (float(np.abs(finite).max()) if finite.size else 0.0) + 1e-6
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


def test_the_cases_cover_the_issue():
    """±1e4 and ±3e38 float32, float16 near 65504, bfloat16, C from 2 to 131072."""
    patterns = {c.pattern for c in CASES.values()}
    assert {"pm1e4", "target_max", "pm65504"} <= patterns
    assert {c.dtype for c in CASES.values()} >= {"float32", "float16", "bfloat16"}
    assert min(c.c for c in CASES.values() if c.fmt != "binary") == 2
    assert max(c.c for c in CASES.values()) == 131072
