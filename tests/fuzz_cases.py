"""Fuzz cases for every public function, and the judge of what a call gave (issue 7).

Shared by ``tests/test_fuzz.py`` (hypothesis, a budget per run) and ``tests/reliability.py`` (the
reliability table). A case is drawn as NumPy arrays and plain Python values, backend-free; ``run``
places it on one backend and calls the function, and ``judge`` says what came out:

* ``"error"``: labelkit refused the input with one of its errors (``LabelkitError``: a ``ValueError`` or
  ``TypeError``), or — for arguments of a wrong type only — a plain ``TypeError``/``ValueError``;
* ``"ok"``: a result, and it passed every check that applies (its framework; no finite loss for labels
  SPEC calls invalid; the float64 oracle where the labels are valid and the logits finite);
* ``"bug"``: anything else — a framework's own exception escaping (``IndexError``, ``RuntimeError``,
  ``InvalidArgumentError``, a JAX error...), or a result that is wrong.

The validity of labels is decided here by an independent NumPy predicate (``labels_valid``), from
SPEC "Value checks"; the format by ``tests/oracle.py`` and the loss by ``tests/loss_oracle.py``.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

import labelkit as lk
import loss_oracle
import oracle
from labelkit.errors import LabelkitError

try:  # bfloat16 as a NumPy dtype comes with JAX and TensorFlow
    import ml_dtypes

    BFLOAT16: Any = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    BFLOAT16 = None

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float16", "float32", "float64") + (("bfloat16",) if BFLOAT16 is not None else ())
REAL_DTYPES = ("bool", *INT_DTYPES, *FLOAT_DTYPES)
ODD_DTYPES = ("complex64", "complex128", "object", "str", "bytes")
ALL_DTYPES = REAL_DTYPES + ODD_DTYPES

FORMATS = ("sparse", "column", "one_hot", "probs", "multilabel", "binary", "binary1")

# The kinds of input tried: one row each in the reliability table.
KINDS = {
    "valid": "valid labels of every format, dtype and class axis",
    "ids_out_of_range": "sparse ids >= C, negative, -100, dtype extremes, 2**40",
    "non_integral_ids": "float ids that are not whole numbers",
    "nonfinite_labels": "NaN / ±inf in labels of any format",
    "bad_rows": "rows not one-hot / not summing to 1 / negative; targets outside [0, 1]",
    "nonfinite_logits": "NaN, ±inf and ±3e38 logits with valid labels",
    "shapes": "arbitrary shapes, ranks 0-4, zero-size dims (mostly mismatched)",
    "zero_size": "fitting shapes with a zero-size batch or class axis",
    "dtypes": "complex, object, string, bytes, uint16-64, float16, bfloat16, bool and int logits",
    "kwargs": "nonsense keyword values (task, axis, ignore_index, num_classes, reduction...)",
    "not_arrays": "None, dicts, strings, ragged lists, objects instead of arrays",
    "mixed_frameworks": "logits and labels of two different frameworks",
}
INVALID_LABEL_KINDS = ("ids_out_of_range", "non_integral_ids", "nonfinite_labels", "bad_rows")

LOSSES = ("cross_entropy", "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")
LABEL_OPS = ("infer", "validate", "one_hot", "squeeze", "to_sparse", "align", "count_valid")
FUNCTIONS = (*LABEL_OPS, "select_loss", *LOSSES, "diagnose", "backend_of")

# Few distinct sizes: JAX compiles each op once per shape and dtype.
SIDES = (0, 1, 2, 3)
CLASSES = (1, 2, 3, 5)


def np_dtype(name: str) -> Any:
    if name == "bfloat16":
        return BFLOAT16
    if name == "str":
        return np.dtype("U4")
    if name == "bytes":
        return np.dtype("S4")
    return np.dtype(name)


def astype(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` cast to the dtype ``name`` (strings and objects hold the numbers' text / the numbers)."""
    a = np.asarray(a)
    if name in ("str", "bytes"):
        return a.astype(np.float64).round(3).astype(np_dtype(name))
    if name == "object":
        return a.astype(object)
    with np.errstate(all="ignore"):
        if a.dtype.kind == "f" and np_dtype(name).kind in "iu":
            a = np.asarray(np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0))  # NaN -> int: undefined
        if BFLOAT16 is not None and np_dtype(name) == BFLOAT16:
            return a.astype(np.float32).astype(BFLOAT16)
        return a.astype(np_dtype(name))


# --- the cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One call: the function, its arguments (NumPy/Python values), and what is known about them."""

    kind: str
    fn: str
    args: dict[str, Any]  # by parameter name, in call order; positional ones first
    positional: tuple[str, ...]
    fmt: str = ""  # the format the labels were drawn as ("" when not one)
    axis: int = -1
    task: str = "auto"
    ignore_index: Any = None
    host: tuple[str, ...] = ()  # arguments left as NumPy arrays / lists with framework logits
    mixed: bool = False  # labels of another framework than the logits
    followups: tuple[str, ...] = ()  # select_loss: what to call on the LossChoice
    nonsense: tuple[str, ...] = ()  # keyword arguments given nonsense values

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, np.ndarray):
                vals = v.ravel()[:12].tolist()
                more = "..." if v.size > 12 else ""
                return f"array(shape={v.shape}, dtype={v.dtype}, values={vals}{more})"
            return repr(v)

        args = ", ".join(f"{k}={show(v)}" for k, v in self.args.items())
        extra = f" host={self.host}" if self.host else ""
        extra += " mixed" if self.mixed else ""
        extra += f" then {self.followups}" if self.followups else ""
        return f"Case[{self.kind}/{self.fmt or '-'}] lk.{self.fn}({args}){extra}"


@dataclass
class Pair:
    """Logits and labels of one format (NumPy), with their class axis, task and ignore id."""

    fmt: str
    logits: np.ndarray
    labels: np.ndarray
    axis: int = -1
    task: str = "auto"
    ignore_index: int | None = None

    @property
    def c(self) -> int:
        nd = self.logits.ndim
        if self.fmt.startswith("binary") or not -nd <= self.axis < nd:
            return 2
        return int(self.logits.shape[self.axis])


