"""labelkit fed optax's own classification test cases (``optax/losses/_classification_test.py``).

Ported: the inputs and expected values of ``SoftmaxCrossEntropyTest``, ``SafeSoftmaxCrossEntropyTest``,
``SoftmaxCrossEntropyWithIntegerLabelsTest`` and ``SigmoidCrossEntropyTest`` (``test_scalar``,
``test_batched``, ``test_consistent_with_softmax_cross_entropy_*``, ``test_gradient`` through
``jax.test_util.check_grads``, ``test_against_plain_implementation``, ``test_axis`` and the ten
``test_sigmoid_cross_entropy`` parameter sets). optax draws ``test_axis``'s inputs unseeded; here they
come from a seeded generator.

Three ways: on every backend (the ``backend`` fixture) against optax's constants, with the gradient
against the float64 oracle; on JAX, eager and under ``jax.jit``, against optax itself (value, and the
gradient with respect to the logits and to dense labels); and optax's ``check_grads`` run on labelkit.

Not ported, because labelkit has no such argument: optax's ``where=`` masks (``test_mask``,
``test_per_logit_mask``; in labelkit a masked class is a ``-inf`` logit, as ``safe_softmax_cross_entropy``
is tested here) and ``test_axes`` (several class axes at once; labelkit takes one ``axis``).

Differences, each asserted explicitly (README "Semantic choices"):

* optax reads the id ``-1`` as class ``C-1``; labelkit raises ``LabelValueError`` eagerly and gives NaN
  under ``jax.jit``;
* optax 0.2.8's integer-labels loss raises for ``(N, 1)`` ids, and ``softmax_cross_entropy`` broadcasts
  them into a wrong loss; labelkit reads them as the ``(N,)`` ids;
* ``safe_softmax_cross_entropy`` with a ``-inf`` logit: the target gradient there is ``inf``/NaN in
  optax, 0 in labelkit (SPEC: 0 only where ``p_c = -inf``); where target mass sits on the ``-inf`` logit
  the loss is ``inf`` on both, and labelkit gives it a zero gradient (optax: the softmax gradient);
* ``test_axis`` moves the class axis of targets that sum to 1 along the last axis only: labelkit's value
  checks reject such rows; unchecked it computes optax's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from conftest import backend_named
from loss_helpers import as_f64, float_input, value_and_grad
from subproc import need

# --- optax's cases -------------------------------------------------------------------------------

YS = np.array([[10.0, 1.0, -2.0], [1.0, 4.0, 0.2]], dtype=np.float32)
TS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=np.float32)
EXP = np.array([9.00013, 3.0696733], dtype=np.float32)
INT_TS = np.array([1, 0], dtype=np.int32)

SAFE_YS = np.array(
    [[10.0, 1.0, -2.0], [1.0, 4.0, 0.2], [-np.inf, 0.0, 0.0], [-np.inf, 0.0, 0.0], [-np.inf, 0.0, -np.inf]],
    dtype=np.float32,
)
SAFE_TS = np.array(
    [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.4, 0.3, 0.3], [0.0, 1.0, 0.0]], dtype=np.float32
)
SAFE_EXP = np.array([9.00013, 3.0696733, 0.693147, np.inf, 0.0], dtype=np.float32)
SAFE_INF_ROW = 3  # target mass 0.4 on the -inf logit: an infinite loss

# SigmoidCrossEntropyTest's ten parameter sets: (preds, labels, expected mean).
SIGMOID = [
    ([-1e09, -1e-09], [1.0, 0.0], 5e08),
    ([-1e09, -1e-09], [0.0, 1.0], 0.3465736),
    ([1e09, 1e-09], [1.0, 0.0], 0.3465736),
    ([1e09, 1e-09], [0.0, 1.0], 5e08),
    ([-1e09, 1e-09], [1.0, 0.0], 5e08),
    ([-1e09, 1e-09], [0.0, 1.0], 0.3465736),
    ([1e09, -1e-09], [1.0, 0.0], 0.3465736),
    ([1e09, -1e-09], [0.0, 1.0], 5e08),
    ([0.0, 0.0], [1.0, 0.0], 0.6931472),
    ([0.0, 0.0], [0.0, 1.0], 0.6931472),
]


@dataclass(frozen=True)
class Case:
    """One ported assertion: labelkit's call, optax's call and optax's expected value."""

    name: str
    optax_fn: str  # the optax function the case tests
    logits: np.ndarray
    labels: np.ndarray
    expected: np.ndarray | None  # optax's constant; None where optax compares with a moved axis
    rtol: float = 0.0
    atol: float = 1e-4
    kw: dict[str, Any] = field(default_factory=dict)  # labelkit's arguments
    optax_kw: dict[str, Any] = field(default_factory=dict)
    reduction: str = "none"  # optax returns one loss per example; the sigmoid test takes the mean

    @property
    def dense(self) -> bool:
        return self.labels.dtype.kind == "f"

    @property
    def rows_valid(self) -> bool:
        """The dense labels are probability rows along labelkit's class axis (what its checks ask)."""
        if not self.dense:
            return True
        rows = np.moveaxis(self.labels, self.kw.get("axis", -1), -1)
        return bool(np.all(rows >= 0) and np.allclose(rows.sum(-1), 1.0, rtol=0, atol=1e-3))


