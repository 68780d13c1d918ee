"""Backends: one small module per framework, all with the same primitives.

labelkit keeps three promises, and this package is where they are kept:

1. **No eager imports.** ``import labelkit`` imports NumPy only. A backend module never imports its
   framework; the dispatcher hands it the framework module from ``sys.modules`` once the user has
   imported it (a tensor of a framework cannot exist before that framework is imported). That also
   keeps dispatch traceable on a cold first call inside ``torch.compile(fullgraph=True)``, where
   ``importlib`` cannot be traced.
2. **O(1) dispatch.** The dispatcher caches ``type -> backend``; a backend is asked only once per type.
3. **One semantics.** Shape rules, squeezing, ``ignore_index``, smoothing, class weights, reductions
   and value checks live once in ``labelkit/``. A backend only provides the primitives that ``Backend``
   below declares (each with its signature and one line of meaning, so that a type checker sees the
   contract), each a thin wrapper around its framework's own function; ``tests/test_backends_conformance.py``
   checks that every module implements them with the declared signatures.

A backend may implement an optional fast primitive (``sparse_nll``: the fused sparse cross-entropy
kernel, and ``sparse_nll_mean``: the same kernel reducing to its mean; ``sparse_ce``: the kernel with
class weights, an ignored id and a reduction in one call, as PyTorch's ``F.cross_entropy``;
``one_hot``: the framework's one-hot op; ``top_k_hit``: the framework's top-k kernel, with where its
answer is sure); ``labelkit/`` uses it when present and falls back to ``log_softmax`` +
``take_along_axis`` (a sum and a division; a comparison with ``arange``; the rank counted over the
classes). ``eager_key``, ``on_host`` and ``to_list`` serve the eager fast path (``labelkit/_fast.py``):
a key to remember one call's decisions by, and a way to read small integer ids without a device sync.
``defers_checks``, ``read_later`` and ``read_now`` serve the checks on a device
(``labelkit/_pending.py``): a verdict copied to the host without waiting, read at the next call.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, cast

import numpy.typing as npt

__all__ = ["EYE_MAX", "PRIMITIVES", "Backend", "cached_identity"]

EYE_MAX = 256  # classes: up to this many, in-range one-hot rows may be gathered from a cached identity
_EYES: dict[tuple[Any, ...], Any] = {}


def cached_identity(key: tuple[Any, ...], make: Any) -> Any:
    """The identity matrix remembered under ``key`` (``make()`` on the first call), for backends that
    gather in-range one-hot rows from it. At most 64 are kept (each at most ``EYE_MAX``² elements);
    callers only gather rows into new arrays, so an identity is never handed out."""
    eye = _EYES.get(key)
    if eye is None:
        if len(_EYES) >= 64:
            _EYES.clear()
        eye = _EYES.setdefault(key, make())
    return eye


class Backend:
    """The primitive set one framework provides to labelkit.

    Subclasses set ``name`` (what ``lk.backend_of`` returns) and ``modules`` (the top-level module
    names whose array types they serve) and implement every primitive declared here: the abstract ones
    (each backend's own), and where they can do better, those with a default. Arrays passed in are
    already of the backend's framework; dtypes are passed as names (``"float32"``, ``"int64"``,
    ``"bool"``...). ``axis`` is non-negative unless a primitive says otherwise.

    The abstract primitives are abstract for type checkers (a checker reports a plug-in that misses or
    misspells one) but not enforced when a subclass is instantiated: a plug-in written before a
    primitive was declared still loads, and calling a primitive it lacks raises ``NotImplementedError``.
    """

    name: str = ""
    modules: tuple[str, ...] = ()
    # Whether ``one_hot_in_range`` is faster than ``one_hot``, so that reading the ids first pays off
    # when their values need not be checked (torch, NumPy); ``False`` where the framework's own one-hot
    # op gives the zero rows anyway (TensorFlow, JAX).
    one_hot_reads_ids: bool = True
    # Whether ``sparse_ce`` raises ``IndexError`` for an id outside ``[0, C)`` other than ``ignore_index``
    # when the ids lie in host memory (PyTorch's CPU kernel does), so that labelkit need not read them
    # first: it catches the error and answers with its own. ``False``: labelkit reads the ids first.
    sparse_ce_checks_ids: bool = False
    # Whether ``sparse_ce`` takes ``label_smoothing`` > 0 (see its docstring for the overflow rule).
    sparse_ce_smooths: bool = False
    # Whether value checks of arrays outside host memory (``on_host`` false) run without a blocking
    # read when ``check_values="auto"``: the verdict is a 0-d flag read later (``read_later``,
    # ``read_now``), at the next labelkit call (SPEC "Checks on a GPU"). ``False``: they read at once.
    defers_checks: bool = False

    def __repr__(self) -> str:
        return f"<labelkit backend {self.name!r}>"

    # The primitives every backend implements (abstract: no default could serve them).
    @abstractmethod
    def owns(self, x: Any) -> bool:
        """Whether ``x`` is an array of this backend's framework (its type's module is in ``modules``)."""
        raise _missing(self, "owns")

    @abstractmethod
    def is_tracing(self, x: Any) -> bool:
        """Whether ``x`` is a symbolic value being traced (``tf.function``, ``jit``, ``torch.compile``)."""
        raise _missing(self, "is_tracing")

    @abstractmethod
    def shape(self, x: Any) -> tuple[int | None, ...]:
        """The shape of ``x`` as a tuple, ``None`` for a size unknown while tracing."""
        raise _missing(self, "shape")

    @abstractmethod
    def dtype_name(self, x: Any) -> str:
        """The name of ``x``'s dtype: ``"float32"``, ``"int64"``, ``"bool"``..."""
        raise _missing(self, "dtype_name")

    @abstractmethod
    def dtype(self, name: str) -> Any:
        """The framework's dtype object named ``name``."""
        raise _missing(self, "dtype")

    @abstractmethod
    def default_int(self) -> str:
        """The name of the integer dtype class ids are computed in (``"int64"``, or ``"int32"`` where 64-bit is off)."""
        raise _missing(self, "default_int")

    @abstractmethod
    def asarray(self, obj: Any, like: Any) -> Any:
        """``obj`` (a NumPy array, a list or a scalar) as an array of the framework, on ``like``'s device."""
        raise _missing(self, "asarray")

    @abstractmethod
    def to_numpy(self, x: Any) -> npt.NDArray[Any]:
        """The values of the concrete array ``x`` as a NumPy array (a host read)."""
        raise _missing(self, "to_numpy")

    @abstractmethod
    def cast(self, x: Any, dtype: str) -> Any:
        """``x`` converted to the dtype named ``dtype``."""
        raise _missing(self, "cast")

    @abstractmethod
    def arange(self, n: int, like: Any) -> Any:
        """``0, 1, ..., n - 1`` of the default int, on ``like``'s device."""
        raise _missing(self, "arange")

    @abstractmethod
    def zeros(self, shape: tuple[int, ...], dtype: str, like: Any) -> Any:
        """An array of zeros of ``shape`` and the dtype named ``dtype``, on ``like``'s device."""
        raise _missing(self, "zeros")

    @abstractmethod
    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """``a`` where the bool array ``cond`` holds, else ``b`` (either may be a Python scalar), broadcast."""
        raise _missing(self, "where")

    @abstractmethod
    def isfinite(self, x: Any) -> Any:
        """Elementwise: whether ``x`` is neither infinite nor NaN (a bool array)."""
        raise _missing(self, "isfinite")

    @abstractmethod
    def floor(self, x: Any) -> Any:
        """Elementwise floor of the float array ``x``."""
        raise _missing(self, "floor")

    @abstractmethod
    def abs(self, x: Any) -> Any:
        """Elementwise absolute value."""
        raise _missing(self, "abs")

    @abstractmethod
    def log(self, x: Any) -> Any:
        """Elementwise natural logarithm (``-inf`` at 0, never an error or a warning)."""
        raise _missing(self, "log")

    @abstractmethod
    def exp(self, x: Any) -> Any:
        """Elementwise exponential (``inf`` on overflow, never an error or a warning)."""
        raise _missing(self, "exp")

    @abstractmethod
    def log1p(self, x: Any) -> Any:
        """Elementwise ``log(1 + x)``, accurate near 0."""
        raise _missing(self, "log1p")

    @abstractmethod
    def maximum(self, a: Any, b: Any) -> Any:
        """Elementwise maximum of ``a`` and ``b`` (either may be a Python scalar), broadcast."""
        raise _missing(self, "maximum")

    @abstractmethod
    def clip(self, x: Any, lo: float, hi: float) -> Any:
        """``x`` limited to ``[lo, hi]``."""
        raise _missing(self, "clip")

    @abstractmethod
    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        """``x`` with the same elements in ``shape``."""
        raise _missing(self, "reshape")

    @abstractmethod
    def moveaxis(self, x: Any, source: int, dest: int) -> Any:
        """``x`` with axis ``source`` moved to position ``dest``."""
        raise _missing(self, "moveaxis")

    @abstractmethod
    def squeeze(self, x: Any, axis: int) -> Any:
        """``x`` without its axis ``axis``, which has size 1."""
        raise _missing(self, "squeeze")

    @abstractmethod
    def expand_dims(self, x: Any, axis: int) -> Any:
        """``x`` with a new axis of size 1 at ``axis``."""
        raise _missing(self, "expand_dims")

    @abstractmethod
    def sum(self, x: Any, axis: int | None = None) -> Any:
        """The sum over ``axis`` (over every element when ``None``)."""
        raise _missing(self, "sum")

    @abstractmethod
    def max(self, x: Any, axis: int | None = None) -> Any:
        """The largest value over ``axis`` (over every element when ``None``)."""
        raise _missing(self, "max")

    @abstractmethod
    def min(self, x: Any, axis: int | None = None) -> Any:
        """The smallest value over ``axis`` (over every element when ``None``)."""
        raise _missing(self, "min")

    @abstractmethod
    def argmax(self, x: Any, axis: int) -> Any:
        """The index of the largest value along ``axis``, of the default int."""
        raise _missing(self, "argmax")

    @abstractmethod
    def any(self, x: Any) -> Any:
        """Whether any element of the bool array ``x`` is true, as a scalar bool array."""
        raise _missing(self, "any")

    @abstractmethod
    def to_bool(self, x: Any) -> bool:
        """The concrete scalar ``x`` as a Python bool (a host read)."""
        raise _missing(self, "to_bool")

    @abstractmethod
    def logsumexp(self, x: Any, axis: int) -> Any:
        """``log(sum(exp(x), axis))``, stable, without ``axis``; rows of ``-inf`` give ``-inf``."""
        raise _missing(self, "logsumexp")

    @abstractmethod
    def log_softmax(self, x: Any, axis: int) -> Any:
        """``x - logsumexp(x, axis)`` (keeping ``axis``), stable, with the framework's gradient."""
        raise _missing(self, "log_softmax")

    @abstractmethod
    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        """The elements of ``x`` at the integer indices ``idx`` along ``axis`` (same rank as ``x``)."""
        raise _missing(self, "take_along_axis")

    @abstractmethod
    def take(self, x: Any, idx: Any) -> Any:
        """The elements of the rank-1 ``x`` at the integer indices ``idx`` (shape of ``idx``)."""
        raise _missing(self, "take")

    @abstractmethod
    def stop_gradient(self, x: Any) -> Any:
        """``x``, with no gradient flowing back through it."""
        raise _missing(self, "stop_gradient")

    # Primitives with a default, which a backend overrides where its framework does better.

    def softplus(self, x: Any) -> Any:
        """``log(1 + exp(x))``, stable, with the gradient ``sigmoid(x)`` everywhere (at 0 too).

        The default composes ``max(x, 0) + log1p(exp(-|x|))``, whose autodiff gradient at exactly 0 depends
        on the framework's convention for ``max`` and ``abs``; backends override it with their own op.
        """
        return self.maximum(x, 0.0) + self.log1p(self.exp(-self.abs(x)))

    # Optional capabilities default to "absent"; labelkit/ checks for them.
    def sparse_nll(self, logits: Any, ids: Any, axis: int) -> Any:
        """``-log_softmax(logits, axis)`` at ``ids`` (valid ids only), shape = logits without ``axis``.

        The default gathers from ``log_softmax``; backends with a fused kernel override it.
        """
        logp = self.log_softmax(logits, axis)
        picked = self.take_along_axis(logp, self.expand_dims(ids, axis), axis)
        return -self.squeeze(picked, axis)

    def sparse_nll_mean(self, logits: Any, ids: Any, axis: int) -> Any:
        """The mean of ``sparse_nll`` over every element: ``ids`` are all valid and there is at least one.

        The default sums and divides; a backend whose fused kernel reduces itself uses that (PyTorch's
        ``F.cross_entropy`` with ``reduction="mean"``: the very call a user would make).
        """
        nll = self.sparse_nll(logits, ids, axis)
        count = 1
        for d in self.shape(nll):
            count *= cast(int, d)  # static: labelkit asks only where the shape is known
        return self.sum(nll) / float(count)

    def sparse_ce(
        self, logits: Any, ids: Any, axis: int, weight: Any, ignore_index: int | None, reduction: str,
        label_smoothing: float = 0.0,
    ) -> Any:
        """The framework's fused sparse cross-entropy with weights, an ignored id and a reduction in one
        call, or ``NotImplemented``.

        ``ids`` are integer class ids in ``[0, C)`` or ``ignore_index`` (labelkit has checked them, or the
        backend's kernel checks them: ``sparse_ce_checks_ids``); ``weight`` is ``None`` or ``(C,)`` of the
        logits' dtype. Element ``i`` gives ``w[y_i] · (-log_softmax(logits)[y_i])`` (0 where ``y_i`` is
        ignored); ``"mean"`` divides the sum by ``Σ w[y_i]`` over non-ignored elements (their count
        without weights), which labelkit has made sure is not 0; ``"none"`` has the ids' shape. That is
        PyTorch's ``F.cross_entropy`` and labelkit's loss alike. With ``label_smoothing`` ε > 0 (only
        where ``sparse_ce_smooths``), element ``i`` gives ``(1-ε) w[y_i] (-log_softmax[y_i]) +
        Σ_c (-ε/C · w_c) log_softmax_c``. labelkit scales the C log-probabilities before it sums them (a
        sum first overflows to -inf for float32 logits near ±3e38, where labelkit's loss stays finite):
        a kernel that sums first (PyTorch's) may serve host arrays only, where labelkit reads the
        result and composes the loss where it is not finite; on a device it returns ``NotImplemented``
        for ε > 0, unless it scales first (TensorFlow's expression). The default has
        no such kernel and returns ``NotImplemented``: labelkit then composes the loss from the other
        primitives. A backend may also return ``NotImplemented`` for arguments its kernel cannot serve.
        """
        return NotImplemented

    def top_k_hit(self, x: Any, target: Any, axis: int, k: int) -> Any:
        """The framework's top-k kernel's answer to "is ``target`` among the ``k`` largest of ``x`` along
        ``axis``", with where that answer is sure, or ``NotImplemented``.

        ``x``: float logits with ``C`` classes at ``axis``; ``target``: ids in ``[0, C)`` of the default
        int, of shape ``S`` (``x`` without ``axis``); ``1 < k < C``. Returns ``(hit, sure)``, two bool
        arrays of shape ``S``: wherever ``sure`` holds, ``hit`` must equal labelkit's rule (the rank of
        the target, counting greater values, NaN above every number, then equal ones at smaller indices,
        is below ``k``; a NaN target counts the NaNs at smaller indices only). Where it does not hold
        (ties straddling the k-th place, NaN or infinite logits where the kernel reads them otherwise),
        labelkit recomputes the rank from the other primitives: concretely after one read of
        ``any(~sure)`` on host arrays, with ``cond`` while tracing where the framework branches in-graph,
        and never on a device without tracing (that read would block). The default has no kernel and
        returns ``NotImplemented``, as may a backend for dtypes its kernel does not take.
        """
        return NotImplemented

    def eager_key(self, x: Any, y: Any = None) -> Any:
        """A hashable key of the shapes and dtypes of the concrete arrays ``x`` (and ``y``, when given),
        or ``None`` while tracing.

        Everything labelkit infers depends on shapes and dtypes only, so the fast path remembers its
        decisions under them. The default builds the key from ``is_tracing``, ``shape`` and
        ``dtype_name``; backends return their framework's own (hashable) shape and dtype objects, which
        costs less.
        """
        if self.is_tracing(x) or (y is not None and self.is_tracing(y)):
            return None
        key = (self.shape(x), self.dtype_name(x))
        return key if y is None else key + (self.shape(y), self.dtype_name(y))

    def on_host(self, x: Any) -> bool:
        """Whether ``x`` lies in host memory, so that reading its values costs no device sync."""
        return False

    def to_list(self, x: Any) -> list[Any]:
        """The values of ``x``, flattened, as a list of Python numbers (a host read)."""
        values: list[Any] = self.to_numpy(x).ravel().tolist()
        return values

    def one_hot(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        """Rows of ``dtype`` with a 1 at each id, the class axis at ``axis`` (≥ 0) of the output.

        ``ids`` are integers of the default int. An id outside ``[0, num_classes)`` gives an all-zero
        row (never an error, never a wrap-around). The default compares the ids with ``arange``;
        backends whose framework has a one-hot op with exactly this behaviour use it (one op instead of
        five, which is what a call on a small eager input costs).
        """
        classes = self.arange(num_classes, ids)
        if self.dtype_name(classes) != self.dtype_name(ids):
            classes = self.cast(classes, self.dtype_name(ids))
        trailing = len(self.shape(ids)) - axis  # output axes after the class axis
        if trailing:
            classes = self.reshape(classes, (num_classes,) + (1,) * trailing)
        return self.cast(self.expand_dims(ids, axis) == classes, dtype)

    def one_hot_in_range(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        """``one_hot`` of integer ids of any integer dtype that labelkit has just read and found all in
        ``[0, num_classes)``, so that a backend may use an op that would fail on others (a gather from an
        identity, a scatter). The default casts them to the default int and calls ``one_hot``.
        """
        if self.dtype_name(ids) != self.default_int():  # uint8 ids against arange(300) must not wrap
            ids = self.cast(ids, self.default_int())
        return self.one_hot(ids, num_classes, axis, dtype)

    def span(self, x: Any) -> tuple[int, int]:
        """The smallest and largest value of a non-empty integer array, as Python ints (a host read).

        The default reduces twice and reads both results; a backend with a fused min-max reads once.
        """
        return int(self.to_numpy(self.min(x))), int(self.to_numpy(self.max(x)))

    def assert_all(self, cond: Any, message: str) -> Any:
        """In-graph assertion where the framework has one (TensorFlow); ``None`` elsewhere."""
        return None

    def read_later(self, flag: Any) -> Any:
        """Starts bringing the value of the concrete 0-d bool ``flag`` to the host without waiting for it;
        returns a handle that ``read_now`` reads. The default returns ``flag`` itself (the read happens
        in ``read_now``); a backend whose framework copies to the host asynchronously starts that copy.
        """
        return flag

    def read_now(self, handle: Any) -> bool:
        """The value behind a ``read_later`` handle, waiting until the device has computed it (and no
        longer: the work queued after it need not finish)."""
        return self.to_bool(handle)

    # Labels whose size at the class axis is unknown while tracing (TensorFlow's ``None`` dims) are
    # read when the graph runs: ``runtime_shape`` gives the size, ``cond`` branches on it, ``guard``
    # stops the graph on any other size. A framework whose traced shapes are static, or symbolic
    # (JAX's export, torch's SymInts), cannot branch on them: it keeps these defaults, and labelkit/
    # asks for a static shape instead.
    def runtime_shape(self, x: Any) -> Any:
        """The shape of ``x`` when the graph runs, as a rank-1 integer array, where the framework can
        branch on it (TensorFlow: ``tf.shape``); ``None`` where it cannot (the default)."""
        return None

    def cond(self, pred: Any, true_fn: Any, false_fn: Any) -> Any:
        """``true_fn()`` where the scalar bool ``pred`` holds, else ``false_fn()``. The default reads a
        concrete ``pred``; a backend with ``runtime_shape`` traces both functions and chooses when the
        graph runs (``tf.cond``)."""
        return true_fn() if self.to_bool(pred) else false_fn()

    def guard(self, x: Any, cond: Any, parts: tuple[Any, ...]) -> Any:
        """``x``, computed only once the in-graph assertion that the scalar bool ``cond`` holds has
        passed; its message is ``parts`` (strings and arrays, printed in order). The default, for a
        backend without ``runtime_shape`` (never asked), returns ``x``."""
        return x

    def ensure_dim(self, x: Any, axis: int, size: int) -> Any:
        """``x``, whose size at ``axis`` is ``size`` or an error where it differs: when the graph runs,
        and also when XLA compiles it (where ``guard``'s assertion is compiled out). TensorFlow:
        ``tf.ensure_shape``. The default, for static shapes, returns ``x``."""
        return x

    def unservable(self, x: Any) -> tuple[str, str] | None:
        """Why ``x``, an array of the framework, cannot be served: ``(kind, description)`` with kind
        ``"sparse"`` or ``"nested"`` (PyTorch's sparse and nested tensors, which most ops refuse), or
        ``None`` for an ordinary dense array. The default: every array of the framework is served.
        """
        return None


def _missing(backend: Backend, primitive: str) -> NotImplementedError:
    return NotImplementedError(
        f"{type(backend).__name__} does not implement the primitive {primitive!r} that labelkit.backends.Backend "
        "declares: a backend implements every abstract method of Backend"
    )


# Every primitive's name, in the order ``Backend`` declares them: read from the class, which is the
# contract, for plug-ins and tests that go over all of them.
PRIMITIVES: tuple[str, ...] = tuple(n for n, v in vars(Backend).items() if not n.startswith("_") and callable(v))