def _rng(draw: Any) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _logits(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    return astype(rng.standard_normal(shape) * 3, dtype)


@st.composite
def pairs(draw: Any, formats: tuple[str, ...] = FORMATS, zero: bool = True) -> Pair:
    """A valid pair of any format: batch rank 0-3 (zero-size dims when ``zero``), class axis anywhere."""
    rng = _rng(draw)
    fmt = draw(st.sampled_from(formats))
    sides = SIDES if zero else SIDES[1:]
    rank = draw(st.integers(0 if fmt not in ("binary1",) else 1, 3))
    s = tuple(draw(st.sampled_from(sides)) for _ in range(rank))
    logits_dtype = draw(st.sampled_from(("float32", "float32", "float64", "float16", *FLOAT_DTYPES[3:])))
    if fmt == "binary1":  # rank-1 logits (N,), labels (N,) or (N, 1)
        s = s[:1]
        logits = _logits(rng, s, logits_dtype)
        targets = rng.integers(0, 2, size=s).astype(np.float64)
        if draw(st.booleans()):
            targets = np.round(rng.uniform(0, 1, size=s), 2)
        labels = targets[:, None] if draw(st.booleans()) else targets
        dtype = draw(st.sampled_from(("float32", "float64", "int64", "int32", "uint8", "bool", "float16")))
        if dtype in ("bool", "int64", "int32", "uint8"):
            labels = np.round(labels)
        return Pair("binary", logits, astype(labels, dtype), -1, draw(st.sampled_from(("auto", "binary"))))
    if fmt == "binary" and rank == 0:
        s = (draw(st.sampled_from(sides)),)  # (1,) logits are rank 1: N = 1 logits, never one with C = 1
        rank = 1
    c = 1 if fmt == "binary" else draw(st.sampled_from(CLASSES[1:]))
    ax = draw(st.integers(0, len(s)))  # where the class axis stands in the logits
    axis = ax if ax != len(s) or draw(st.booleans()) else -1
    if axis >= 0 and draw(st.booleans()):
        axis = ax - (len(s) + 1)  # the same axis, counted from the end
    full = s[:ax] + (c,) + s[ax:]
    logits = _logits(rng, full, logits_dtype)
    task = "auto"
    if fmt in ("sparse", "column"):
        dtype = draw(st.sampled_from(("int64", "int64", "int32", "int8", "int16", "uint8", "uint16", "uint32",
                                      "uint64", "bool", "float32", "float64", "float16")))
        hi = 2 if dtype == "bool" else c
        ids = rng.integers(0, hi, size=s)
        ignore = None
        if dtype != "bool" and draw(st.booleans()):
            # Some no id can hold: beyond int32 (JAX without x64), beyond int64, negative for unsigned ids.
            ignore = draw(st.sampled_from((-100, -1, 255, 7, 2**40, 2**70, -(2**63))))
            fits = ignore == _as_dtype_value(ignore, dtype)
            if rank and ids.size and fits:
                ids[rng.random(s) < 0.3] = ignore
        labels = ids if fmt == "sparse" else np.expand_dims(ids, ax)
        if rank == 0:
            task = "multiclass"  # (C,) logits and a scalar id: rank-1 logits are binary under "auto"
        return Pair(fmt, logits, astype(labels, dtype), axis, task, ignore)
    if fmt == "binary":
        targets = rng.integers(0, 2, size=s).astype(np.float64)
        if draw(st.booleans()):
            targets = np.round(rng.uniform(0, 1, size=s), 2)
        labels = np.expand_dims(targets, ax) if draw(st.booleans()) else targets
        dtype = draw(st.sampled_from(("float32", "float64", "int64", "uint8", "bool", "float16")))
        if dtype in ("bool", "int64", "uint8"):
            labels = np.round(labels)
        return Pair("binary", logits, astype(labels, dtype), axis, draw(st.sampled_from(("auto", "binary"))))
    moved = s + (c,)
    if fmt == "one_hot":
        rows = np.eye(c)[rng.integers(0, c, size=s)]
        dtype = draw(st.sampled_from(("float32", "float64", "int64", "int32", "uint8", "bool", "float16")))
    elif fmt == "probs":
        rows = rng.integers(0, 5, size=moved).astype(np.float64)
        rows[..., 0] += 1
        rows = rows / rows.sum(-1, keepdims=True)
        dtype = draw(st.sampled_from(("float32", "float64")))
    else:
        rows = rng.integers(0, 2, size=moved).astype(np.float64)
        if draw(st.booleans()):
            rows = np.round(rng.uniform(0, 1, size=moved), 2)
        dtype = draw(st.sampled_from(("float32", "float64", "int64", "uint8", "bool")))
        if dtype in ("bool", "int64", "uint8"):
            rows = np.round(rows)
        task = "multilabel"
    if rank == 0 and task == "auto":
        task = "multiclass"
    labels = np.moveaxis(rows, -1, ax)
    return Pair(fmt, logits, astype(labels, dtype), axis, task)


def _as_dtype_value(v: int, dtype: str) -> Any:
    """``v`` as an id of ``dtype`` holds it (``None`` when it cannot)."""
    with np.errstate(all="ignore"):
        if dtype.startswith(("float", "bfloat")):
            return v if abs(v) <= 2**24 else None
        info = np.iinfo(dtype)
        return v if info.min <= v <= info.max else None


def _positions(rng: np.random.Generator, shape: tuple[int, ...]) -> Any:
    """A boolean mask with at least one element set (when there is one)."""
    mask = rng.random(shape) < 0.3
    if mask.size and not mask.any():
        mask.flat[rng.integers(mask.size)] = True
    return mask


BAD_IDS = (-1, -100, -7, 5, 6, 100, 255, 256, 2**31 - 1, 2**31, 2**32 + 1, 2**40, 2**62, -(2**62), 2**63 - 1)


@st.composite
def mutated(draw: Any, kind: str) -> Pair:
    """A pair whose labels (or logits) carry the bad input of ``kind``."""
    rng = _rng(draw)
    if kind == "ids_out_of_range":
        p = draw(pairs(("sparse", "column")))
        dtype = p.labels.dtype.name
        bad = draw(st.sampled_from(BAD_IDS + (p.c, p.c + 1)))
        ids = p.labels.astype(np.float64) if dtype.startswith(("float", "bfloat")) else p.labels.astype(object)
        ids = np.array(ids)
        mask = _positions(rng, ids.shape)
        ids[mask] = bad
        if dtype == "bool":
            dtype = draw(st.sampled_from(("int64", "int8", "uint8")))
        if dtype.startswith(("float", "bfloat")):
            p.labels = astype(ids, dtype)
        else:
            info = np.iinfo(dtype)
            wrapped = np.array([int(v) if info.min <= int(v) <= info.max else int(v) % (info.max - info.min + 1)
                                + info.min for v in ids.ravel()], dtype=object).reshape(ids.shape)
            p.labels = wrapped.astype(np.int64 if dtype != "uint64" else np.uint64).astype(dtype)
        if draw(st.booleans()):
            p.ignore_index = draw(st.sampled_from((None, -1, -100, bad if abs(bad) < 2**62 else None)))
        return p
    if kind == "non_integral_ids":
        p = draw(pairs(("sparse", "column")))
        dtype = draw(st.sampled_from(("float32", "float64", "float16", *FLOAT_DTYPES[3:])))
        ids = p.labels.astype(np.float64)
        ids[_positions(rng, ids.shape)] += draw(st.sampled_from((0.5, 0.25, 1e-3, -0.5, 0.75)))
        p.labels = astype(ids, dtype)
        return p
    if kind == "nonfinite_labels":
        p = draw(pairs())
        dtype = p.labels.dtype.name if p.labels.dtype.kind == "f" else draw(st.sampled_from(("float32", "float64")))
        y = p.labels.astype(np.float64)
        y[_positions(rng, y.shape)] = draw(st.sampled_from((np.nan, np.inf, -np.inf)))
        p.labels = astype(y, dtype)
        return p
    if kind == "bad_rows":
        p = draw(pairs(("one_hot", "probs", "multilabel", "binary", "binary1")))
        y = p.labels.astype(np.float64)
        how = draw(st.sampled_from(("double", "zero", "negative", "perturb", "two_ones", "big")))
        mask = _positions(rng, y.shape)
        if how == "double":
            y[mask] *= 2
            y[mask & (y == 0)] = 2
        elif how == "zero":
            y[...] = 0
        elif how == "negative":
            y[mask] = -1
        elif how == "perturb":
            y[mask] += 0.01
        elif how == "two_ones":
            y[mask] = 1
        else:
            y[mask] = 3
        kind_y = p.labels.dtype.kind
        dtype = p.labels.dtype.name
        if (kind_y in "bu" and (y < 0).any()) or (kind_y == "b" and (y > 1).any()):
            dtype = "int64"
        if kind_y in "iu" and not np.all(y == np.round(y)):
            dtype = "float32"
        p.labels = astype(y, dtype)
        return p
    if kind == "nonfinite_logits":
        p = draw(pairs(zero=False))
        x = p.logits.astype(np.float64)
        bad = draw(st.sampled_from((np.nan, np.inf, -np.inf, 3e38, -3e38, 1e30, -1e4, 65504.0)))
        mask = _positions(rng, x.shape)
        if draw(st.booleans()):
            x[mask] = bad
        else:
            x[...] = bad  # every logit
        dtype = p.logits.dtype.name
        p.logits = astype(x, dtype)
        return p
    if kind == "zero_size":
        return draw(pairs()) if draw(st.booleans()) else _zero_pair(draw(pairs()), rng)
    raise AssertionError(kind)


def _zero_pair(p: Pair, rng: np.random.Generator) -> Pair:
    """``p`` with its first batch axis (or, failing that, the class axis) emptied."""
    x, y = p.logits, p.labels
    if x.ndim >= 1:
        ax = p.axis % x.ndim if x.ndim else 0
        k = 0 if ax != 0 or x.ndim == 1 else min(1, x.ndim - 1)
        x = np.take(x, np.arange(0), axis=k)
        yk = k if y.ndim == x.ndim or k < ax or (p.fmt == "binary" and y.ndim == x.ndim) else k - (k > ax)
        if y.ndim and yk < y.ndim:
            y = np.take(y, np.arange(0), axis=yk)
    return Pair(p.fmt, x, y, p.axis, p.task, p.ignore_index)


@st.composite
def any_array(draw: Any, max_rank: int = 4, dtypes: tuple[str, ...] = ALL_DTYPES) -> np.ndarray:
    """Any array: rank 0-4, zero-size dims, any dtype, with NaN, ±inf, huge and negative values."""
    rng = _rng(draw)
    rank = draw(st.integers(0, max_rank))
    shape = tuple(draw(st.sampled_from((0, 1, 2, 3, 5))) for _ in range(rank))
    pool = np.array([0, 1, 2, 3, 4, -1, -100, 0.5, np.nan, np.inf, -np.inf, 1e30, -3e38, 2**40, 7, 65504])
    values = rng.choice(pool, size=shape) if draw(st.booleans()) else rng.standard_normal(shape)
    return astype(values, draw(st.sampled_from(dtypes)))


# --- keyword arguments ---------------------------------------------------------------------------

NONSENSE = {
    "task": ("softmax", "", None, 3, "MULTICLASS", ["auto"]),
    "axis": (7, -9, 1.5, "1", None, True, (0, 1), 2**80),
    "ignore_index": (1.5, "x", True, [1], float("nan"), 2**80, -(2**63) - 1),
    "num_classes": (0, -1, 1.5, "3", True, [3], 2**80, 2**62, 2**40, 2**31),
    "check_values": ("yes", 1, None, "strict"),
    "reduction": ("avg", None, "MEAN", 0),
    "label_smoothing": (-0.1, 1.5, float("nan"), float("inf"), "0.1", None, [0.1], True),
    "class_weight": ("heavy", [1.0], [[1.0, 2.0]], [float("nan"), 1, 1, 1, 1], [], {"a": 1}, [1, "x"],
                     np.ones((2, 2))),
    "from_logits": ("yes", None, 2, [True]),
    "to": ("dense", None, "onehot", 1),
    "dtype": ("nope", 3.5, "complex64", "str", "object", None),
    "loss": ("mse", 3, "SPARSE", ""),
    "framework": ("mxnet", 3, ""),
    "logits_dtype": ("nope", 3.5),
    "labels_dtype": ("nope", 3.5),
}

# The keywords each function takes (beyond its arrays).
KEYWORDS = {
    "infer": ("task", "axis"),
    "validate": ("task", "axis", "num_classes", "ignore_index", "check_values"),
    "one_hot": ("num_classes", "axis", "dtype", "ignore_index", "check_values"),
    "squeeze": (),
    "to_sparse": ("axis", "check_values"),
    "align": ("to", "task", "axis", "ignore_index", "check_values"),
    "select_loss": ("task", "from_logits", "axis"),
    "cross_entropy": ("task", "from_logits", "axis", "label_smoothing", "class_weight", "ignore_index",
                      "reduction", "check_values"),
    "sparse_categorical_crossentropy": ("from_logits", "axis", "label_smoothing", "class_weight", "ignore_index",
                                        "reduction", "check_values"),
    "categorical_crossentropy": ("from_logits", "axis", "label_smoothing", "class_weight", "reduction",
                                 "check_values"),
    "binary_crossentropy": ("from_logits", "axis", "label_smoothing", "class_weight", "reduction", "check_values"),
    "diagnose": ("task", "axis", "ignore_index", "num_classes", "loss", "framework", "logits_dtype", "labels_dtype"),
    "count_valid": ("task", "axis", "class_weight", "ignore_index"),
    "backend_of": (),
}


def _class_weight(draw: Any, rng: np.random.Generator, p: Pair, fn: str) -> Any:
    """C weights (2 for binary) for ``p``."""
    n = 2 if p.fmt.startswith("binary") else p.c
    w = np.round(rng.uniform(0.1, 3.0, size=n), 2)
    form = draw(st.sampled_from(("list", "numpy", "backend")))
    return w.tolist() if form == "list" else (w if form == "numpy" else ("__backend__", w))


@st.composite
def keywords(draw: Any, fn: str, p: Pair, nonsense: bool) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Sensible keyword values for ``fn`` on ``p`` (some left out), and with ``nonsense`` one or two
    replaced by values no function accepts."""
    rng = _rng(draw)
    names = KEYWORDS[fn]
    kw: dict[str, Any] = {}
    for name in names:
        if name == "task" and (p.task != "auto" or draw(st.booleans())):
            kw["task"] = p.task
        elif name == "axis" and (p.axis != -1 or draw(st.booleans())):
            kw["axis"] = p.axis
        elif name == "ignore_index" and (p.ignore_index is not None or draw(st.booleans())):
            kw["ignore_index"] = p.ignore_index
        elif name == "num_classes" and draw(st.booleans()):
            kw["num_classes"] = p.c if fn != "diagnose" or draw(st.booleans()) else None
        elif name == "check_values" and draw(st.booleans()):
            kw["check_values"] = draw(st.sampled_from(("auto", True, False)))
        elif name == "reduction" and draw(st.booleans()):
            kw["reduction"] = draw(st.sampled_from(("mean", "sum", "none")))
        elif name == "label_smoothing" and draw(st.booleans()):
            kw["label_smoothing"] = draw(st.sampled_from((0.0, 0.1, 0.5, 1.0)))
        elif name == "class_weight" and draw(st.integers(0, 3)) == 0:
            kw["class_weight"] = _class_weight(draw, rng, p, fn)
        elif name == "from_logits" and draw(st.integers(0, 3)) == 0:
            kw["from_logits"] = False
        elif name == "to":
            kw["to"] = draw(st.sampled_from(("sparse", "one_hot")))
        elif name == "dtype" and draw(st.booleans()):
            kw["dtype"] = draw(st.sampled_from(("float32", "float64", "int32", "bool", "float16", "uint8")))
        elif name == "loss" and draw(st.booleans()):
            kw["loss"] = draw(st.sampled_from(("sparse_categorical_crossentropy", "categorical_crossentropy",
                                               "binary_crossentropy", "dense", "sparse")))
        elif name == "framework" and draw(st.booleans()):
            kw["framework"] = draw(st.sampled_from(("numpy", "torch", "tensorflow", "keras", "jax", "pytorch")))
    if fn == "one_hot":
        kw.setdefault("num_classes", p.c)
    for name in ("axis", "num_classes", "ignore_index"):  # NumPy integers are integers too
        if isinstance(kw.get(name), int) and abs(kw[name]) < 2**31 and draw(st.integers(0, 4)) == 0:
            kw[name] = draw(st.sampled_from((np.int64, np.int32, np.intp)))(kw[name])
    bad: tuple[str, ...] = ()
    if nonsense and names:
        bad = tuple(draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)))
        for name in bad:
            kw[name] = draw(st.sampled_from(NONSENSE[name]))
    return kw, bad


# --- building a call ------------------------------------------------------------------------------

NOT_ARRAYS = (None, "labels", b"\x93NUMPY", {"a": 1}, object(), [[1, 2], [3]], {1, 2}, 1j, Ellipsis,
              [["a", "b"]], [None, 1], (1, "x"), range(3), np.float64(np.nan), [[[]]], [1, [2]])


def _call(draw: Any, kind: str, fn: str, p: Pair) -> Case:
    x, y = p.logits, p.labels
    nonsense = kind == "kwargs"
    if fn == "one_hot":
        with_like = draw(st.booleans())
        kw, bad = draw(keywords(fn, p, nonsense))
        if with_like:
            if "num_classes" not in bad and draw(st.booleans()):
                kw.pop("num_classes", None)
            args = {"labels": y, **kw, "like": x}
        else:
            if "axis" in kw and "axis" not in bad:
                kw["axis"] = draw(st.sampled_from((-1, 0, 1, p.axis)))
            args = {"labels": y, **kw}
        positional: tuple[str, ...] = ("labels",)
    elif fn == "squeeze":
        args, positional, bad = {"labels": y, "like": x}, ("labels", "like"), ()
    elif fn == "to_sparse":
        kw, bad = draw(keywords(fn, p, nonsense))
        args, positional = {"labels": y, **kw}, ("labels",)
    elif fn == "backend_of":
        args, positional, bad = {"x": draw(st.sampled_from((x, y)))}, ("x",), ()
    else:
        kw, bad = draw(keywords(fn, p, nonsense))
        lx: Any = x
        ly: Any = y
        if fn == "diagnose" and draw(st.integers(0, 3)) == 0:  # shapes alone, with None dims
            lx = tuple(None if draw(st.integers(0, 3)) == 0 else d for d in x.shape)
            ly = tuple(None if draw(st.integers(0, 3)) == 0 else d for d in y.shape)
            if draw(st.booleans()):
                kw["labels_dtype"] = y.dtype.name if y.dtype.kind in "biuf" else "int64"
        args, positional = {"logits": lx, "labels": ly, **kw}, ("logits", "labels")
    host: tuple[str, ...] = ()
    if draw(st.integers(0, 3)) == 0:
        host = tuple(n for n in ("labels", "class_weight") if n in args and draw(st.booleans()))
    followups: tuple[str, ...] = ()
    if fn == "select_loss":
        followups = tuple(draw(st.lists(st.sampled_from(("call", "prepare", "explain", "repr")), min_size=1,
                                        max_size=3, unique=True)))
    return Case(kind, fn, args, positional, p.fmt, p.axis, p.task, p.ignore_index, host, False, followups, bad)


@st.composite
def cases(draw: Any, kinds: tuple[str, ...] = tuple(KINDS), fns: tuple[str, ...] = FUNCTIONS) -> Case:
    """One call of one of ``fns`` on an input of one of ``kinds``."""
    kind = draw(st.sampled_from(kinds))
    fn = draw(st.sampled_from(fns))
    return draw(case_of(kind, fn))


@st.composite
def case_of(draw: Any, kind: str, fn: str) -> Case:
    rng = _rng(draw)
    if kind in ("valid", "kwargs", "mixed_frameworks"):
        p = draw(pairs())
        if kind == "valid" and fn in LOSSES + ("select_loss",) and draw(st.integers(0, 4)) == 0:
            # probabilities for from_logits=False
            p.logits = astype(rng.uniform(0.01, 1.0, size=p.logits.shape), p.logits.dtype.name)
        case = _call(draw, kind, fn, p)
        case.mixed = kind == "mixed_frameworks"
        return case
    if kind in INVALID_LABEL_KINDS or kind in ("nonfinite_logits", "zero_size"):
        return _call(draw, kind, fn, draw(mutated(kind)))
    if kind == "shapes":
        x = draw(any_array(dtypes=("float32", "float32", "float64", "int64", "float16")))
        y = draw(any_array(dtypes=("int64", "int64", "float32", "int32", "uint8", "bool")))
        p = Pair("", x, y, draw(st.sampled_from((-1, -1, 0, 1, 2, 3, -2))), draw(st.sampled_from(
            ("auto", "auto", "multiclass", "binary", "multilabel"))), draw(st.sampled_from((None, -100, 0))))
        return _call(draw, kind, fn, p)
    if kind == "dtypes":
        p = draw(pairs())
        which = draw(st.sampled_from(("labels", "logits", "both")))
        if which in ("labels", "both"):
            p.labels = astype(p.labels, draw(st.sampled_from(ALL_DTYPES)))
        if which in ("logits", "both"):
            p.logits = astype(p.logits, draw(st.sampled_from(ALL_DTYPES)))
        return _call(draw, kind, fn, p)
    if kind == "not_arrays":
        p = draw(pairs())
        case = _call(draw, kind, fn, p)
        names = [n for n in ("logits", "labels", "like", "x") if n in case.args]
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
            case.args[name] = draw(st.sampled_from(NOT_ARRAYS))
        return case
    raise AssertionError(kind)


TEXTS = (
    "RuntimeError: 0D or 1D target tensor expected, multi-target not supported",
    "IndexError: Target {a} is out of bounds.",
    "ValueError: Arguments `target` and `output` must have the same shape. Received: target.shape=({a}, {b}), "
    "output.shape=({c}, {d})",
    "InvalidArgumentError: Received a label value of {a} which is outside the valid range of [0, {b}).",
    "logits and labels must have the same first dimension, got logits shape [{a},{b}] and labels shape [{c}]",
    "ValueError: Expected input batch_size ({a}) to match target batch_size ({b}).",
    "TypeError: mul got incompatible shapes for broadcasting: ({a}, {b}), ({c}, {d}).",
    "logits (None, {a}) vs labels (None, {b})",
    "Incompatible shapes: [{a},{b}] vs. [{c},{d}]",
    "torch.Size([{a}, {b}]) torch.Size([{c}])",
)


@st.composite
def explain_texts(draw: Any) -> str:
    """Framework error messages with odd numbers in them, fragments of them, and arbitrary text."""
    how = draw(st.sampled_from(("template", "template", "fragment", "text")))
    if how == "text":
        return draw(st.text(max_size=200))
    dims = st.sampled_from(("0", "1", "-1", "None", "?", "2", "1000", "99999999999999999999", "", "1e5", "-100"))
    text = draw(st.sampled_from(TEXTS)).format(a=draw(dims), b=draw(dims), c=draw(dims), d=draw(dims))
    if how == "fragment":
        i, j = sorted((draw(st.integers(0, len(text))), draw(st.integers(0, len(text)))))
        text = text[i:j] if draw(st.booleans()) else text[:i] + draw(st.text(max_size=20)) + text[j:]
    return text


# --- placing a case on a backend ------------------------------------------------------------------


def framework(name: str) -> Any:
    if name == "numpy":
        return np
    if name == "jax":
        import jax.numpy as jnp

        return jnp
    return sys.modules.get(name) or __import__(name)


def _jax_holds(a: np.ndarray) -> np.ndarray | None:
    """The dtype JAX gives ``a`` (without x64), or ``None`` when the values would change in it."""
    import jax

    if jax.config.jax_enable_x64:
        return a
    narrow = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}.get(a.dtype.name)
    if narrow is None:
        return a
    with np.errstate(all="ignore"):
        b = a.astype(narrow)
        same = np.array_equal(b.astype(a.dtype), a, equal_nan=a.dtype.kind in "fc")
    return b if same else None


def place(backend: str, a: Any) -> Any:
    """``a`` (a NumPy array) as an array of ``backend`` where that framework can hold it unchanged;
    otherwise ``a`` itself (NumPy input with framework logits: labelkit converts it)."""
    if not isinstance(a, np.ndarray) or backend == "numpy":
        return a.copy() if isinstance(a, np.ndarray) else a
    bf16 = BFLOAT16 is not None and a.dtype == BFLOAT16
    if a.dtype.kind in "OUSV" and not bf16:
        if backend == "tensorflow" and a.dtype.kind in "US":
            return framework("tensorflow").constant(a)  # a tf.string tensor
        return a
    if backend == "torch":
        torch = framework("torch")
        if bf16:
            return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
        try:
            return torch.from_numpy(a.copy())
        except TypeError:
            return a
    if backend == "tensorflow":
        tf = framework("tensorflow")
        if bf16:
            return tf.cast(tf.convert_to_tensor(a.astype(np.float32)), tf.bfloat16)
        return tf.convert_to_tensor(a)
    if backend == "jax":
        held = _jax_holds(a)
        if held is None:
            return a
        return framework("jax").asarray(held)
    raise AssertionError(backend)


def to_numpy(x: Any) -> np.ndarray:
    """A result of any backend as NumPy (bfloat16 as float32)."""
    mod = type(x).__module__
    if mod.startswith("torch"):
        x = x.detach()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        return x.cpu().numpy()
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    x = np.asarray(x)
    if BFLOAT16 is not None and x.dtype == BFLOAT16:
        x = x.astype(np.float32)
    return x


def native_of(x: Any) -> str:
    """The backend name of a result, by its type."""
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    mod = type(x).__module__.partition(".")[0]
    return {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jax"}.get(mod, mod)


@dataclass
class Placed:
    args: dict[str, Any]
    positional: tuple[str, ...]
    call_backend: str  # the framework the result must be in


def placed(case: Case, backend: str, other: str | None = None) -> Placed:
    """The case's arguments on ``backend`` (labels on ``other`` when the case mixes frameworks)."""
    out: dict[str, Any] = {}
    for name, value in case.args.items():
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "__backend__":
            value = value[1] if "class_weight" in case.host else place(backend, value[1])
        elif isinstance(value, np.ndarray) and name not in case.host:
            value = place(other if (case.mixed and name == "labels" and other) else backend, value)
        elif isinstance(value, np.ndarray) and name in case.host and value.dtype.kind in "biuf":
            value = value.tolist() if value.dtype != BFLOAT16 and value.ndim and 0 < value.size < 64 else value
        out[name] = value
    frameworks = {native_of(v) for v in out.values() if native_of(v) in ("torch", "tensorflow", "jax")}
    call_backend = frameworks.pop() if len(frameworks) == 1 else ("numpy" if not frameworks else "mixed")
    return Placed(out, case.positional, call_backend)


# --- running and judging --------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # "error", "ok", "bug"
    detail: str = ""
    exc: BaseException | None = field(default=None, repr=False)


def _kw_arrays(pl: Placed) -> tuple[list[Any], dict[str, Any]]:
    pos = [pl.args[n] for n in pl.positional]
    kw = {k: v for k, v in pl.args.items() if k not in pl.positional}
    return pos, kw


def call(case: Case, pl: Placed) -> Any:
    pos, kw = _kw_arrays(pl)
    if case.fn == "select_loss":
        choice = lk.select_loss(*pos, **kw)
        out = {"choice": choice}
        for f in case.followups:
            if f == "call":
                ignore = {"ignore_index": case.ignore_index} if choice.name.startswith("sparse") else {}
                out["call"] = choice(pos[0], pos[1], **ignore)
            elif f == "prepare":
                out["prepare"] = choice.prepare(pos[1])
            elif f == "explain":
                out["explain"] = choice.explain()
            else:
                out["repr"] = repr(choice) + str(choice.spec)
        return out
    if case.fn == "explain":
        return lk.explain(*pos, **kw)
    return getattr(lk, case.fn)(*pos, **kw)


def exception_outcome(case: Case, exc: BaseException) -> Outcome:
    if isinstance(exc, LabelkitError):
        if not isinstance(exc, (ValueError, TypeError)):
            return Outcome("bug", f"{type(exc).__name__} is not a ValueError/TypeError", exc)
        if not str(exc).strip():
            return Outcome("bug", f"{type(exc).__name__} with an empty message", exc)
        return Outcome("error", type(exc).__name__, exc)
    if case.fn == "diagnose" or case.fn == "explain":
        return Outcome("bug", f"diagnose/explain raised {type(exc).__name__}: {exc}", exc)
    wrong_type = case.kind in ("kwargs", "not_arrays")
    if type(exc) in (TypeError, ValueError) and wrong_type and not _raised_by_a_framework(exc):
        return Outcome("error", f"plain {type(exc).__name__}", exc)
    return Outcome("bug", f"{type(exc).__module__}.{type(exc).__name__} escaped: {str(exc)[:300]}", exc)


def must_succeed(case: Case) -> bool:
    """A valid pair handed to a function that takes its format: refusing it is a bug."""
    if case.kind != "valid":
        return False
    fn, fmt = case.fn, case.fmt
    if fn in ("infer", "validate", "cross_entropy", "select_loss", "count_valid", "diagnose", "backend_of"):
        return True
    if fn == "align":
        return not (case.args.get("to") == "sparse" and fmt == "multilabel")
    if fn == "sparse_categorical_crossentropy":
        return fmt in ("sparse", "column")
    if fn == "categorical_crossentropy":
        return fmt in ("one_hot", "probs")
    if fn == "binary_crossentropy":  # rank-1 logits (N,) are binary for it, whatever the pair was drawn as
        logits = case.args.get("logits")
        return fmt == "binary" or (fmt == "multilabel" and getattr(logits, "ndim", 0) >= 2)
    if fn == "one_hot":
        return fmt in ("sparse", "column") and "like" in case.args and "num_classes" not in case.args
    if fn == "to_sparse":
        return fmt in ("one_hot", "probs")
    return False


_FRAMEWORK_DIRS = ("numpy", "torch", "tensorflow", "jax", "jaxlib", "keras", "ml_dtypes", "optax")


def _raised_by_a_framework(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is in a framework's (or NumPy's) own code."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    if last is None:
        return False
    parts = last.replace("\\", "/").split("/")
    return "site-packages" in parts and parts[parts.index("site-packages") + 1] in _FRAMEWORK_DIRS


def run(case: Case, backend: str, other: str | None = None) -> Outcome:
    """Places ``case`` on ``backend``, calls it, and judges the result."""
    pl = placed(case, backend, other)
    try:
        result = call(case, pl)
    except lk.LabelkitError as exc:
        if must_succeed(case) and not (case.mixed and isinstance(exc, lk.BackendError)):
            return Outcome("bug", f"valid input refused: {type(exc).__name__}: {str(exc)[:300]}", exc)
        return exception_outcome(case, exc)
    except Exception as exc:  # judged: labelkit's errors are fine, a framework's own is a bug
        if case.fn == "diagnose" and isinstance(exc, lk.ArgumentError) and str(exc).startswith(KEYWORDS["diagnose"]):
            return Outcome("error", "ArgumentError", exc)  # a keyword argument, not user data
        if case.fn == "diagnose":
            return Outcome("bug", f"diagnose raised {type(exc).__name__}: {str(exc)[:300]}", exc)
        out = exception_outcome(case, exc)
        if out.status == "error" and pl.call_backend == "mixed" and not isinstance(exc, lk.BackendError):
            pass  # another error came first: fine
        return out
    try:
        problem = judge(case, pl, result)
    except Exception as exc:  # reading the result failed: count it against the result
        return Outcome("bug", f"the result could not be checked: {type(exc).__name__}: {exc}", exc)
    if problem:
        return Outcome("bug", problem)
    return Outcome("ok")


# --- the independent predicate of valid labels ----------------------------------------------------


def _real(a: Any) -> np.ndarray:
    """``a`` as NumPy, bfloat16 (an ``ml_dtypes`` 'V' dtype) as float32."""
    a = np.asarray(a)
    return a.astype(np.float32) if BFLOAT16 is not None and a.dtype == BFLOAT16 else a


def _labels_kind(y: np.ndarray) -> str:
    return "f" if _real(y).dtype.kind == "f" else "i"


def expected_spec(case: Case, logits: Any, labels: Any) -> Any:
    """``tests/oracle.py``'s verdict on the shapes, or ``None`` when the inputs are not arrays."""
    if not (isinstance(logits, np.ndarray) and isinstance(labels, np.ndarray)):
        return None
    task = case.args.get("task", "auto")
    axis = case.args.get("axis", -1)
    fn = case.fn
    if fn in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        task = "multiclass"
    if fn == "binary_crossentropy":
        c = logits.shape[axis] if logits.ndim >= 2 and isinstance(axis, int) and -logits.ndim <= axis < logits.ndim \
            else 1
        task = "multilabel" if logits.ndim >= 2 and c != 1 else "binary"
    if not isinstance(axis, int) or isinstance(axis, bool) or not isinstance(task, str):
        return None
    if logits.ndim and not -logits.ndim <= axis < logits.ndim:
        return None
    return oracle.infer(logits.shape, labels.shape, labels_kind=_labels_kind(labels), task=task, axis=axis)


def labels_valid(spec: Any, labels: np.ndarray, ignore_index: Any, num_classes: int | None = None) -> bool | None:
    """SPEC "Value checks", in float64 NumPy: are these labels valid for ``spec``? ``None``: too close to
    the 1e-3 tolerance of probability rows to tell."""
    y = _real(labels)
    if y.dtype.kind not in "biuf":
        return False
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        return False
    c = spec.num_classes if num_classes is None else num_classes
    if spec.label_format == "sparse":
        if spec.squeeze:
            y = np.squeeze(y, spec.axis)
        vals = [int(v) if y.dtype.kind in "biu" else float(v) for v in y.ravel()]
        for v in vals:
            if ignore_index is not None and v == ignore_index:
                continue
            if v != math.floor(v) or not 0 <= v < c:
                return False
        return True
    yf = y.astype(np.float64)
    if spec.label_format == "dense" and spec.task == "multiclass":
        if (yf < 0).any():
            return False
        dev = np.abs(yf.sum(axis=spec.axis) - 1.0) if yf.size else np.zeros(0)
        if (dev > 1e-3 + 2e-3).any():
            return False
        if ((dev > 1e-3 - 5e-4) & (dev <= 3e-3)).any():
            return None  # too close to the tolerance to tell (rounding of narrow dtypes)
        return True
    return bool(((yf >= 0) & (yf <= 1)).all())


def _finite(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)))