def _axis_cases() -> list[Case]:
    cases = []
    shape = (4, 5, 6)
    for axis in range(3):
        rng = np.random.default_rng(axis)
        preds = rng.normal(size=shape)
        targets = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
        cases.append(Case(f"softmax_cross_entropy-axis{axis}", "softmax_cross_entropy", preds, targets, None,
                          kw={"axis": axis}, optax_kw={"axis": axis}))
        ids = rng.integers(shape[axis], size=shape[:axis] + shape[axis + 1 :])
        cases.append(Case(f"integer_labels-axis{axis}", "softmax_cross_entropy_with_integer_labels", preds, ids,
                          None, kw={"axis": axis}, optax_kw={"axis": axis}))
    return cases


CASES = [
    Case("softmax_cross_entropy-scalar", "softmax_cross_entropy", YS[0], TS[0], EXP[0], kw={"task": "multiclass"}),
    Case("softmax_cross_entropy-batched", "softmax_cross_entropy", YS, TS, EXP),
    Case("safe_softmax_cross_entropy-scalar", "safe_softmax_cross_entropy", SAFE_YS[0], SAFE_TS[0], SAFE_EXP[0],
         kw={"task": "multiclass"}),
    Case("safe_softmax_cross_entropy-batched", "safe_softmax_cross_entropy", SAFE_YS, SAFE_TS, SAFE_EXP),
    # optax's expected value here is softmax_cross_entropy with one-hot rows (rtol 1e-6): EXP.
    Case("integer_labels-scalar", "softmax_cross_entropy_with_integer_labels", YS[0], INT_TS[0], EXP[0],
         rtol=1e-6, atol=0.0, kw={"task": "multiclass"}),
    Case("integer_labels-batched", "softmax_cross_entropy_with_integer_labels", YS, INT_TS, EXP, rtol=1e-6,
         atol=0.0),
    *[
        Case(f"sigmoid_binary_cross_entropy-{i}", "sigmoid_binary_cross_entropy", np.array(p), np.array(t),
             np.float64(e), rtol=1e-6, atol=1e-6, reduction="mean")
        for i, (p, t, e) in enumerate(SIGMOID)
    ],
    *_axis_cases(),
]
IDS = [c.name for c in CASES]


def _lk(case: Case, **extra: Any) -> Any:
    kw = {**case.kw, **extra}
    return lambda z, t: lk.cross_entropy(z, t, reduction=case.reduction, **kw)


def _oracle(case: Case, logits: np.ndarray, labels: np.ndarray) -> O.Result:
    """The float64 oracle on the inputs labelkit saw (float32 on JAX without x64)."""
    axis = case.kw.get("axis", -1)
    if case.optax_fn == "sigmoid_binary_cross_entropy":
        return O.binary(logits, labels, reduction=case.reduction)
    if logits.ndim == 1:  # one example (task="multiclass"): the oracle sees a batch of one
        r = _oracle(case, logits.reshape(1, -1), labels.reshape(1, -1) if case.dense else labels.reshape(1))
        return O.Result(r.value.reshape(()), r.grad.reshape(logits.shape))
    if case.dense:
        return O.multiclass(logits, labels, axis=axis, reduction=case.reduction)
    return O.sparse(logits, labels, axis=axis, reduction=case.reduction)


