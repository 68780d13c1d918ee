"""PyTorch integration: ``labelkit.torch.CrossEntropyLoss``, a drop-in for ``torch.nn.CrossEntropyLoss``.

Importing this module imports PyTorch (``import labelkit`` alone never does). The module is named
``torch`` inside the ``labelkit`` package; with absolute imports, ``import torch`` below is the real
PyTorch.
"""

from __future__ import annotations

import numbers
import re
import warnings
from typing import Any

import torch

from labelkit import _fast, _pending
from labelkit._checks import validate_ignore_index
from labelkit._losses import _check_args, _fast_args, _run, _sparse_apply, _sparse_lookup
from labelkit._spec import ArgumentError, CheckValues, Reduction, Task, check_task
from labelkit.errors import ShapeMismatchError

__all__ = ["CrossEntropyLoss"]


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> Reduction:
    """The ``reduction`` that PyTorch's deprecated ``size_average``/``reduce`` pair stands for."""
    warnings.warn(
        "size_average and reduce are deprecated (as in torch.nn.CrossEntropyLoss); use reduction='mean', "
        "'sum' or 'none' instead.",
        UserWarning,
        stacklevel=3,
    )
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _axis_arg(axis: Any) -> int:
    """The module's ``axis``: an int (checked against the input's rank at each call)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, numbers.Integral)):
        raise ArgumentError(
            f"axis: expected an int, got {type(axis).__name__} {axis!r}. Pass e.g. axis=1 (PyTorch's class dim, "
            f"the default) or axis=-1 (channels-last logits)."
        )
    return int(axis)


def _in_module_words(exc: ShapeMismatchError) -> ShapeMismatchError | None:
    """``exc`` with its fix written for this module (the axis goes to the constructor), or ``None``
    when the message needs no change."""
    text = str(exc)
    m = re.search(r"pass axis=(-?\d+)\.", text)
    if m is None:
        return None
    k = m.group(1)
    fix = f"pass axis={k} to the module: labelkit.torch.CrossEntropyLoss(axis={k})."
    text = text[: m.start()] + fix + text[m.end() :]
    new = type(exc)(text)
    new.code = getattr(exc, "code", "shape_mismatch")  # type: ignore[attr-defined]
    return new


# The module's arguments that its remembered plan depends on: assigning one drops the plan.
_PLAN_ARGS = frozenset({"weight", "ignore_index", "reduction", "label_smoothing", "axis", "task", "check_values"})


class _LastCall:
    """The last call's eager plan, kept by a ``CrossEntropyLoss`` (a cache, not state: a copy or a pickle
    of the module starts without it)."""

    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: tuple[Any, ...] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_LastCall, ())


class CrossEntropyLoss(torch.nn.Module):
    """``torch.nn.CrossEntropyLoss`` that accepts any label format.

    Same constructor, defaults and class axis (dim 1) as PyTorch's; the target may be class ids of
    shape ``(N,)`` or ``(N, 1)`` (``(N, d1, ...)`` or ``(N, 1, d1, ...)`` for per-pixel/per-token
    logits), one-hot or probability rows of the input's shape ``(N, C, d1, ...)``, and, for one logit
    per element ``(N, 1, ...)``, binary targets (a sigmoid loss). Replace
    ``nn.CrossEntropyLoss(...)`` with ``labelkit.torch.CrossEntropyLoss(...)``; nothing else changes.

    With ``p = log_softmax(input, dim=1)``, ``t'`` the target row smoothed to ``(1-ε) t + ε/C`` and
    ``w`` = ``weight``, element ``i`` has loss ``l_i = -Σ_c w_c t'_ic p_ic`` (0 where the target is
    ``ignore_index``). ``"mean"`` divides ``Σ l_i`` by ``Σ_i w[y_i]`` over non-ignored elements (their
    count without ``weight``), as PyTorch does for class ids. Where PyTorch differs, this module
    follows labelkit's semantics (SPEC "Loss semantics"):

    * probability targets with ``weight``: ``"mean"`` divides by ``Σ_i Σ_c w_c t_ic`` (PyTorch: by N),
      so a label's format never changes the loss;
    * an all-ignored (or empty) batch: ``"mean"`` is 0 with a zero gradient (PyTorch: NaN);
    * float16/bfloat16 input is computed in float32 and the loss is float32.

    Args:
      weight: float tensor of shape ``(C,)`` (``(2,)`` = ``[w_neg, w_pos]`` for binary), or ``None``.
        Registered as a buffer: it moves with ``.to(device)`` and is saved in ``state_dict()``.
      size_average: deprecated (as in PyTorch); use ``reduction``.
      ignore_index: a class id whose elements give 0 and are left out of the mean (default -100, as
        in PyTorch); ``None`` ignores nothing.
      reduce: deprecated (as in PyTorch); use ``reduction``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      label_smoothing: ε in ``[0, 1]``.
      axis: keyword-only; the input's class axis: ``1`` (default, PyTorch's class dim) or any other,
        e.g. ``axis=-1`` for channels-last ``(N, T, C)`` or ``(N, H, W, C)`` logits; the target then
        has the input's shape without that axis (class ids), with it at size 1, or the input's shape.
      task: keyword-only; ``"auto"`` (default), ``"multiclass"``, ``"binary"`` or ``"multilabel"``.
      check_values: keyword-only; ``"auto"`` checks label values on concrete tensors and skips them under
        ``torch.compile``: ids in host memory are read once; ids on a GPU are checked on the GPU without
        a blocking sync, and a failure is raised by the next call (or ``lk.check_pending()``); ``True``
        checks at once; ``False`` never checks.

    Shape:
      - input: ``(N, C)``, ``(C,)`` (one unbatched example, as in PyTorch) or ``(N, C, d1, ..., dK)``;
        with ``axis=-1``, ``(N, d1, ..., dK, C)``.
      - target: ``(N,)`` / ``(N, 1)`` / ``()`` class ids (any integer dtype); ``(N, d1, ..., dK)`` or
        ``(N, 1, d1, ..., dK)`` class ids; or the input's shape (one-hot/probability rows).
      - output: a scalar; with ``reduction="none"``, one loss per element: ``(N,)``, ``()`` or
        ``(N, d1, ..., dK)``. float32, or float64 for float64 input.

    Raises:
      ShapeMismatchError: the target does not fit the input (the message says which shapes do).
      LabelValueError: a class id out of range, or rows that are not one-hot/probabilities (eager).
      ArgumentError: an argument out of range (a ``ValueError``).

    >>> import torch, labelkit.torch
    >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> loss_fn = labelkit.torch.CrossEntropyLoss()
    >>> loss_fn(logits, torch.tensor([[0], [2]]))  # (N, 1) labels: PyTorch's own raises here
    tensor(0.6691)
    >>> loss_fn(logits, torch.tensor([0, 2]))  # what torch.nn.CrossEntropyLoss gives for (N,) labels
    tensor(0.6691)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int | None = -100,
        reduce: bool | None = None,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        *,
        axis: int = 1,
        task: Task = "auto",
        check_values: CheckValues = "auto",
    ) -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        if weight is not None and not isinstance(weight, torch.Tensor):
            weight = torch.as_tensor(weight, dtype=torch.float32)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing
        self.axis = _axis_arg(axis)
        self.task = task
        self.check_values = check_values
        # Validate every argument now, not at the first batch.
        _check_args(label_smoothing, reduction, True)
        validate_ignore_index(ignore_index)
        check_task(task)
        if check_values not in ("auto", True, False):
            raise ArgumentError(f"check_values: expected 'auto', True or False, got {check_values!r}.")

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # A training step repeats the last call: same tensor types, shapes and dtypes, same arguments.
        # Then the plan the general path's functions made for it (kept by ``_remember``) answers at once:
        # the read of the ids and the kernel (``_sparse_apply``, as ``lk.cross_entropy``'s eager plan).
        # (Assigning an argument drops the plan: ``__setattr__``. ``.to()`` replaces the weight buffer
        # without it: the weight is compared by identity.) Compiled code does not look at the verdicts
        # in flight (``_pending.RECORDS``): a guard on them would recompile the step.
        compiling = torch.compiler.is_compiling()
        if not compiling and _pending.RECORDS:
            _pending.surface()  # device-side checks of earlier calls (labelkit/_pending.py)
        last = None if compiling else self.__dict__.get("_lk_last")
        if last is not None and _fast.ENABLED:
            e = last.entry
            if (
                e is not None and type(input) is e[0] and type(target) is e[0] and self._weight() is e[4]
                and e[1].eager_key(input, target) == e[2]
            ):
                out = _sparse_apply(e[1], e[3], input, target, e[10], e[4], e[6])
                if out is not _fast.MISS:
                    return out
                return self._general(input, target, fast=False)
        return self._general(input, target, fast=True)

    def _general(self, input: torch.Tensor, target: torch.Tensor, fast: bool) -> torch.Tensor:
        """``forward`` through ``lk.cross_entropy``'s body; with ``fast``, it remembers the eager plan
        of a batched call for the next (``_remember``)."""
        unbatched = input.dim() == 1
        if fast and not unbatched:
            self._remember(input, target)
        if unbatched:
            input, target = input.unsqueeze(0), target.unsqueeze(0)
        try:
            # lk.cross_entropy's body itself (one call less per step: the fast path's cost is what matters here).
            loss = _run(
                input,
                target,
                task=self.task,
                want=None,
                from_logits=True,
                axis=-1 if unbatched else self.axis,
                label_smoothing=self.label_smoothing,
                class_weight=self.weight,
                ignore_index=self.ignore_index,
                reduction=self.reduction,
                check_values=self.check_values,
                fast=fast,
            )
        except ShapeMismatchError as exc:
            reworded = _in_module_words(exc)
            if reworded is None:
                raise
            raise reworded.with_traceback(exc.__traceback__) from None
        if unbatched and self.reduction == "none":
            loss = loss.squeeze(0)
        return loss

    def _remember(self, input: torch.Tensor, target: torch.Tensor) -> None:
        """Keeps the eager plan of this call (``_sparse_lookup``, the one ``lk.cross_entropy`` uses) with
        what it was made for: the tensor type, the tensors' eager key and the module's arguments (by
        identity: assigning any of them, ``.to(device)`` included, makes the next call build it again;
        the weights' values are read as ``lk.cross_entropy`` reads them, at each call)."""
        holder = self.__dict__.get("_lk_last")
        if holder is None:
            holder = self.__dict__["_lk_last"] = _LastCall()
        holder.entry = None
        weight = self._weight()
        ignore, reduction, eps = self.ignore_index, self.reduction, self.label_smoothing
        axis, task, check = self.axis, self.task, self.check_values
        if not (
            _fast.ENABLED and type(input) is type(target)
            and _fast_args(True, axis, task, ignore, eps, reduction, check)
        ):
            return
        found = _sparse_lookup(input, target, task, axis, None, weight, ignore, eps, reduction)
        if found is not None:
            b, key, p = found
            holder.entry = (type(input), b, key, p, weight, ignore, reduction, eps, axis, task, check)

    def _weight(self) -> torch.Tensor | None:
        """``self.weight``: a buffer, or a parameter where one was assigned (``nn.Parameter(w)``)."""
        w = self._buffers.get("weight")
        return self._parameters.get("weight") if w is None else w

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in _PLAN_ARGS:
            self.__dict__.pop("_lk_last", None)  # the remembered plan was made for the old value

    def extra_repr(self) -> str:
        parts = [f"ignore_index={self.ignore_index}", f"reduction={self.reduction!r}"]
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        if self.axis != 1:
            parts.append(f"axis={self.axis}")
        if self.task != "auto":
            parts.append(f"task={self.task!r}")
        return ", ".join(parts)