def _num_logits(x: np.ndarray) -> np.ndarray:
    if BFLOAT16 is not None and x.dtype == BFLOAT16:
        return x.astype(np.float64)
    return x.astype(np.float64)


def _check_values_on(case: Case) -> bool:
    return case.args.get("check_values", "auto") in ("auto", True)


def judge(case: Case, pl: Placed, result: Any) -> str:
    """'' when ``result`` is right for ``case``, else what is wrong with it."""
    fn = case.fn
    if fn == "backend_of":
        return "" if result in ("numpy", "torch", "tensorflow", "jax") else f"backend_of gave {result!r}"
    if fn == "explain":
        return _judge_diagnosis(result)
    if pl.call_backend == "mixed" and fn != "diagnose":
        return f"two frameworks in one call were accepted ({fn} returned)"
    logits = case.args.get("logits", case.args.get("like"))
    labels = case.args.get("labels")
    spec = expected_spec(case, logits, labels) if fn not in ("one_hot", "to_sparse") else None
    ignore = case.args.get("ignore_index")
    if fn == "diagnose":
        text = _judge_diagnosis(result)
        if text:
            return text
        if case.args.get("loss") in ("binary_crossentropy", "binary") and result.spec is not None:
            spec = oracle.Expected(result.spec.task, result.spec.label_format, result.spec.num_classes,
                                   result.spec.axis, result.spec.squeeze)  # the loss named decides the task
        if isinstance(spec, oracle.Expected) and isinstance(logits, np.ndarray) and result.values_checked:
            if not isinstance(ignore, (int, np.integer)) or isinstance(ignore, bool):
                ignore = None
            valid = labels_valid(spec, labels, ignore)
            nc = case.args.get("num_classes")
            if valid is False and result.ok:
                return f"diagnose said ok for invalid labels ({result.codes})"
            if valid and not result.ok and nc in (None, spec.num_classes) and not case.nonsense \
                    and case.args.get("loss") is None:
                return f"diagnose reported errors for valid labels: {result.codes}"
        return ""
    if fn in ("infer", "validate", "select_loss"):
        got = result["choice"].spec if fn == "select_loss" else result
        if isinstance(spec, oracle.Expected):
            want = (spec.task, spec.label_format, spec.num_classes, spec.axis, spec.squeeze)
            have = (got.task, got.label_format, got.num_classes, got.axis, got.squeeze)
            if want != have:
                return f"spec {have} but SPEC's inference gives {want}"
        elif isinstance(spec, oracle.Rejected):
            return f"accepted shapes SPEC rejects ({spec.reason}): {got}"
        if got.backend != pl.call_backend:
            return f"spec.backend {got.backend!r}, expected {pl.call_backend!r}"
        if fn == "validate" and isinstance(spec, oracle.Expected) and _check_values_on(case):
            valid = labels_valid(spec, labels, ignore, case.args.get("num_classes"))
            if valid is False:
                return "validate accepted labels SPEC calls invalid"
        if fn == "select_loss":
            # prepare(labels) has no logits to take a framework from: it answers in the labels' one.
            prepare_in = native_of(pl.args["labels"]) if native_of(pl.args["labels"]) in (
                "torch", "tensorflow", "jax") else "numpy"
            for key, want in (("call", pl.call_backend), ("prepare", prepare_in)):
                if key in result and native_of(result[key]) != want:
                    return f"LossChoice.{key} returned a {native_of(result[key])} array"
            if "call" in result and isinstance(spec, oracle.Expected):
                ignore = case.ignore_index if result["choice"].name.startswith("sparse") else None
                return _judge_loss(case, pl, spec, result["call"], logits, labels, ignore, check=True)
        return ""
    if fn in LOSSES:
        return _judge_loss(case, pl, spec, result, logits, labels, ignore, check=_check_values_on(case))
    # label operations returning arrays
    if native_of(result) != pl.call_backend:
        return f"returned a {native_of(result)} array, expected {pl.call_backend}"
    out = to_numpy(result)
    if fn == "count_valid" and case.kind == "valid":
        return _judge_count_valid(pl, out)
    if fn == "one_hot":
        return _judge_one_hot(case, out, labels, logits)
    if fn == "squeeze":
        if isinstance(spec, oracle.Expected):
            want = np.squeeze(labels, spec.axis) if spec.squeeze else labels
            if out.shape != want.shape:
                return f"squeeze gave shape {out.shape}, expected {want.shape}"
        return ""
    if fn == "to_sparse":
        if isinstance(labels, np.ndarray) and _real(labels).dtype.kind in "biuf":
            ax = case.args.get("axis", -1)
            if out.shape != tuple(np.delete(np.array(labels.shape, dtype=np.int64), ax % labels.ndim)):
                return f"to_sparse gave shape {out.shape} for rows {labels.shape} (axis {ax})"
            if _check_values_on(case) and labels.size:
                spec_rows = oracle.Expected("multiclass", "dense", labels.shape[ax], ax % labels.ndim, False)
                if labels_valid(spec_rows, labels, None) is False:
                    return "to_sparse accepted rows SPEC calls invalid"
        return ""
    if fn == "align" and isinstance(spec, oracle.Expected):
        if _check_values_on(case) and labels_valid(spec, labels, ignore) is False:
            return "align accepted labels SPEC calls invalid"
    return ""


