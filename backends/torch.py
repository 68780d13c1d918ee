"""The PyTorch backend. It never imports torch: the dispatcher passes ``sys.modules["torch"]``."""

from __future__ import annotations

from typing import Any

import numpy as np
from labelkit.backends import EYE_MAX, Backend, cached_identity

__all__ = ["TorchBackend"]

_DTYPE_NAMES: dict[Any, str] = {}
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}  # torch's reduction enum (torch.nn._reduction.get_enum)

def _eye(backend: TorchBackend, n: int, dtype: str, device: Any) -> Any:
    """The ``n × n`` identity of ``dtype`` on the CPU ``device``, made once (at most 512 KiB, float64)."""
    torch = backend.torch

    def make() -> Any:
        with torch.inference_mode(False):  # made inside inference_mode, it would be an inference tensor
            return torch.eye(n, dtype=getattr(torch, dtype), device=device)

    return cached_identity(("torch", n, dtype, device), make)


class TorchBackend(Backend):
    name = "torch"
    modules = ("torch",)
    sparse_ce_checks_ids = True  # F.cross_entropy on the CPU: "IndexError: Target 7 is out of bounds."
    sparse_ce_smooths = True  # on host tensors, with its result read for overflow (see sparse_ce)
    defers_checks = True  # on a GPU, checks copy their verdict to pinned memory behind a CUDA event

    def __init__(self, module: Any) -> None:
        self.torch = module
        self.F = module.nn.functional
        # Whether a tensor is a torch.func wrapper (a transform is running over it); absent in old torch.
        functorch = getattr(module._C, "_functorch", None)
        self._wrapped = getattr(functorch, "is_functorch_wrapped_tensor", None) or (lambda x: False)
        self._strided = module.strided
        # What torch.jit.is_tracing() and F.cross_entropy call, without their Python layers (a training
        # step calls them once each: ~0.6 µs less per step). Both are torch's C bindings, which dispatch
        # tensor subclasses and TorchFunctionModes as F.cross_entropy does.
        self._jit_tracing = module._C._is_tracing
        self._ce = getattr(module._C._nn, "cross_entropy_loss", None)

    def owns(self, x: Any) -> bool:
        return isinstance(x, self.torch.Tensor)

    def is_tracing(self, x: Any) -> bool:
        torch = self.torch
        if torch.compiler.is_compiling() or self._jit_tracing():
            return True
        if not isinstance(x, torch.Tensor):
            return False
        # FakeTensor / meta tensors carry no values, nor do torch.func's wrappers (vmap's batched
        # tensors, grad's and jacrev's tracking tensors): reading one raises "Cannot access data pointer".
        return x.is_meta or self._wrapped(x)

    def eager_key(self, x: Any, y: Any = None) -> Any:
        torch = self.torch
        strided = self._strided
        # Sparse and nested tensors take the general path, which refuses them by name (``unservable``).
        if (
            x.is_meta or x.layout is not strided or x.is_nested or torch.compiler.is_compiling()
            or self._jit_tracing()
        ):
            return None
        if y is None:
            return x.shape, x.dtype  # torch.Size is a tuple
        if y.is_meta or y.layout is not strided or y.is_nested:
            return None
        # The devices too: a plan made for ids on the logits' device must not serve ids elsewhere.
        return x.shape, x.dtype, y.shape, y.dtype, x.device, y.device

    def unservable(self, x: Any) -> tuple[str, str] | None:
        if x.is_nested:
            return "nested", f"a nested tensor (layout {x.layout})"
        if x.layout is not self.torch.strided:
            return "sparse", f"a sparse tensor (layout {x.layout})"
        return None

    def on_host(self, x: Any) -> bool:
        host: bool = x.is_cpu
        return host

    def to_list(self, x: Any) -> list[Any]:
        values: list[Any] = (x if x.dim() == 1 else x.reshape(-1)).tolist()
        return values

    def shape(self, x: Any) -> tuple[int | None, ...]:
        return tuple(x.shape)

    def dtype_name(self, x: Any) -> str:
        name = _DTYPE_NAMES.get(x.dtype)
        if name is None:  # called several times per call: remember each dtype's name
            name = _DTYPE_NAMES.setdefault(x.dtype, str(x.dtype).rpartition(".")[2])
        return name

    def dtype(self, name: str) -> Any:
        return getattr(self.torch, name)

    def default_int(self) -> str:
        return "int64"

    def asarray(self, obj: Any, like: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj.dtype == np.uint16:
            obj = obj.astype(np.int32)
        if isinstance(obj, np.ndarray) and obj.dtype.name == "bfloat16":  # ml_dtypes: torch cannot read it
            return self.torch.as_tensor(obj.astype(np.float32), device=like.device).to(self.torch.bfloat16)
        return self.torch.as_tensor(obj, device=like.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        x = x.detach()
        if x.dtype == self.torch.bfloat16:
            x = x.float()
        array: np.ndarray = x.cpu().numpy()
        return array

    def cast(self, x: Any, dtype: str) -> Any:
        return x.to(getattr(self.torch, dtype))

    def arange(self, n: int, like: Any) -> Any:
        return self.torch.arange(n, device=like.device)

    def zeros(self, shape: tuple[int, ...], dtype: str, like: Any) -> Any:
        return self.torch.zeros(shape, dtype=getattr(self.torch, dtype), device=like.device)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.torch.where(cond, a, b)

    def isfinite(self, x: Any) -> Any:
        return self.torch.isfinite(x)

    def floor(self, x: Any) -> Any:
        return self.torch.floor(x)

    def abs(self, x: Any) -> Any:
        return self.torch.abs(x)

    def log(self, x: Any) -> Any:
        return self.torch.log(x)

    def exp(self, x: Any) -> Any:
        return self.torch.exp(x)

    def log1p(self, x: Any) -> Any:
        return self.torch.log1p(x)

    def softplus(self, x: Any) -> Any:
        return self.torch.nn.functional.softplus(x)

    def maximum(self, a: Any, b: Any) -> Any:
        if not isinstance(b, self.torch.Tensor):
            return self.torch.clamp(a, min=b)
        return self.torch.maximum(a, b)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return self.torch.clamp(x, lo, hi)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return self.torch.reshape(x, shape)

    def moveaxis(self, x: Any, source: int, dest: int) -> Any:
        return self.torch.movedim(x, source, dest)

    def squeeze(self, x: Any, axis: int) -> Any:
        return self.torch.squeeze(x, axis)

    def expand_dims(self, x: Any, axis: int) -> Any:
        return self.torch.unsqueeze(x, axis)

    def sum(self, x: Any, axis: int | None = None) -> Any:
        return self.torch.sum(x) if axis is None else self.torch.sum(x, dim=axis)

    def max(self, x: Any, axis: int | None = None) -> Any:
        return self.torch.amax(x) if axis is None else self.torch.amax(x, dim=axis)

    def min(self, x: Any, axis: int | None = None) -> Any:
        return self.torch.amin(x) if axis is None else self.torch.amin(x, dim=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        if x.dtype == self.torch.bool:  # torch.argmax does not take bool
            x = x.to(self.torch.uint8)
        elif x.dtype in (self.torch.uint16, self.torch.uint32, self.torch.uint64):  # nor these (no kernels)
            x = x.to(self.torch.int64)
        return self.torch.argmax(x, dim=axis)

    def any(self, x: Any) -> Any:
        return self.torch.any(x)

    def span(self, x: Any) -> tuple[int, int]:
        # One reduction and one read: on a GPU each read is a synchronisation (~10-20 µs).
        lo, hi = self.torch.aminmax(x)
        return tuple(self.torch.stack((lo, hi)).tolist())

    def to_bool(self, x: Any) -> bool:
        return bool(x)

    def read_later(self, flag: Any) -> Any:
        torch = self.torch
        if flag.device.type != "cuda":
            return flag  # host memory (nothing to wait for), or a device without CUDA events: read later
        # A non-blocking copy into pinned host memory, and an event behind it on the flag's stream:
        # ``read_now`` waits for that event only, not for the work queued after it.
        host = torch.empty((), dtype=flag.dtype, pin_memory=True)
        host.copy_(flag, non_blocking=True)
        done = torch.cuda.Event()
        done.record(torch.cuda.current_stream(flag.device))
        return host, done

    def read_now(self, handle: Any) -> bool:
        if isinstance(handle, tuple):
            host, done = handle
            done.synchronize()
            return bool(host)
        return bool(handle)

    def logsumexp(self, x: Any, axis: int) -> Any:
        return self.torch.logsumexp(x, dim=axis)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return self.torch.log_softmax(x, dim=axis)

    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        return self.torch.take_along_dim(x, idx, dim=axis)

    def stop_gradient(self, x: Any) -> Any:
        return x.detach()

    def take(self, x: Any, idx: Any) -> Any:
        return x[idx.long()]

    def one_hot_in_range(self, ids: Any, num_classes: int, axis: int, dtype: str) -> Any:
        torch = self.torch
        if dtype in ("uint16", "uint32", "uint64"):  # torch has no eye or scalar scatter for these
            return super().one_hot_in_range(ids, num_classes, axis, dtype)
        if ids.dtype not in (torch.int64, torch.int32):  # uint8 ids would index as a mask
            ids = ids.long()
        if ids.is_cpu and 1 <= ids.dim() == axis and num_classes <= EYE_MAX:
            # Rows of a cached identity, one gather (F.one_hot(...).to(dtype) is two ops, and reads the
            # ids' min and max to check them). A CPU only: on a GPU a tensor shared across streams would
            # need their synchronisation. Rank ≥ 1 only: a 0-d index would return a view of the identity.
            eye = _eye(self, num_classes, dtype, ids.device)
            return torch.index_select(eye, 0, ids) if ids.dim() == 1 else eye[ids]
        shape = list(ids.shape)
        shape.insert(axis, num_classes)
        out = torch.zeros(shape, dtype=getattr(torch, dtype), device=ids.device)
        return out.scatter_(axis, torch.unsqueeze(ids.long(), axis), 1)

    def sparse_nll_mean(self, logits: Any, ids: Any, axis: int) -> Any:
        # The fused kernel's own mean. Every id is a class id here, so its ignore_index (-100) never matches.
        if ids.dtype is not self.torch.int64:
            ids = ids.long()
        ndim = logits.dim()
        if ndim == 2 and axis == 1:
            return self.F.cross_entropy(logits, ids)
        if axis == ndim - 1:
            return self.F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1))
        if axis != 1:
            logits = self.torch.movedim(logits, axis, 1)
        return self.F.cross_entropy(logits, ids)

    def sparse_ce(
        self, logits: Any, ids: Any, axis: int, weight: Any, ignore_index: int | None, reduction: str,
        label_smoothing: float = 0.0,
    ) -> Any:
        # One F.cross_entropy with every argument. It has no gradient for the weights: weights that
        # need one are composed from the other primitives. Smoothing on host tensors only: the kernel
        # sums the log-probabilities before it scales them, so near float32's extremes its result may
        # overflow where labelkit's is finite; labelkit reads the result (free in host memory) and
        # composes the loss where it is not finite. On a device that read would be a sync.
        if (weight is not None and weight.requires_grad) or (label_smoothing and not logits.is_cpu):
            return NotImplemented
        if ids.dtype is not self.torch.int64:
            ids = ids.long()
        ignore = -100 if ignore_index is None else ignore_index  # every id is a class id: -100 matches none
        ndim = logits.dim()
        if axis == ndim - 1 and ndim != 2:  # channels-last: a (M, C) matrix, not a permuted copy
            out = self.F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), ids.reshape(-1), weight=weight, ignore_index=ignore,
                reduction=reduction, label_smoothing=label_smoothing,
            )
            return out.reshape(ids.shape) if reduction == "none" else out
        if axis != 1:
            logits = self.torch.movedim(logits, axis, 1)
        if self._ce is not None:  # F.cross_entropy's own call, without its Python layer
            return self._ce(logits, ids, weight, _REDUCTIONS[reduction], ignore, float(label_smoothing))
        return self.F.cross_entropy(
            logits, ids, weight=weight, ignore_index=ignore, reduction=reduction, label_smoothing=label_smoothing
        )

    def sparse_nll(self, logits: Any, ids: Any, axis: int) -> Any:
        # F.cross_entropy is the fused kernel; it wants the class axis at dim 1, or a (M, C) matrix.
        ids = ids.long()
        ndim = logits.dim()
        if axis == ndim - 1 and ndim != 2:
            c = logits.shape[-1]
            out = self.F.cross_entropy(logits.reshape(-1, c), ids.reshape(-1), reduction="none")
            return out.reshape(ids.shape)
        if axis != 1:
            logits = self.torch.movedim(logits, axis, 1)
        return self.F.cross_entropy(logits, ids, reduction="none")

    def top_k_hit(self, x: Any, target: Any, axis: int, k: int) -> Any:
        # torch.topk's values do not depend on how it breaks ties (its indices do), and rank NaN above
        # every number, as labelkit does. With v the k-th largest and w the (k+1)-th: a target above v is
        # in, one below v is out, one equal to v is in when w is below v; sure except where the target,
        # v and w are all equal (a tie straddling the k-th place). Equal: ==, or both NaN.
        torch = self.torch
        if not x.is_floating_point():
            return NotImplemented
        if axis != x.dim() - 1:
            x = torch.movedim(x, axis, -1)
        if target.dtype is not torch.int64:
            target = target.long()
        top = torch.topk(x, k + 1, dim=-1).values
        v, w = top[..., k - 1], top[..., k]
        xt = torch.take_along_dim(x, target.unsqueeze(-1), -1).squeeze(-1)
        nan_t, nan_v = torch.isnan(xt), torch.isnan(v)
        at_v = (xt == v) | (nan_t & nan_v)
        tied = (w == v) | (torch.isnan(w) & nan_v)
        hit = (xt > v) | (nan_t & ~nan_v) | (at_v & ~tied)
        return hit, ~(at_v & tied)
