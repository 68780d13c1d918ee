"""The eager fast path: what the general path decided for one call, remembered for the next.

A training step calls labelkit with the same shapes, dtypes and arguments every time. For
``lk.one_hot(ids, C)`` and for a sparse ``lk.cross_entropy`` (any ``ignore_index``, ``class_weight`` and
reduction; smoothing is composed by the general path), everything the general path decides (inference,
squeezing, casts, the kernel) depends on those alone. ``plan`` remembers the decisions under them; the
call then costs one key, at most one read of the ids and the framework's own kernel. The semantics stay
where they are written: a plan is built by the general path's own functions, and any call the plan
does not cover (tracing, an id out of range, which needs the general path's error or NaN, a mean whose
denominator may be 0, which the general path makes 0) goes the general way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from labelkit import _dispatch, _pending
from labelkit._checks import _ids_in_range
from labelkit._checks import counted_ids as _counted_ids
from labelkit.backends import Backend

__all__ = [
    "ENABLED", "MISS", "all_positive", "backend_of_pair", "counted_ids", "ids_in_range", "plain_check", "plan",
    "remembered",
]

MISS: Any = object()  # "take the general path"
ENABLED = True  # tests switch the fast path off to compare both paths

_PLANS: dict[tuple[Any, ...], Any] = {}
_PLANS_MAX = 4096


def plain_check(check_values: Any) -> bool:
    """Whether ``check_values`` is one of the accepted values (anything else goes the general way, which
    says what is wrong with it)."""
    return check_values is True or check_values is False or (type(check_values) is str and check_values == "auto")


_ALONE: Any = object()


def backend_of_pair(a: Any, b: Any = _ALONE) -> Backend | None:
    """The backend serving ``a`` when it is known and ``b`` (if given) is of the same type; else ``None``.
    A fast path's first step: the verdicts of device-side checks of earlier calls are read here."""
    if _pending.RECORDS:
        _pending.surface()
    cls = type(a)
    if b is not _ALONE and type(b) is not cls:
        return None  # mixed types (a list with a tensor...): the general path converts them
    return _dispatch._CACHE.get(cls)


remembered = _PLANS.get
"""``remembered(key, MISS)``: the plan under ``key``, or ``MISS`` when none is made yet (no call)."""


def plan(key: tuple[Any, ...], build: Callable[..., Any], *args: Any) -> Any:
    """The plan remembered under ``key`` (``build(*args)`` on the first call; ``None``: no fast path)."""
    made = _PLANS.get(key, MISS)
    if made is MISS:
        made = build(*args)
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = made
    return made


def ids_in_range(b: Backend, ids: Any, c: int, size: int) -> bool:
    """Whether all ``size`` ids lie in ``[0, c)``: one read, free for ids in host memory, and the read the
    checks promise (a sync) for ids on a device."""
    try:
        return _ids_in_range(b, ids, c, size)
    except RuntimeError:
        # Arrays that hold no readable values though they are not traced (torch.func.vmap's batched
        # tensors), or a dtype without a device reduction: the general path decides.
        return False


def counted_ids(b: Backend, ids: Any, c: int, size: int, ignore_index: int | None) -> int | None:
    """How many of the ``size`` (> 0) integer ids are not ``ignore_index``, when every other id lies in
    ``[0, c)``; ``None`` when one does not (the general path then raises or gives NaN): the value
    checks' own predicate (``labelkit._checks.counted_ids``), one read."""
    try:
        return _counted_ids(b, ids, c, size, ignore_index)
    except RuntimeError:
        return None  # no readable values (see ids_in_range)


def all_positive(b: Backend, w: Any) -> bool:
    """Whether every class weight in ``w`` is > 0, so that a mean's denominator ``Σ w[y_i]`` over at
    least one counted element cannot be 0. Weights in host memory are read at each call (C values; no
    cache: a write through ``.data`` or a shared NumPy buffer changes them without a trace); weights on
    a device are not read (a sync): ``False``, and the general path decides ``D = 0`` on the device."""
    if not b.on_host(w):
        return False
    return bool(np.all(b.to_numpy(w) > 0))  # NaN is not > 0: it goes the general way
