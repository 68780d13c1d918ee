"""Inputs at the edge of "an array" (SPEC "Value checks", issue 12): ndarray subclasses are read as plain
ndarrays; NumPy masked arrays with masked entries, and PyTorch's sparse and nested tensors, get a
``LabelkitError`` that names them, from every function that reads arrays, and a problem from
``lk.diagnose`` (which never raises). Each refusal's fix is applied and then gives the right loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import labelkit as lk
import loss_oracle as O
from conftest import backend_named
from loss_helpers import as_f64, assert_close, float_input

pytestmark = [
    pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support:UserWarning"),
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning"),
]

rng = np.random.default_rng(1206)
Z = rng.standard_normal((4, 6)) * 2.0
IDS = np.array([1, 2, 3, 0])
MASKED_IDS = np.ma.array([1, 7, 3, 0], mask=[False, True, False, False])  # 7: out of range, hidden


# --- ndarray subclasses ------------------------------------------------------------------------------


def test_matrix_column_labels_are_plain_column_labels(backend: Any) -> None:
    """np.matrix (N, 1) ids: the loss of the plain (N, 1) ids (issue 12: 1.334 instead of 1.464)."""
    out = lk.cross_entropy(float_input(backend, Z), np.matrix(IDS[:, None]))
    assert_close(as_f64(backend, out), O.sparse(Z, IDS).value)


def test_matrix_logits_are_plain_logits(backend: Any) -> None:
    """np.matrix logits (TypeError from matrix.max(keepdims=...) before), with the backend's labels."""
    labels = backend.to_backend(IDS, backend.default_int)
    out = lk.cross_entropy(np.matrix(Z.astype(np.float32)), labels)
    assert_close(as_f64(get_backend_of(out), out), O.sparse(Z, IDS).value)


def get_backend_of(x: Any) -> Any:
    from conftest import get_backend

    return get_backend(lk.backend_of(x))


def test_matrix_one_hot_has_the_plain_shape(backend: Any) -> None:
    """one_hot of np.matrix column ids: (4, 6), not (1, 6, 4); with like=, the logits' shape."""
    rows = lk.one_hot(np.matrix(IDS[:, None]), 6)
    assert rows.shape == (4, 6) and type(rows) is np.ndarray
    np.testing.assert_array_equal(rows, np.eye(6)[IDS])
    like = lk.one_hot(np.matrix(IDS[:, None]), like=float_input(backend, Z))
    assert tuple(like.shape) == (4, 6)
    np.testing.assert_array_equal(as_f64(backend, like), np.eye(6)[IDS])


def test_matrix_inputs_of_the_other_functions() -> None:
    m_ids, m_rows = np.matrix(IDS[:, None]), np.matrix(np.eye(6)[IDS])
    z = Z.astype(np.float32)
    assert lk.infer(np.matrix(z), m_ids).label_format == "sparse"
    np.testing.assert_array_equal(lk.align(z, m_ids, to="sparse"), IDS)
    np.testing.assert_array_equal(lk.to_sparse(m_rows), IDS)
    assert float(lk.count_valid(np.matrix(z), m_ids)) == 4.0
    assert lk.diagnose(np.matrix(z), m_ids).ok


def test_a_masked_array_without_masked_entries_is_plain(backend: Any) -> None:
    out = lk.cross_entropy(float_input(backend, Z), np.ma.array(IDS, mask=False))
    assert_close(as_f64(backend, out), O.sparse(Z, IDS).value)


# --- masked arrays with masked entries ---------------------------------------------------------------

MASKED_MESSAGE = r"labels: a NumPy masked array with 1 masked entry \(the first at labels\[1\]\)"


@pytest.mark.parametrize("check_values", ["auto", False])
@pytest.mark.parametrize(
    "call",
    ["cross_entropy", "sparse_categorical_crossentropy", "validate", "one_hot_like", "align", "count_valid",
     "accuracy"],
)
def test_masked_labels_are_refused_by_name(backend: Any, call: str, check_values: Any) -> None:
    """Before: validate passed, cross_entropy raised IndexError, and unchecked gave a finite 1.52."""
    z = float_input(backend, Z)
    fn = {
        "cross_entropy": lambda: lk.cross_entropy(z, MASKED_IDS, check_values=check_values),
        "sparse_categorical_crossentropy": lambda: lk.sparse_categorical_crossentropy(
            z, MASKED_IDS, check_values=check_values
        ),
        "validate": lambda: lk.validate(z, MASKED_IDS, check_values=check_values),
        "one_hot_like": lambda: lk.one_hot(MASKED_IDS, like=z, check_values=check_values),
        "align": lambda: lk.align(z, MASKED_IDS, to="one_hot", check_values=check_values),
        "count_valid": lambda: lk.count_valid(z, MASKED_IDS),
        "accuracy": lambda: lk.accuracy(z, MASKED_IDS, check_values=check_values),
    }[call]
    with pytest.raises(lk.LabelValueError, match=MASKED_MESSAGE + r".*labels.filled\(-100\) with ignore_index=-100"):
        fn()


def test_masked_labels_fix_works(backend: Any) -> None:
    """The fix the message names gives the mean over the unmasked elements."""
    out = lk.cross_entropy(float_input(backend, Z), MASKED_IDS.filled(-100), ignore_index=-100)
    assert_close(as_f64(backend, out), O.sparse(Z, np.array([1, -100, 3, 0]), ignore_index=-100).value)


def test_masked_one_hot_without_like_is_refused() -> None:
    with pytest.raises(lk.LabelValueError, match=MASKED_MESSAGE):
        lk.one_hot(MASKED_IDS, 6, check_values=False)


