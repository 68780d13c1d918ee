"""Which backend serves an array: detection through ``sys.modules``, a per-type cache, conversion.

A framework is noticed, never imported: a tensor of a framework can only exist once the user has
imported it, so looking in ``sys.modules`` is enough, and caching a miss is safe. The cache maps
``type -> Backend``; reads and single ``dict`` stores are atomic, so the hot path takes no lock (a
lock would also break ``torch.compile(fullgraph=True)`` on a cold first call).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from labelkit import _pending
from labelkit.backends import Backend
from labelkit.backends.jax import JaxBackend
from labelkit.backends.numpy import NumpyBackend
from labelkit.backends.tensorflow import TensorflowBackend
from labelkit.backends.torch import TorchBackend
from labelkit.errors import BackendError, LabelkitError, LabelValueError

__all__ = [
    "available_backends",
    "backend_of",
    "get_backend",
    "register_backend",
    "resolve",
    "unservable",
]

_NUMPY = NumpyBackend()
# Python values that are converted into the logits' framework rather than served on their own.
_HOST_TYPES = (list, tuple, int, float, bool, np.ndarray, np.generic)

# name -> factory(module) for the frameworks labelkit ships; third parties add theirs.
_FACTORIES: dict[str, tuple[tuple[str, ...], Callable[[Any], Backend]]] = {
    "torch": (("torch",), TorchBackend),
    "tensorflow": (("tensorflow",), TensorflowBackend),
    "jax": (("jax", "jaxlib"), JaxBackend),
}
_INSTANCES: dict[str, Backend] = {"numpy": _NUMPY}
_CACHE: dict[type, Backend | None] = {}
_SLOW_LOCK = threading.Lock()
_ENTRY_POINTS_LOADED = False


def _instance(name: str) -> Backend | None:
    backend = _INSTANCES.get(name)
    if backend is not None:
        return backend
    roots, factory = _FACTORIES[name]
    module = sys.modules.get(roots[0])
    if module is None:
        return None
    backend = factory(module)
    return _INSTANCES.setdefault(name, backend)


def _load_entry_points() -> None:
    """Registers the backends that installed packages declare in the ``labelkit.backends`` group."""
    global _ENTRY_POINTS_LOADED
    with _SLOW_LOCK:
        if _ENTRY_POINTS_LOADED:
            return
        _ENTRY_POINTS_LOADED = True
        from importlib.metadata import entry_points

        for ep in entry_points(group="labelkit.backends"):
            try:
                backend = ep.load()
                backend = backend() if isinstance(backend, type) else backend
                register_backend(backend)
            except Exception as exc:  # a broken plug-in must not break labelkit
                import warnings

                warnings.warn(f"labelkit: backend entry point {ep.name!r} failed to load: {exc}", stacklevel=2)


def _detect(x: Any) -> Backend | None:
    cls = type(x)
    roots = {c.__module__.partition(".")[0] for c in cls.__mro__}
    if cls.__module__.startswith("numpy") or isinstance(x, (np.ndarray, np.generic)):
        return _NUMPY
    for name, (modules, _) in list(_FACTORIES.items()):
        if roots.intersection(modules) or name in _INSTANCES:
            backend = _instance(name)
            if backend is not None and backend.owns(x):
                return backend
    return None


def get_backend(x: Any) -> Backend | None:
    """The backend serving ``x``'s type, or ``None`` for Python values and unknown types."""
    cls = type(x)
    try:
        return _CACHE[cls]
    except KeyError:
        pass
    backend = _detect(x)
    if backend is None and not isinstance(x, _HOST_TYPES):
        _load_entry_points()
        backend = _detect(x)
        if backend is None:
            return None  # unknown types are not cached: a plug-in may still arrive
    # Tracer types are checked per instance by ``owns``; caching the type is safe because a type
    # belongs to one framework for its whole life.
    _CACHE[cls] = backend
    return backend


def backend_of(x: Any) -> str:
    """The name of the backend that serves ``x``.

    Args:
      x: an array of NumPy, PyTorch, TensorFlow or JAX (or a registered backend), or a Python
        number or nested list, which NumPy serves.

    Returns:
      ``"numpy"``, ``"torch"``, ``"tensorflow"``, ``"jax"`` or a registered backend's name.

    Raises:
      BackendError: ``x`` is not an array labelkit can serve.

    >>> import numpy as np, labelkit as lk
    >>> lk.backend_of(np.zeros(3))
    'numpy'
    >>> lk.backend_of([1, 2])
    'numpy'
    """
    backend = get_backend(x)
    if backend is None:
        if isinstance(x, _HOST_TYPES):
            return "numpy"
        raise _not_an_array("x", x)
    return backend.name