def _judge_count_valid(pl: Placed, d: np.ndarray) -> str:
    """SPEC's identity: the mean is the sum divided by count_valid (when it is not 0)."""
    if d.shape != () or not np.isfinite(d) or d < 0:
        return f"count_valid gave {d!r}, expected a finite scalar >= 0"
    pos, kw = _kw_arrays(pl)
    total = to_numpy(lk.cross_entropy(*pos, reduction="sum", **kw)).astype(np.float64)
    mean = to_numpy(lk.cross_entropy(*pos, reduction="mean", **kw)).astype(np.float64)
    if d > 0 and np.isfinite(total) and not np.isclose(mean, total / float(d), rtol=1e-4, atol=1e-5):
        return f"mean {mean} but sum / count_valid = {total} / {d}"
    return ""


def _judge_diagnosis(d: Any) -> str:
    if not isinstance(d, lk.Diagnosis):
        return f"returned {type(d).__name__}, not a Diagnosis"
    str(d)
    json.dumps(d.to_dict())
    for p in d.problems:
        if not (p.code and p.message and p.fix):
            return f"a problem without code/message/fix: {p}"
    return ""


def _judge_one_hot(case: Case, out: np.ndarray, labels: Any, like: Any) -> str:
    if not isinstance(labels, np.ndarray) or _real(labels).dtype.kind not in "biuf":
        return ""
    labels = _real(labels)
    c = case.args.get("num_classes")
    if c is None and isinstance(like, np.ndarray):
        c = like.shape[case.args.get("axis", -1)]
    ids = labels
    if isinstance(like, np.ndarray):
        if out.shape != like.shape:
            return f"one_hot gave shape {out.shape}, expected like's {like.shape}"
        ax = case.args.get("axis", -1) % like.ndim
        if ids.ndim == like.ndim:
            ids = np.squeeze(ids, ax)
    else:
        if ids.ndim >= 2 and ids.shape[-1] == 1:
            ids = ids[..., 0]
        ax = case.args.get("axis", -1) % (ids.ndim + 1)
    ignore = case.args.get("ignore_index")
    spec = oracle.Expected("multiclass", "sparse", c, ax, False)
    valid = labels_valid(spec, ids, ignore)
    if _check_values_on(case) and valid is False:
        return "one_hot accepted ids SPEC calls invalid"
    if out.dtype.kind == "c":
        return ""
    want = oracle.one_hot(ids.astype(np.float64), c, axis=ax, ignore_index=ignore)
    if want.shape != out.shape:
        return f"one_hot gave shape {out.shape}, expected {want.shape}"
    if not np.array_equal(out.astype(np.float64), want):
        return "one_hot values differ from SPEC (one 1 per valid id, zero rows for invalid and ignored ids)"
    return ""


