"""Dense rows (one-hot or probability rows of the logits' shape) at native speed, with the same results.

The value checks of clean rows read one verdict (the smallest entry and the row sums), and build masks
only once it fails, which then say what they said before, at the same first offending element. The
loss of concrete host arrays takes the plain product ``-Σ_c w_c t_c p_c`` when every element's loss is
finite (no -inf log-probability), and the masked formula otherwise, on a device and while tracing: the
values and gradients of both are checked against the float64 oracle (tests/loss_oracle.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from labelkit._dispatch import get_backend
from labelkit.errors import LabelValueError
from loss_helpers import as_f64, assert_close, float_input, value_and_grad

rng = np.random.default_rng(13)


def _reads(monkeypatch: pytest.MonkeyPatch, x: Any) -> list[str]:
    """Records every host read labelkit's backend for ``x`` makes (``to_bool``, ``to_numpy``, ``to_list``)."""
    b = type(get_backend(x))
    seen: list[str] = []
    for name in ("to_bool", "to_numpy", "to_list"):
        original = getattr(b, name)

        def counted(self: Any, *args: Any, _name: str = name, _f: Any = original, **kw: Any) -> Any:
            seen.append(_name)
            return _f(self, *args, **kw)

        monkeypatch.setattr(b, name, counted)
    return seen


CLEAN_ROWS = {
    "one-hot-float32": lambda: (np.eye(5)[[0, 3, 4, 1]], "float32"),
    "probabilities-float32": lambda: (np.full((4, 5), 0.2), "float32"),
    "one-hot-float16": lambda: (np.eye(5)[[2, 2, 0, 1]], "float16"),
    "one-hot-int32": lambda: (np.eye(5)[[0, 3, 4, 1]], "int32"),
    "one-hot-uint8": lambda: (np.eye(5)[[0, 3, 4, 1]], "uint8"),
    "one-hot-bool": lambda: (np.eye(5)[[0, 3, 4, 1]], "bool"),
}


