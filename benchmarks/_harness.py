"""Timing, subprocess workers and per-framework native calls shared by the benchmark cases.

Timing method (``compare``): every candidate is called ``warmup`` times, then calibrated so that one
sample lasts about ``sample_s`` seconds (``number`` calls); then ``rounds`` rounds follow, each timing
every candidate once, in an order that rotates from round to round, with the garbage collector off.
Each call's result is waited for (``block``: JAX's ``block_until_ready``, CUDA synchronisation), so
asynchronous dispatch never hides work. A candidate's figure is its median time per call (with min and
max over the rounds); its ratio is the median over rounds of the paired ratio ``t / t_baseline`` of the
same round (with min and max), which cancels most of the drift of a busy machine.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MARKER = "@@labelkit-bench@@"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = ("numpy", "torch", "tensorflow", "jax")


# --- timing --------------------------------------------------------------------------------------


def _noop(x: Any) -> Any:
    return x


@dataclass
class Timing:
    """One candidate's per-call times (seconds) over the rounds, and its paired ratios to the baseline."""

    times: list[float]
    ratios: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median_s": self.median,
            "min_s": min(self.times),
            "max_s": max(self.times),
            "rounds": len(self.times),
        }
        if self.ratios:
            out.update(ratio=statistics.median(self.ratios), ratio_min=min(self.ratios), ratio_max=max(self.ratios))
        return out