def available_backends() -> tuple[str, ...]:
    """The names of the installed backends, found without importing any framework.

    >>> import labelkit as lk
    >>> "numpy" in lk.available_backends()
    True
    """
    from importlib.util import find_spec

    names = ["numpy"]
    for name, (modules, _) in _FACTORIES.items():
        root = modules[0]
        if root in sys.modules or find_spec(root) is not None:
            names.append(name)
    return tuple(names)


def register_backend(backend: Backend, *, modules: Sequence[str] | None = None) -> None:
    """Adds a third-party backend.

    Args:
      backend: a ``labelkit.backends.Backend`` instance implementing every primitive, with ``name``
        and ``modules`` (the top-level module names of the array types it serves) set.
      modules: overrides ``backend.modules``.

    Raises:
      BackendError: ``backend`` is not a ``Backend`` or has no name.
    """
    if not isinstance(backend, Backend) or not backend.name:
        raise BackendError(
            f"register_backend: expected a labelkit.backends.Backend instance with a name, got "
            f"{type(backend).__name__}. Subclass labelkit.backends.Backend and set name and modules."
        )
    roots = tuple(modules) if modules is not None else tuple(backend.modules)
    _FACTORIES[backend.name] = (roots, lambda module: backend)
    _INSTANCES[backend.name] = backend
    # A type cached as "unknown" may belong to the new backend.
    for cls, cached in list(_CACHE.items()):
        if cached is None:
            del _CACHE[cls]


def _type_name(x: Any) -> str:
    cls = type(x)
    mod = cls.__module__
    return cls.__name__ if mod == "builtins" else f"{mod}.{cls.__qualname__}"


def _not_an_array(name: str, x: Any) -> BackendError:
    return BackendError(
        f"{name}: expected an array (NumPy, PyTorch, TensorFlow or JAX) or a nested list of numbers, "
        f"got {_type_name(x)}. Pass the array itself, e.g. np.asarray(...) or torch.tensor(...)."
    )


class Unservable(NamedTuple):
    """Why an argument cannot be served (see ``unservable``)."""

    error: type[LabelkitError]
    found: str  # what was found and what was expected
    advice: str  # the fix, as a sentence
    fix: str  # the fix, as an expression (``lk.diagnose``)

    def exception(self) -> LabelkitError:
        return self.error(f"{self.found} {self.advice}")


def unservable(name: str, x: Any, backend: Backend | None) -> Unservable | None:
    """Why the argument ``name`` is an array labelkit cannot serve, or ``None`` when it can.

    Those are NumPy masked arrays with masked entries (reading them drops the mask, and the hidden
    values would count) and the tensors a backend names in ``unservable`` (PyTorch's sparse and nested
    tensors). Other ndarray subclasses (``np.matrix``, a masked array with nothing masked) are served
    as plain ndarrays.
    """
    if isinstance(x, np.ndarray):
        mask = getattr(x, "mask", None) if type(x) is not np.ndarray else None
        if mask is None or not np.any(mask):
            return None
        mask = np.broadcast_to(mask, x.shape)  # a masked array's mask may be one bool for all
        at = ", ".join(str(int(i)) for i in np.argwhere(mask)[0])
        count = int(np.count_nonzero(mask))
        found = (
            f"{name}: a NumPy masked array with {count} masked {'entry' if count == 1 else 'entries'} (the "
            f"first at {name}[{at}]); expected an array without masked entries: labelkit reads the values "
            f"under the mask as they are, so they would count."
        )
        if name == "labels":
            return Unservable(
                LabelValueError, found, "Give them an id to leave out: labels.filled(-100) with ignore_index=-100.",
                "labels.filled(-100)  # with ignore_index=-100",
            )
        fix = f"{name}.filled(value)"
        return Unservable(LabelValueError, found, f"Fill them with the value you mean: {fix}.", fix)
    why = None if backend is None or backend is _NUMPY else backend.unservable(x)
    if why is None:
        return None
    kind, what = why
    if kind == "nested":
        pad = "-100" if name == "labels" else "0.0"
        fix = f"torch.nested.to_padded_tensor({name}, {pad})"
        after = "with ignore_index=-100" if name == "labels" else "with the labels padded by -100 and ignore_index=-100"
        return Unservable(
            BackendError, f"{name}: {what}; expected a dense tensor of one shape.", f"Pad it: {fix} {after}.",
            f"{fix}  # {after}",
        )
    fix = f"{name}.to_dense()"
    return Unservable(
        BackendError, f"{name}: {what}; expected a dense tensor (PyTorch's losses refuse sparse ones too).",
        f"Pass {fix}.", fix,
    )


