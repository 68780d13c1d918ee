"""Value checks whose verdict is read later: checks on a GPU without a blocking sync (SPEC "Value
checks", "Checks on a GPU").

Reading a value computed on a GPU waits for the device to reach it, and with it for everything queued
before: a check that reads its verdict at once stalls the step (the CPU can no longer run ahead of the
GPU). So with ``check_values="auto"``, labels on a device of a backend that ``defers_checks`` are
checked on the device: each rule's mask, one flag (``any``), and the flag's copy to the host started
without waiting (``Backend.read_later``). The call goes on as when unchecked (an id out of range gives
NaN for that element). The verdict is read at the next labelkit call, or by
``lk.check_pending()``: by then the device has usually computed it, and the read waits for that flag
only, never for the work queued after it. A failed check is then raised as the same
``LabelValueError`` an eager check gives (the labels are checked again, on the host, to say where and
which value), with a note that it concerns an earlier call.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from labelkit.backends import Backend
from labelkit.errors import LabelValueError

__all__ = ["check_pending", "defer", "held", "holding", "surface"]

F = TypeVar("F", bound=Callable[..., Any])


# The checks in flight, oldest first: ``(backend, handle, recheck)``. One list for the process, so that a
# verdict made in a short-lived thread (``nn.DataParallel`` runs each replica's forward in a new thread)
# is read by the next call in any thread, or by ``lk.check_pending()``; changed under ``_LOCK``.
RECORDS: list[tuple[Backend, Any, Callable[[], object]]] = []
_LOCK = threading.Lock()


class _State(threading.local):
    """One thread's ``hold`` (> 0 while a caller, the Keras loss, makes several labelkit calls that count
    as one)."""

    def __init__(self) -> None:
        self.hold = 0


STATE = _State()


def defer(b: Backend, flags: list[Any], recheck: Callable[[], object]) -> None:
    """Keeps the verdict of a check made on the device: ``flags`` (each a bool mask of failures, or a
    0-d flag) are reduced to one 0-d flag whose copy to the host starts now; ``recheck()`` runs the
    same check eagerly and raises its ``LabelValueError`` (with where and which value)."""
    flag = None
    for mask in flags:
        one = b.any(mask)
        flag = one if flag is None else flag | one
    if flag is not None:
        handle = b.read_later(flag)
        with _LOCK:
            RECORDS.append((b, handle, recheck))


def surface() -> None:
    """Reads the verdicts of the checks in flight (waiting for each flag, not for later work) and raises
    the first failure. Called at the start of every labelkit call; ``lk.check_pending()`` does the same."""
    if not STATE.hold and not _compiling():
        _read_all()


def _compiling() -> bool:
    """Whether torch.compile is tracing this code: a read there would be a graph break (the verdicts
    wait for the next eager call). Asked only while a verdict is in flight."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def _read_all() -> None:
    with _LOCK:  # each verdict is read once, also when one raises
        records = RECORDS[:]
        del RECORDS[:]
    for b, handle, recheck in records:
        if b.read_now(handle):
            _raise(recheck)


def _raise(recheck: Callable[[], object]) -> None:
    note = (
        " (Found by the device-side check of an earlier labelkit call, whose loss is NaN for this element; "
        "raised now, at the next labelkit call or lk.check_pending(), so that the check never stalled the step.)"
    )
    try:
        recheck()
    except LabelValueError as exc:
        raise LabelValueError(f"{exc}{note}") from None
    raise LabelValueError(
        "labels: an earlier labelkit call's labels failed the value check on the device (an id out of range, "
        "or rows that are not one-hot or probability rows), and have been changed in place since, so where "
        "cannot be said. Keep the labels unchanged until the next labelkit call, or pass check_values=True to "
        "check them at once."
    )


class _Holding:
    """``with holding():`` several labelkit calls that make one (the Keras loss calls the loss, then the
    mask): the verdicts of the first are read by the next call from outside, not by the second. A class,
    not a generator: entering costs ~0.2 µs, which a Keras loss pays at every step."""

    def __enter__(self) -> None:
        STATE.hold += 1

    def __exit__(self, *exc: object) -> None:
        STATE.hold -= 1


_HOLDING = _Holding()


def holding() -> _Holding:
    """The context in which labelkit calls make one (see ``_Holding``)."""
    return _HOLDING


def held(fn: F) -> F:
    """``fn`` runs ``holding()``: for functions that never raise on user data (``lk.diagnose``,
    ``lk.explain``), which must not raise an earlier call's verdict either (nor swallow it)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with holding():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_pending() -> None:
    """Raises the ``LabelValueError`` of a value check that ran on the device and has not surfaced yet.

    With ``check_values="auto"``, labels on a GPU (PyTorch CUDA, JAX) are checked on the device, without
    the blocking host read that would stall the training step: the call's loss is NaN where an id is out
    of range, and its error is raised by the next labelkit call (in any thread), or by this function.
    Call it where a loop ends (after an epoch, before saving a checkpoint) so that no failure of the
    last call goes unnoticed. It waits for the checks' verdicts only, not for other work on the device.

    Returns:
      ``None`` when every check in flight passed (or none is).

    Raises:
      LabelValueError: a check in flight failed; the message names the position and value, as an eager
        check's does.

    >>> import labelkit as lk
    >>> lk.check_pending() is None
    True
    """
    _read_all()
    return None