# --- on every backend, against optax's constants and the oracle ------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_optax_case_on_backend(backend: Any, case: Case) -> None:
    z = float_input(backend, case.logits, str(case.logits.dtype))
    t = float_input(backend, case.labels, str(case.labels.dtype)) if case.dense else backend.to_backend(case.labels)
    extra: dict[str, Any] = {}
    if not case.rows_valid:
        # test_axis's targets sum to 1 along the last axis only: labelkit's checks reject them.
        with pytest.raises(lk.LabelValueError, match="sums to"):
            _lk(case)(z, t)
        extra["check_values"] = False
    out, grad = value_and_grad(backend, lambda x: _lk(case, **extra)(x, t), z)
    value = as_f64(backend, out)
    oracle = _oracle(case, as_f64(backend, z), np.asarray(case.labels))
    if case.expected is not None:
        np.testing.assert_allclose(value, case.expected, rtol=case.rtol, atol=case.atol)
    else:
        # optax's own assertion: the loss along `axis` equals the loss with that axis moved last.
        axis = case.kw["axis"]
        moved = np.moveaxis(case.labels, axis, -1) if case.dense else case.labels
        want = lk.cross_entropy(np.moveaxis(as_f64(backend, z), axis, -1), moved, reduction="none", **extra)
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value, oracle.value, rtol=1e-5, atol=1e-6)
    if grad is not None:
        want_grad = oracle.grad
        if case.optax_fn == "safe_softmax_cross_entropy" and case.logits.ndim == 2:
            # An infinite loss (target mass on a -inf logit) has a zero gradient in labelkit; the oracle
            # (like optax) gives the softmax gradient there.
            want_grad = want_grad.copy()
            np.testing.assert_allclose(want_grad[SAFE_INF_ROW], [-0.4, 0.2, 0.2], rtol=1e-6)
            want_grad[SAFE_INF_ROW] = 0.0
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)
    if backend.name == "jax":
        need("jax", "optax")
        _against_optax(case, jit=False)


# --- on JAX, eager and jitted, against optax itself ------------------------------------------------


@pytest.fixture(scope="module")
def jx() -> Any:
    """(jax, optax), imported once."""
    backend_named("jax")
    need("jax", "optax")
    import jax
    import optax

    return jax, optax


def _value_and_grads(jax: Any, fn: Any, z: Any, t: Any, dense: bool, jit: bool) -> tuple[np.ndarray, ...]:
    """``fn(z, t)``, and the gradients of its sum with respect to ``z`` (and ``t`` when dense)."""
    argnums = (0, 1) if dense else (0,)
    total = jax.value_and_grad(lambda a, b: fn(a, b).sum(), argnums=argnums)
    value_fn = jax.jit(fn) if jit else fn
    grads = (jax.jit(total) if jit else total)(z, t)[1]
    return (np.asarray(value_fn(z, t), dtype=np.float64), *(np.asarray(g, dtype=np.float64) for g in grads))