def compare(
    candidates: dict[str, Callable[[], Any]],
    *,
    baseline: str,
    block: Callable[[Any], Any] = _noop,
    rounds: int = 21,
    warmup: int = 3,
    sample_s: float = 0.02,
    max_number: int = 100_000,
) -> dict[str, Timing]:
    """Times ``candidates`` in interleaved rounds; see the module docstring."""
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            block(candidates[name]())
    numbers = {}
    for name in names:
        f = candidates[name]
        t0 = time.perf_counter()
        block(f())
        one = max(time.perf_counter() - t0, 1e-7)
        numbers[name] = int(min(max_number, max(1, sample_s / one)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                f, n = candidates[name], numbers[name]
                t0 = time.perf_counter()
                for _ in range(n):
                    block(f())
                samples[name].append((time.perf_counter() - t0) / n)
    finally:
        if enabled:
            gc.enable()
    base = samples[baseline]
    out = {}
    for name in names:
        ratios = [t / b for t, b in zip(samples[name], base)]
        out[name] = Timing(samples[name], ratios)
    return out


# --- rows ----------------------------------------------------------------------------------------


def time_rows(
    timings: dict[str, Timing], *, backend: str, what: str, labels: dict[str, str], baseline: str
) -> list[dict[str, Any]]:
    """Table rows for one ``compare`` result; ``labels`` maps a candidate to what it calls."""
    rows = []
    for name, t in timings.items():
        row = {"backend": backend, "what": what, "impl": name, "call": labels.get(name, name), "unit": "s"}
        row.update(t.row())
        row["baseline"] = baseline
        rows.append(row)
    return rows


# --- workers -------------------------------------------------------------------------------------


def gather(
    ctx: Any, name: str, title: str, method: str, *, quick_title: str | None = None,
    backends: tuple[str, ...] | None = None, keras: bool = False, prefix_notes: bool = True,
) -> dict[str, Any]:
    """A case's result from one worker per backend: its rows, notes and versions.

    ``backends`` limits the backends run (default: all of ``ctx.backends``); ``keras`` runs each worker
    with ``KERAS_BACKEND`` set to its backend; ``prefix_notes`` puts the backend's name before its notes.
    """
    result: dict[str, Any] = {"name": name, "title": title, "method": method, "rows": [], "targets": [], "notes": []}
    if ctx.quick and quick_title is not None:
        result["title"] = quick_title
    for backend in ctx.backends:
        if backends is not None and backend not in backends:
            continue
        payload = ctx.worker(name, backend, env={"KERAS_BACKEND": backend}) if keras else ctx.worker(name, backend)
        if payload is None:
            continue
        result["rows"] += payload["rows"]
        notes = payload.get("notes", [])
        result["notes"] += [f"{backend}: {n}" for n in notes] if prefix_notes else notes
        result.setdefault("versions", {})[backend] = payload["versions"]
    return result


def ratio_targets(rows: list[dict[str, Any]], limit: float, target: Any) -> list[dict[str, Any]]:
    """One target per labelkit row: its median ratio against ``limit`` (``target(row)`` words it)."""
    return [
        {"target": target(row), "backend": row["backend"], "value": row["ratio"], "limit": limit, "unit": "×",
         "met": row["ratio"] <= limit}
        for row in rows
        if row["impl"] == "labelkit"
    ]


def emit(payload: dict[str, Any]) -> None:
    """Hands a worker's result to the parent process (one marked JSON line on stdout)."""
    sys.stdout.write(MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker: this one's (thread settings included), quieter TensorFlow, and the
    CPU only unless ``extra`` says otherwise (the GPU script sets ``LABELKIT_BENCH_GPU=1``)."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not (extra or {}).get("LABELKIT_BENCH_GPU"):
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    env.update(_THREADS)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = ROOT + (os.pathsep + path if path else "")
    if extra:
        env.update(extra)
    return env


_THREADS: dict[str, str] = {}


def set_threads(n: int) -> None:
    """Caps every worker's framework threads at ``n`` (``--threads``); OpenBLAS is left as the machine sets it."""
    _THREADS.update(
        OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n), TF_NUM_INTRAOP_THREADS=str(n), TF_NUM_INTEROP_THREADS=str(n)
    )
    if n == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        _THREADS["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()


@dataclass
class WorkerResult:
    ok: bool
    payload: dict[str, Any]
    error: str = ""
    seconds: float = 0.0


def run_worker(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 900) -> WorkerResult:
    """Runs ``python -m <args>`` in a fresh interpreter and reads its marked JSON line."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=worker_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return WorkerResult(False, {}, f"timed out after {timeout:.0f} s: {' '.join(args)}", time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    payload = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            payload = json.loads(line[len(MARKER) :])
    if proc.returncode != 0 or payload is None:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return WorkerResult(False, payload or {}, f"exit {proc.returncode}: {' '.join(args)}\n{tail}", seconds)
    return WorkerResult(True, payload, "", seconds)


# --- memory --------------------------------------------------------------------------------------


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


def rss_mib() -> float:
    """The resident set size now."""
    return _status_kib("VmRSS") / 1024.0


def peak_mib() -> float:
    """The resident set's high-water mark since the last ``reset_peak``."""
    return _status_kib("VmHWM") / 1024.0


def reset_peak() -> bool:
    """Resets the process's RSS high-water mark (Linux ``clear_refs`` 5); ``False`` where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --- frameworks ----------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    """Where these numbers come from."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL_", "XLA_FLAGS"))},
    }
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(backend: str) -> dict[str, str]:
    import numpy as np

    import labelkit

    out = {"labelkit": labelkit.__version__, "numpy": np.__version__}
    for mod in ("torch", "tensorflow", "jax", "optax", "keras"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    if "torch" in sys.modules:
        out["torch_threads"] = str(sys.modules["torch"].get_num_threads())
    return out


class Framework:
    """A framework's own calls, under the names the cases use.

    ``one_hot(y, C)``, ``sparse_ce(z, y)`` (the native fused sparse loss, mean) and ``onehot_ce(z, y)``
    (one-hot, then the native categorical loss, mean); ``fwd_bwd(fn)`` turns ``fn(z, y) -> loss`` into
    a call that also computes the gradient with respect to the logits; ``jit`` compiles where the
    framework does (JAX) and is the identity elsewhere. ``calls`` says in words what each one runs.
    """

    name = ""
    has_grad = True
    calls: dict[str, str] = {}  # noqa: RUF012 - overridden per framework

    def block(self, x: Any) -> Any:
        return x

    def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def to_scalar(self, x: Any) -> float:
        return float(self.to_numpy(x))

    def to_numpy(self, x: Any) -> Any:
        import numpy as np

        return np.asarray(x)


class NumpyFramework(Framework):
    name = "numpy"
    has_grad = False
    calls = {  # noqa: RUF012
        "one_hot": "np.eye(C, dtype='float32')[y]",
        "sparse_ce": "NumPy logsumexp(z) - z[y], mean (no fused kernel exists)",
        "onehot_ce": "one-hot rows (zeros, put 1 at y), then -sum(onehot * log_softmax(z)), mean",
    }

    def __init__(self) -> None:
        import numpy as np

        self.np = np

    def array(self, a: Any) -> Any:
        return a

    def one_hot(self, y: Any, c: int) -> Any:
        return self.np.eye(c, dtype="float32")[y]

    def _lse(self, z: Any) -> Any:
        np = self.np
        m = z.max(axis=-1, keepdims=True)
        return np.log(np.exp(z - m).sum(axis=-1)) + m[..., 0]

    def sparse_ce(self, z: Any, y: Any) -> Any:
        np = self.np
        picked = np.take_along_axis(z, y[..., None], axis=-1)[..., 0]
        return (self._lse(z) - picked).mean()

    def onehot_ce(self, z: Any, y: Any) -> Any:
        np = self.np
        oh = np.zeros(z.shape, dtype=z.dtype)  # not np.eye(C)[y]: at C=131072 the identity is 64 GiB
        np.put_along_axis(oh, y[..., None], 1, axis=-1)
        logp = z - self._lse(z)[..., None]
        return -(oh * logp).sum(axis=-1).mean()


class TorchFramework(Framework):
    name = "torch"
    calls = {  # noqa: RUF012
        "one_hot": "F.one_hot(y, C).float()",
        "sparse_ce": "F.cross_entropy(z, y)",
        "onehot_ce": "F.cross_entropy(z, F.one_hot(y, C).float())",
        "grad": "torch.autograd.grad(loss, z)",
    }

    def __init__(self, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.F = torch.nn.functional
        self.device = device

    def array(self, a: Any) -> Any:
        return self.torch.as_tensor(a, device=self.device)

    def block(self, x: Any) -> Any:
        if self.device != "cpu":
            self.torch.cuda.synchronize()
        return x

    def one_hot(self, y: Any, c: int) -> Any:
        return self.F.one_hot(y, c).float()

    def sparse_ce(self, z: Any, y: Any) -> Any:
        return self.F.cross_entropy(z, y)

    def onehot_ce(self, z: Any, y: Any) -> Any:
        return self.F.cross_entropy(z, self.F.one_hot(y, z.shape[-1]).float())

    def fwd_bwd(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        torch = self.torch

        def run(z: Any, y: Any) -> Any:
            if not z.requires_grad:
                z.requires_grad_(True)
            loss = fn(z, y)
            (g,) = torch.autograd.grad(loss, z)
            return loss.detach(), g

        return run

    def to_numpy(self, x: Any) -> Any:
        return x.detach().cpu().numpy()


class TensorflowFramework(Framework):
    name = "tensorflow"
    calls = {  # noqa: RUF012
        "one_hot": "tf.one_hot(y, C)",
        "sparse_ce": "tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, z))",
        "onehot_ce": "tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(tf.one_hot(y, C), z))",
        "grad": "tf.GradientTape: tape.gradient(loss, z)",
    }

    def __init__(self) -> None:
        import tensorflow as tf

        self.tf = tf

    def array(self, a: Any) -> Any:
        return self.tf.convert_to_tensor(a)

    def one_hot(self, y: Any, c: int) -> Any:
        return self.tf.one_hot(y, c)

    def sparse_ce(self, z: Any, y: Any) -> Any:
        tf = self.tf
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z))

    def onehot_ce(self, z: Any, y: Any) -> Any:
        tf = self.tf
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=tf.one_hot(y, z.shape[-1]), logits=z))

    def fwd_bwd(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        tf = self.tf

        def run(z: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss = fn(z, y)
            return loss, tape.gradient(loss, z)

        return run

    def to_numpy(self, x: Any) -> Any:
        return x.numpy()


class JaxFramework(Framework):
    name = "jax"
    calls = {  # noqa: RUF012
        "one_hot": "jax.nn.one_hot(y, C)",
        "sparse_ce": "optax.softmax_cross_entropy_with_integer_labels(z, y).mean()",
        "onehot_ce": "optax.softmax_cross_entropy(z, jax.nn.one_hot(y, C)).mean()",
        "grad": "jax.value_and_grad",
    }

    def __init__(self, device: str = "cpu") -> None:
        import jax
        import optax

        self.jax = jax
        self.optax = optax
        self.dev = jax.devices(device)[0] if device != "cpu" else jax.devices("cpu")[0]

    def array(self, a: Any) -> Any:
        return self.jax.device_put(a, self.dev)

    def block(self, x: Any) -> Any:
        return self.jax.block_until_ready(x)

    def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.jax.jit(fn)

    def one_hot(self, y: Any, c: int) -> Any:
        return self.jax.nn.one_hot(y, c)

    def sparse_ce(self, z: Any, y: Any) -> Any:
        return self.optax.softmax_cross_entropy_with_integer_labels(z, y).mean()

    def onehot_ce(self, z: Any, y: Any) -> Any:
        return self.optax.softmax_cross_entropy(z, self.jax.nn.one_hot(y, z.shape[-1])).mean()

    def fwd_bwd(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        return self.jax.value_and_grad(fn)


_CLASSES: dict[str, type[Framework]] = {
    "numpy": NumpyFramework,
    "torch": TorchFramework,
    "tensorflow": TensorflowFramework,
    "jax": JaxFramework,
}


def framework_calls(name: str) -> dict[str, str]:
    """What each native call of a framework runs, in words (without importing the framework)."""
    return dict(_CLASSES[name].calls)


def framework(name: str, device: str = "cpu") -> Framework:
    if name == "numpy":
        return NumpyFramework()
    if name == "torch":
        return TorchFramework(device)
    if name == "tensorflow":
        return TensorflowFramework()
    if name == "jax":
        return JaxFramework(device)
    raise ValueError(f"unknown framework {name!r}")


def data(n: int, c: int, *, seed: int = 0, label_dtype: str = "int64") -> tuple[Any, Any]:
    """Float32 logits ``(n, c)`` and valid integer labels ``(n,)`` as NumPy arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c), dtype=np.float32)
    y = rng.integers(0, c, size=n).astype(label_dtype)
    return z, y


def label_dtype(fw: Framework) -> str:
    if fw.name == "jax" and not fw.jax.config.jax_enable_x64:  # type: ignore[attr-defined]
        return "int32"
    return "int64"


def keras_calls(backend: str) -> tuple[Any, dict[str, str]] | None:
    """Keras 3 on this process's backend (``KERAS_BACKEND`` must name it), or ``None`` when unavailable."""
    want = {"numpy": "numpy", "torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}[backend]
    if os.environ.get("KERAS_BACKEND") != want:
        return None
    try:
        import keras
    except Exception:
        return None
    if keras.backend.backend() != want:
        return None
    return keras, {
        "one_hot": "keras.ops.one_hot(y, C)",
        "sparse_ce": "keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True))",
    }