def test_masked_logits_are_refused_by_name() -> None:
    z = np.ma.array(Z.astype(np.float32), mask=np.zeros(Z.shape, bool))
    z.mask[2, 5] = True
    with pytest.raises(lk.LabelValueError, match=r"logits: a NumPy masked array with 1 masked entry \(the first at "
                       r"logits\[2, 5\]\).*logits.filled\(value\)"):
        lk.cross_entropy(z, IDS)


def test_diagnose_reports_masked_labels(backend: Any) -> None:
    d = lk.diagnose(float_input(backend, Z), MASKED_IDS)
    assert not d.ok and d.codes == ("masked_values",)
    assert "labels[1]" in d.problems[0].message and d.problems[0].fix.startswith("labels.filled(-100)")


# --- torch sparse and nested tensors -----------------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> Any:
    return backend_named("torch").module


def _exotic(torch: Any, kind: str, dense: Any) -> Any:
    if kind == "coo":
        return dense.to_sparse()
    if kind == "csr":
        return dense.to_sparse_csr()
    rows = list(dense if dense.dim() > 1 else dense[:, None])  # jagged rows need a dim: column ids
    if kind == "nested":
        return torch.nested.nested_tensor(rows)
    return torch.nested.nested_tensor(rows, layout=torch.jagged)


EXOTIC_MESSAGES = {
    "coo": r"a sparse tensor \(layout torch.sparse_coo\); expected a dense tensor .* Pass {name}.to_dense\(\)",
    "csr": r"a sparse tensor \(layout torch.sparse_csr\); expected a dense tensor .* Pass {name}.to_dense\(\)",
    "nested": r"a nested tensor \(layout torch.strided\); expected a dense tensor of one shape. Pad it: "
    r"torch.nested.to_padded_tensor\({name}, ",
    "jagged": r"a nested tensor \(layout torch.jagged\); expected a dense tensor of one shape. Pad it: "
    r"torch.nested.to_padded_tensor\({name}, ",
}


@pytest.mark.parametrize("kind", list(EXOTIC_MESSAGES))
@pytest.mark.parametrize("which", ["labels-ids", "labels-rows", "logits"])
@pytest.mark.parametrize("check_values", ["auto", False])
def test_torch_sparse_and_nested_tensors_are_refused_by_name(
    torch: Any, kind: str, which: str, check_values: Any
) -> None:
    """Before: a raw NotImplementedError or RuntimeError from inside the framework."""
    if kind == "csr" and which == "labels-ids":
        pytest.skip("CSR tensors are 2-D: no CSR class ids of shape (N,)")
    z = torch.tensor(Z, dtype=torch.float32)
    y = torch.tensor(IDS) if which == "labels-ids" else torch.eye(6)[IDS]
    name = "logits" if which == "logits" else "labels"
    if which == "logits":
        z = _exotic(torch, kind, z)
    else:
        y = _exotic(torch, kind, y)
    with pytest.raises(lk.BackendError, match=f"{name}: " + EXOTIC_MESSAGES[kind].format(name=name)):
        lk.cross_entropy(z, y, check_values=check_values)
    d = lk.diagnose(z, y)
    assert not d.ok and "unsupported_array" in d.codes


@pytest.mark.parametrize("kind", ["coo", "nested", "jagged"])
def test_torch_exotic_ids_in_the_other_functions(torch: Any, kind: str) -> None:
    ids = _exotic(torch, kind, torch.tensor(IDS))
    z = torch.tensor(Z, dtype=torch.float32)
    for call in (
        lambda: lk.one_hot(ids, 6),
        lambda: lk.one_hot(ids, 6, check_values=False),
        lambda: lk.one_hot(ids, like=z),
        lambda: lk.validate(z, ids),
        lambda: lk.align(z, ids, to="one_hot"),
        lambda: lk.count_valid(z, ids),
        lambda: lk.infer(z, ids),
    ):
        with pytest.raises(lk.BackendError, match=r"labels: a (sparse|nested) tensor"):
            call()


def test_torch_sparse_labels_fix_works(torch: Any) -> None:
    """``labels.to_dense()``, as the message says: the loss of the dense labels."""
    y = torch.eye(6)[IDS].to_sparse()
    with pytest.raises(lk.BackendError, match=r"Pass labels.to_dense\(\)"):
        lk.cross_entropy(torch.tensor(Z, dtype=torch.float32), y)
    out = lk.cross_entropy(torch.tensor(Z, dtype=torch.float32), y.to_dense())
    assert_close(float(out), O.sparse(Z, IDS).value)


def test_torch_nested_labels_fix_works(torch: Any) -> None:
    """Sequences of two lengths: padded with -100 and ignore_index=-100 (the message's fix), the loss
    is the mean over the real tokens."""
    z = torch.tensor(rng.standard_normal((2, 3, 6)), dtype=torch.float32)
    ids = [torch.tensor([1, 4, 2]), torch.tensor([5])]
    y = torch.nested.nested_tensor(ids)
    with pytest.raises(lk.BackendError, match=r"Pad it: torch.nested.to_padded_tensor\(labels, -100\) with "
                       r"ignore_index=-100"):
        lk.cross_entropy(z, y)
    out = lk.cross_entropy(z, torch.nested.to_padded_tensor(y, -100), ignore_index=-100)
    padded = np.array([[1, 4, 2], [5, -100, -100]])
    assert_close(float(out), O.sparse(z.numpy().astype(np.float64), padded, ignore_index=-100).value)