@pytest.mark.parametrize("case", list(CLEAN_ROWS))
def test_clean_rows_are_checked_with_one_read(backend: Any, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finite, ≥ 0 and summing to 1: one host read for the three rules (it was one per rule)."""
    rows, dtype = CLEAN_ROWS[case]()
    y = backend.to_backend(rows.astype(dtype))
    seen = _reads(monkeypatch, y)
    ids = lk.to_sparse(y, check_values=True)
    assert seen == ["to_bool"]
    np.testing.assert_array_equal(backend.to_numpy(ids), rows.argmax(-1))


BAD_ROWS = {
    # name: (rows, dtype, the message's start) — the first offending element, as the full checks say it
    "nan": ([[1.0, 0.0, 0.0], [0.0, np.nan, 1.0]], "float32", "labels[1, 1] is nan; labels must be finite"),
    "inf": ([[1.0, 0.0, 0.0], [0.0, np.inf, 1.0]], "float32", "labels[1, 1] is inf; labels must be finite"),
    "minus-inf": ([[1.0, -np.inf, 0.0], [0.0, 0.0, 1.0]], "float32", "labels[0, 1] is -inf; labels must be finite"),
    "inf-minus-inf": ([[np.inf, -np.inf, 0.0], [0.0, 0.0, 1.0]], "float32", "labels[0, 0] is inf"),
    # a row summing to 1 with a negative entry: only the smallest entry sees it
    "negative-summing-to-1": (
        [[1.0, 0.0, 0.0], [0.5, 0.5005, -0.0005]], "float32", "labels[1, 2] is -0.0005; one-hot and probability"
    ),
    "nan-after-negative": ([[1.5, -0.5, 0.0], [np.nan, 0.0, 1.0]], "float32", "labels[1, 0] is nan"),
    "sum-off": ([[1.0, 0.0, 0.0], [0.3, 0.3, 0.3]], "float32", "labels row (1,) sums to 0.9"),
    "float16-3e-3-off": ([[1.0, 0.0, 0.0], [0.5, 0.25, 0.2529]], "float16", "labels row (1,) sums to 1.00"),
    "int-two-ones": ([[1, 0, 0], [1, 1, 0]], "int32", "labels row (1,) has 2 ones along axis 1"),
    "int-negative": ([[1, 0, 0], [2, -1, 0]], "int32", "labels[1, 1] is -1; one-hot and probability"),
    "bool-zero-row": ([[True, False, False], [False, False, False]], "bool", "labels row (1,) is all zeros"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_rows_keep_their_message_and_position(backend: Any, case: str) -> None:
    rows, dtype, start = BAD_ROWS[case]
    y = backend.to_backend(np.asarray(rows).astype(dtype))
    z = backend.to_backend(np.zeros((2, 3), "float32"))
    with pytest.raises(LabelValueError) as err:
        lk.cross_entropy(z, y, check_values=True)
    assert str(err.value).startswith(start), str(err.value)


def _mixed_logits(masked: bool) -> tuple[np.ndarray, np.ndarray]:
    """Logits (6, 4) and probability rows with zero targets; ``masked``: a -inf logit in rows 1 and 4,
    where the target is 0."""
    z = rng.standard_normal((6, 4)) * 3
    t = rng.dirichlet(np.ones(4), size=6)
    t[:, 2] = 0.0
    t /= t.sum(-1, keepdims=True)
    if masked:
        z[[1, 4], 2] = -np.inf
    return z, t


CASES = {
    "mean": {},
    "sum": {"reduction": "sum"},
    "none": {"reduction": "none"},
    "weights-mean": {"class_weight": [0.5, 2.0, 1.0, 1.5]},
    "weights-smoothing-sum": {"class_weight": [0.5, 2.0, 1.0, 1.5], "label_smoothing": 0.1, "reduction": "sum"},
}


@pytest.mark.parametrize("masked", [False, True], ids=["finite", "masked-class"])
@pytest.mark.parametrize("case", list(CASES))
def test_dense_loss_and_logit_gradient_match_the_oracle(backend: Any, case: str, masked: bool) -> None:
    kw = CASES[case]
    z_np, t_np = _mixed_logits(masked)
    if masked and "label_smoothing" in kw:
        pytest.skip("smoothing puts target mass on the masked class: an infinite loss (next test)")
    t = float_input(backend, t_np)
    out, grad = value_and_grad(backend, lambda z: lk.cross_entropy(z, t, **kw), float_input(backend, z_np))
    want = O.multiclass(z_np, t_np, **kw)
    assert np.all(np.isfinite(as_f64(backend, out)))
    assert_close(as_f64(backend, out), want.value, what="value")
    if grad is not None:
        assert_close(grad, want.grad, what="logit gradient")


@pytest.mark.parametrize("masked", [False, True], ids=["finite", "masked-class"])
def test_dense_label_gradient_matches_the_oracle(backend: Any, masked: bool) -> None:
    """The natives' -w_c p_c for every target, zero targets included; 0 only where p_c = -inf (a sum: a
    weighted mean's D = Σ w·t adds its own term)."""
    if backend.name == "numpy":
        pytest.skip("NumPy has no autodiff")
    z_np, t_np = _mixed_logits(masked)
    kw = {"class_weight": [0.5, 2.0, 1.0, 1.5], "reduction": "sum"}
    z = float_input(backend, z_np)
    _, grad = value_and_grad(backend, lambda t: lk.cross_entropy(z, t, **kw), float_input(backend, t_np))
    assert grad is not None
    assert_close(grad, O.multiclass_target_grad(z_np, t_np, **kw), what="label gradient")
    if masked:
        assert np.all(grad[[1, 4], 2] == 0.0)
    assert np.all(grad[[0, 2, 3, 5], 2] != 0.0)  # zero targets at finite logits keep the natives' gradient


def test_mass_on_a_masked_class_gives_inf_without_gradient(backend: Any) -> None:
    z_np, t_np = _mixed_logits(masked=True)
    t_np[1] = [0.0, 0.5, 0.5, 0.0]  # half of row 1's target on its -inf class
    t = float_input(backend, t_np)
    out, grad = value_and_grad(backend, lambda z: lk.cross_entropy(z, t, reduction="none"), float_input(backend, z_np))
    losses = as_f64(backend, out)
    assert losses[1] == np.inf
    others = [0, 2, 3, 4, 5]
    assert_close(losses[others], O.multiclass(z_np, t_np, reduction="none").value[others], what="other rows")
    if grad is not None:
        assert np.all(grad[1] == 0.0)
        assert np.all(np.isfinite(grad))


def test_finite_host_rows_build_no_mask(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Concrete rows in host memory with finite losses: the plain product, no -inf mask over (*S, C)."""
    z_np, t_np = _mixed_logits(masked=False)
    z, t = float_input(backend, z_np), float_input(backend, t_np)
    b = type(get_backend(z))
    if not get_backend(z).on_host(z):
        pytest.skip("arrays on a device: the masked formula, without a host read")
    wheres: list[Any] = []
    original = b.where

    def counted(self: Any, cond: Any, *args: Any) -> Any:
        wheres.append(self.shape(cond))
        return original(self, cond, *args)

    monkeypatch.setattr(b, "where", counted)
    out = lk.cross_entropy(z, t, check_values=False, reduction="none")
    assert (6, 4) not in wheres
    assert_close(as_f64(backend, out), O.multiclass(z_np, t_np, reduction="none").value, what="value")


def _traced(backend: Any, fn: Any) -> Any:
    """``fn`` compiled by the framework (``jax.jit``, ``tf.function``); ``torch.func.grad`` traces on PyTorch."""
    if backend.name == "jax":
        import jax

        return jax.jit(fn)
    if backend.name == "tensorflow":
        return backend.module.function(fn)
    pytest.skip(f"{backend.name}: covered by test_losses_tracing")


def test_masked_classes_stay_finite_while_tracing(backend: Any) -> None:
    z_np, t_np = _mixed_logits(masked=True)
    z, t = float_input(backend, z_np), float_input(backend, t_np)
    out = _traced(backend, lambda z, t: lk.cross_entropy(z, t, reduction="none"))(z, t)
    assert_close(as_f64(backend, out), O.multiclass(z_np, t_np, reduction="none").value, what="traced")
