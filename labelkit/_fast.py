"""The eager fast path: what the general path decided for one call, remembered for the next.

A training step calls labelkit with the same shapes, dtypes and arguments every time. For the plain
cases (``lk.one_hot(ids, C)``; a sparse ``lk.cross_entropy`` with no weights, smoothing or ignored ids)
everything the general path decides (inference, squeezing, casts, the kernel) depends on those alone.
``plan`` remembers the decisions under them; the call then costs one key, a read of the ids and the
framework's own kernel. The semantics stay where they are written: a plan is built by the general
path's own functions, and any call the plan does not cover (tracing, a new argument, an id out of
range, which needs the general path's error or NaN) goes the general way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labelkit import _dispatch
from labelkit._checks import _ids_in_range
from labelkit.backends import Backend

__all__ = ["ENABLED", "MISS", "backend_of_pair", "ids_in_range", "plain_check", "plan"]

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
    """The backend serving ``a`` when it is known and ``b`` (if given) is of the same type; else ``None``."""
    cls = type(a)
    if b is not _ALONE and type(b) is not cls:
        return None  # mixed types (a list with a tensor...): the general path converts them
    return _dispatch._CACHE.get(cls)


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