def _judge_loss(case: Case, pl: Placed, spec: Any, result: Any, logits: Any, labels: Any, ignore: Any,
                check: bool) -> str:
    if native_of(result) != pl.call_backend:
        return f"the loss is a {native_of(result)} array, expected {pl.call_backend}"
    out = to_numpy(result).astype(np.float64)
    if not isinstance(spec, oracle.Expected):
        return "" if not isinstance(spec, oracle.Rejected) else f"a loss for shapes SPEC rejects ({spec.reason})"
    valid = labels_valid(spec, labels, ignore)
    if check and valid is False:
        if _finite(out) and out.size:
            return "a finite loss for labels SPEC calls invalid (checks on)"
        return "no LabelValueError for labels SPEC calls invalid (checks on)"
    y = _real(labels)
    if spec.label_format == "sparse" and valid is False and y.dtype.kind in "biuf":
        ids = np.squeeze(y, spec.axis) if spec.squeeze else y
        idsf = ids.astype(np.float64)
        bad = ~((idsf >= 0) & (idsf < spec.num_classes) & (np.floor(idsf) == idsf))
        if ignore is not None:
            bad &= idsf != ignore
        reduction = case.args.get("reduction", "mean")
        if reduction == "none":
            if out.shape == bad.shape and np.isfinite(out[bad]).any():
                return "checks off: an id out of range gave a finite loss for its element"
        elif bad.any() and np.isfinite(out).all():
            return "checks off: an id out of range gave a finite loss"
    if not valid or not isinstance(logits, np.ndarray):
        return ""
    return _oracle_compare(case, spec, out, logits, y, ignore)