def _against_optax(case: Case, jit: bool) -> None:
    """labelkit and optax on JAX arrays: value, and gradients w.r.t. the logits and dense labels."""
    import jax
    import jax.numpy as jnp
    import optax

    z = jnp.asarray(case.logits, dtype=jnp.float32)
    t = jnp.asarray(case.labels, dtype=jnp.float32) if case.dense else jnp.asarray(case.labels, dtype=jnp.int32)
    peer = getattr(optax, case.optax_fn)
    if case.reduction == "mean":
        theirs_fn = lambda a, b: jnp.mean(peer(a, b, **case.optax_kw))  # noqa: E731
    else:
        theirs_fn = lambda a, b: peer(a, b, **case.optax_kw)  # noqa: E731
    extra = {} if case.rows_valid else {"check_values": False}
    ours = _value_and_grads(jax, _lk(case, **extra), z, t, case.dense, jit)
    theirs = list(_value_and_grads(jax, theirs_fn, z, t, case.dense, jit))
    if case.optax_fn == "safe_softmax_cross_entropy":
        masked = ~np.isfinite(case.logits)
        if case.dense:
            # The target gradient at a -inf logit: optax -log p = inf (NaN at an infinite loss); labelkit 0.
            assert np.all(np.isinf(theirs[2][masked]) | np.isnan(theirs[2][masked]))
            theirs[2] = np.where(masked, 0.0, theirs[2])
        if case.logits.ndim == 2:
            # An infinite loss: optax keeps the softmax gradient, labelkit gives the element none.
            assert np.isinf(theirs[0][SAFE_INF_ROW])
            np.testing.assert_allclose(theirs[1][SAFE_INF_ROW], [-0.4, 0.2, 0.2], rtol=1e-6)
            theirs[1][SAFE_INF_ROW] = 0.0
            theirs[2][SAFE_INF_ROW] = 0.0
    for what, a, b in zip(("value", "gradient w.r.t. logits", "gradient w.r.t. labels"), ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_optax_case_under_jit_against_optax(jx: Any, case: Case) -> None:
    """Both jitted (the eager comparison is part of ``test_optax_case_on_backend[jax-...]``)."""
    _against_optax(case, jit=True)


@pytest.mark.parametrize("case", [c for c in CASES if c.expected is not None and c.logits.ndim == 2],
                         ids=lambda c: c.name)
def test_optax_check_grads_on_labelkit(jx: Any, case: Case) -> None:
    """optax's ``test_gradient``: ``jax.test_util.check_grads`` (finite differences against autodiff) on
    labelkit's loss, with respect to the logits and dense labels. The perturbed labels are not exact
    probability rows, so the checks are off."""
    import jax.numpy as jnp
    import jax.test_util

    if case.optax_fn == "safe_softmax_cross_entropy":
        z, t = jnp.asarray(case.logits[:2]), jnp.asarray(case.labels[:2])  # optax checks the finite rows
    else:
        z = jnp.asarray(case.logits)
        t = jnp.asarray(case.labels) if case.dense else jnp.asarray(case.labels, dtype=jnp.int32)
    if case.dense:
        jax.test_util.check_grads(_lk(case, check_values=False), (z, t), order=1)
    else:
        jax.test_util.check_grads(lambda a: _lk(case)(a, t), (z,), order=1)


def test_safe_softmax_cross_entropy_against_plain_on_a_finite_row(jx: Any) -> None:
    """optax's ``test_against_plain_implementation``: where nothing is ``-inf`` the safe loss is the plain
    one; labelkit (one function for both) equals both, value and gradient."""
    jax, optax = jx
    import jax.numpy as jnp

    z, t = jnp.asarray(SAFE_YS[0]), jnp.asarray(SAFE_TS[0])
    ours = jax.value_and_grad(lambda a: lk.cross_entropy(a, t, task="multiclass", reduction="sum"))(z)
    for peer in (optax.softmax_cross_entropy, optax.safe_softmax_cross_entropy):
        theirs = jax.value_and_grad(lambda a, peer=peer: peer(a, t))(z)
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-6)


# --- the differences ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_optax_reads_minus_one_as_the_last_class_labelkit_does_not(jx: Any, mode: str) -> None:
    jax, optax = jx
    import jax.numpy as jnp

    z, ids = jnp.asarray(YS), jnp.asarray([-1, 0], dtype=jnp.int32)
    wrap = jax.jit(optax.softmax_cross_entropy_with_integer_labels) if mode == "jit" else (
        optax.softmax_cross_entropy_with_integer_labels)
    last = optax.softmax_cross_entropy_with_integer_labels(z, jnp.asarray([2, 0], dtype=jnp.int32))
    np.testing.assert_allclose(wrap(z, ids), last, rtol=1e-6)  # silently class C-1
    np.testing.assert_allclose(last, [12.00013, 3.0696733], rtol=1e-5)
    if mode == "eager":
        with pytest.raises(lk.LabelValueError, match="-1"):
            lk.cross_entropy(z, ids, reduction="none")
    else:
        out = np.asarray(jax.jit(lambda a, b: lk.cross_entropy(a, b, reduction="none"))(z, ids))
        assert np.isnan(out[0]), f"labelkit gave {out[0]} for id -1 under jit"
        np.testing.assert_allclose(out[1], EXP[1], rtol=1e-6)


def test_optax_column_ids_raise_or_broadcast_labelkit_reads_them(jx: Any) -> None:
    """``(N, 1)`` ids: optax 0.2.8's integer-labels loss raises; ``softmax_cross_entropy`` broadcasts them
    into a wrong loss without an error; labelkit gives the loss of the ``(N,)`` ids."""
    _, optax = jx
    import jax.numpy as jnp

    z, column = jnp.asarray(YS), jnp.asarray(INT_TS.reshape(-1, 1))
    with pytest.raises((ValueError, TypeError), match="same number of dimensions"):
        optax.softmax_cross_entropy_with_integer_labels(z, column)
    broadcast = np.asarray(optax.softmax_cross_entropy(z, column))
    np.testing.assert_allclose(broadcast, [21.00039, 0.0], rtol=1e-5, atol=1e-6)  # every class, and none
    np.testing.assert_allclose(lk.cross_entropy(z, column, reduction="none"), EXP, rtol=1e-6)