def resolve(
    args: dict[str, Any], primary: str, *, optional: Sequence[str] = ()
) -> tuple[Backend, dict[str, Any]]:
    """Chooses the backend for one call and converts every argument into its framework.

    The backend is the framework of the framework arrays among ``args`` (NumPy when there are none).
    NumPy arrays, lists and scalars are converted into that framework, on the device of ``primary``
    (or of the first framework array). ``None`` is an error, except for the names in ``optional``,
    whose ``None`` values are left as they are. ndarray subclasses (``np.matrix``...) are read as plain
    ndarrays. Every labelkit call starts here (or in ``_fast.backend_of_pair``): the verdicts of
    device-side checks of earlier calls are read first (``labelkit/_pending.py``).

    Raises:
      BackendError: an argument is not an array, or two frameworks are mixed, or it is an array
        labelkit cannot serve (a torch sparse or nested tensor).
      LabelValueError: an argument is a NumPy masked array with masked entries; or a device-side
        check of an earlier call failed.
    """
    if _pending.RECORDS:
        _pending.surface()
    found: dict[str, Backend | None] = {}
    chosen: Backend | None = None
    chosen_name = ""
    args = dict(args)
    for name, value in args.items():
        if value is None:
            if name not in optional:
                raise _not_an_array(name, value)
            continue
        backend = get_backend(value)
        if backend is None and not isinstance(value, _HOST_TYPES):
            raise _not_an_array(name, value)
        if backend is not None:
            why = unservable(name, value, backend)
            if why is not None:
                raise why.exception()
            if type(value) is not np.ndarray and isinstance(value, np.ndarray):
                args[name] = np.asarray(value)  # np.matrix stays 2-D, and its reductions keep 2 dims
        found[name] = backend
        if backend is None or backend is _NUMPY:
            continue
        if chosen is None:
            chosen, chosen_name = backend, name
        elif backend is not chosen:
            raise BackendError(
                f"{chosen_name} is a {chosen.name} array ({_type_name(args[chosen_name])}) but {name} is a "
                f"{backend.name} array ({_type_name(value)}); one call takes one framework. Convert {name} "
                f"to {chosen.name} first (or pass it as a NumPy array)."
            )
    if chosen is None:
        out = {}
        for name, value in args.items():
            if value is None or found.get(name) is _NUMPY:
                out[name] = value
            else:
                out[name] = _host_to_numpy(name, value)
        return _NUMPY, out
    like_name = primary if found.get(primary) is chosen else chosen_name
    like = args[like_name]
    out = {}
    for name, value in args.items():
        if value is None or found.get(name) is chosen:
            out[name] = value
        else:
            out[name] = chosen.asarray(_fits_ints(chosen, name, _host_to_numpy(name, value)), like)
    return chosen, out


def _fits_ints(backend: Backend, name: str, arr: np.ndarray) -> np.ndarray:
    """``arr`` itself, after checking that its integers survive the conversion: a backend whose default
    int is int32 (JAX without x64) holds 64-bit integers in 32 bits, and would wrap 2**40 to 0."""
    if arr.dtype.kind in "iu" and arr.dtype.itemsize == 8 and arr.size and backend.default_int() == "int32":
        info = np.iinfo(np.int32 if arr.dtype.kind == "i" else np.uint32)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            v = lo if lo < info.min else hi
            jax = backend.name == "jax"
            raise LabelValueError(
                f"{name}: holds {v}, beyond {info.dtype.name}, the width {backend.name} keeps {arr.dtype.name} "
                f"values in{' without x64' if jax else ''}; converted, it would wrap around silently. "
                + ("Enable 64-bit types (jax.config.update('jax_enable_x64', True)), or pass" if jax else "Pass")
                + f" values within {info.min}..{info.max}."
            )
    return arr


def _host_to_numpy(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise BackendError(
                f"{name}: could not read {_type_name(value)} as an array ({exc}). Pass a rectangular nested "
                f"list of numbers or an array."
            ) from None
    # strings, objects...: no framework would take them either. bfloat16 (ml_dtypes, what JAX's arrays
    # become in NumPy) is a 'V' kind too, but a number: every framework holds it.
    if arr.dtype.kind in "OSUVMm" and arr.dtype.name != "bfloat16":
        raise BackendError(
            f"{name}: dtype {arr.dtype.name} is not a real number type; expected numbers (class ids or rows). "
            f"Convert them first, e.g. to int64 class ids or float32 rows."
        )
    return arr