def _oracle_compare(case: Case, spec: Any, out: np.ndarray, logits: np.ndarray, y: np.ndarray, ignore: Any) -> str:
    """The loss against tests/loss_oracle.py (float64), where labels are valid and the logits finite."""
    if logits.dtype.kind != "f" and not (BFLOAT16 is not None and logits.dtype == BFLOAT16):
        return ""
    x = _num_logits(logits)
    if not _finite(x) or (x.size and np.abs(x).max() > 1e30):
        return ""
    if spec.task == "multilabel" and not spec.num_classes:
        return ""  # a mean over zero classes: labelkit's choice (0), no formula to compare with
    a = case.args
    from_logits = a.get("from_logits", True)
    eps = a.get("label_smoothing", 0.0)
    reduction = a.get("reduction", "mean")
    w = a.get("class_weight")
    if isinstance(w, tuple):
        w = w[1]
    if case.fn == "select_loss":
        eps, reduction, w = 0.0, "mean", None
    if not from_logits and (x.min(initial=0.5) < 1e-6 or x.max(initial=0.5) > 1 - 1e-6):
        return ""  # probabilities clipped to [1e-7, 1 - 1e-7], a bound float32 rounds
    kw = {"from_logits": from_logits, "label_smoothing": eps, "class_weight": w, "reduction": reduction}
    yf = y.astype(np.float64)
    if spec.label_format == "sparse":
        ids = np.squeeze(yf, spec.axis) if spec.squeeze else yf
        want = loss_oracle.sparse(x, ids, axis=spec.axis, ignore_index=ignore, **kw).value
    elif spec.task == "multiclass":
        want = loss_oracle.multiclass(x, yf, axis=spec.axis, **kw).value
    elif spec.task == "multilabel":
        want = loss_oracle.multilabel(x, yf, axis=spec.axis, **kw).value
    else:
        xb = np.squeeze(x, spec.axis) if x.ndim > 1 else x
        yb = np.squeeze(yf, spec.axis) if spec.squeeze else yf
        want = loss_oracle.binary(xb, yb.reshape(xb.shape), **kw).value
    want = np.asarray(want, dtype=np.float64)
    if out.shape != want.shape:
        return f"loss of shape {out.shape}, the oracle's is {want.shape}"
    scale = 1.0 + (float(np.abs(x).max()) if x.size else 0.0)
    if from_logits is False:
        scale = max(scale, 20.0)  # log(1e-7) terms
    tol = 2e-4 * np.abs(want) + 1e-5 * scale
    both_nan = np.isnan(out) & np.isnan(want)
    if not np.all(both_nan | (np.abs(out - want) <= tol)):
        return f"loss {out.ravel()[:6].tolist()} but the float64 oracle gives {want.ravel()[:6].tolist()}"
    return ""
