"""The ``labelkit`` command: ``demo``, ``explain``, ``diagnose`` and ``doctor``.

Exit codes: 0 fine, 1 problems found, 2 usage error (bad arguments, unreadable or pickled files).
``--json`` prints one JSON object for tools. Text output is plain and aligned; colour is added only
on a terminal (and never when ``NO_COLOR`` is set). Frameworks are imported by ``demo`` and ``doctor``
only, never by ``import labelkit.cli``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["main"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
_FRAMEWORKS = ("torch", "tensorflow", "jax")


class UsageError(Exception):
    """Bad input to the command (exit code 2); the message is printed without a traceback."""


# --- output ---------------------------------------------------------------------------------------


def _colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _paint(text: str, stream: TextIO) -> str:
    if not _colour(stream):
        return text
    codes = {"ERROR": "31;1", "WARNING": "33;1", "OK": "32;1", "problems found": "31;1", "FAIL": "31;1"}

    def sub(m: re.Match[str]) -> str:
        return f"\033[{codes[m.group(0)]}m{m.group(0)}\033[0m"

    return re.sub(r"\b(ERROR|WARNING|OK|FAIL)\b|problems found", sub, text)


def _print(text: str = "", stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    print(_paint(text, stream), file=stream)


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    widths = [max(len(r[i]) for r in rows if len(r) > i) for i in range(max(len(r) for r in rows))]
    lines = []
    for r in rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# --- explain --------------------------------------------------------------------------------------


def _cmd_explain(args: argparse.Namespace) -> int:
    from labelkit._explain import explain

    if args.message and args.message != ["-"]:
        text = " ".join(args.message)
    else:
        if sys.stdin.isatty():
            raise UsageError("labelkit explain: give the error message as an argument, or pipe it on stdin.")
        text = sys.stdin.read()
    if not text.strip():
        raise UsageError("labelkit explain: the message is empty; paste the error message (the last line is enough).")
    d = explain(text)
    if args.json:
        _json(d.to_dict())
    else:
        _print(str(d))
    return EXIT_OK if d.ok else EXIT_PROBLEMS


# --- diagnose -------------------------------------------------------------------------------------


def _load(spec: str, role: str) -> np.ndarray:
    """An array from ``file.npy``, ``file.npz`` (its only array, or the one named ``role``) or ``file.npz:key``."""
    path, _, key = spec.rpartition(":") if (":" in spec and not Path(spec).exists()) else (spec, "", "")
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{role}: no such file: {path}")
    with open(p, "rb") as fh:
        magic = fh.read(6)
    if not magic.startswith((b"\x93NUMPY", b"PK")):
        if magic.startswith(b"\x80"):  # a pickle (protocol 2+), which np.load would only read with allow_pickle
            raise UsageError(
                f"{role}: refusing to load {path}: it is a pickle, and labelkit loads files with allow_pickle=False "
                f"because unpickling can run arbitrary code. Save a plain numeric array instead, e.g. "
                f"np.save('{p.stem}.npy', np.asarray(arr))."
            )
        raise UsageError(f"{role}: cannot read {path} as .npy/.npz: it is not a NumPy file (save it with np.save).")
    try:
        if magic.startswith(b"\x93NUMPY"):
            if key:
                raise UsageError(f"{role}: {path} is a .npy file holding one array; drop ':{key}'.")
            with open(p, "rb") as fh:
                _check_npy_header(fh, p.stat().st_size, role, str(path), p.stem)
            array: np.ndarray = np.load(p, allow_pickle=False)  # no more than the file holds: its header was read
            return array
        with np.load(p, allow_pickle=False) as npz:
            names = list(npz.files)
            choice = key or (names[0] if len(names) == 1 else role if role in names else "")
            if not choice or choice not in names:
                raise UsageError(
                    f"{role}: {path} holds the arrays {', '.join(names) or '(none)'}; name one as {path}:NAME."
                )
            info = npz.zip.getinfo(choice if choice in npz.zip.namelist() else f"{choice}.npy")
            with npz.zip.open(info) as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise UsageError(
                        f"{role}: {path}:{choice} is not a .npy array inside the .npz (save it with np.savez)."
                    )
                fh.seek(0)
                deflated = info.compress_type != 0
                _check_npy_header(fh, info.file_size, role, f"{path}:{choice}", choice,
                                  info.compress_size if deflated else None)
            array = npz[choice]
            return array
    except UsageError:
        raise
    except Exception as exc:  # whatever a damaged file raises (ValueError, zipfile.BadZipFile, zlib.error...)
        if isinstance(exc, ValueError) and "object arrays cannot be loaded" in str(exc).lower():
            raise UsageError(_pickled(role, str(path), p.stem)) from None
        text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)  # not a tuple's repr
        text = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise UsageError(f"{role}: cannot read {path} as .npy/.npz: the file is damaged ({text}).") from None


def _pickled(role: str, where: str, stem: str) -> str:
    return (
        f"{role}: refusing to load {where}: it holds pickled Python objects, and labelkit loads files with "
        f"allow_pickle=False because unpickling can run arbitrary code. Save a plain numeric array "
        f"instead, e.g. np.save('{stem}.npy', np.asarray(arr, dtype=np.float32))."
    )


def _check_npy_header(fh: Any, size: int, role: str, where: str, stem: str, compressed: int | None = None) -> None:
    """Reads a .npy header and refuses, before any array is allocated, an array that needs pickling or
    more bytes than the file holds after its header (a truncated file, or a header that lies about
    the shape). ``compressed``: a .npz member's compressed size (deflate expands at most ~1032x)."""
    import math

    from numpy.lib import format as npf

    start = fh.tell()
    head = fh.read(12)
    if len(head) >= 8 and head[6] in (1, 2, 3):  # the header's length, checked before NumPy reads that many bytes
        width = 2 if head[6] == 1 else 4
        length = int.from_bytes(head[8 : 8 + width], "little")
        if len(head) < 8 + width or length > size - 8 - width:
            raise UsageError(
                f"{role}: cannot read {where}: the file is truncated or damaged: its header is {length} bytes "
                f"long, but the file holds {max(size - 8 - width, 0)} bytes after it. Save it again with np.save."
            )
    fh.seek(start)
    version = npf.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = npf.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = npf.read_array_header_2_0(fh)
    else:
        raise UsageError(f"{role}: cannot read {where}: .npy format version {version} is not one NumPy writes.")
    if dtype.hasobject:
        raise UsageError(_pickled(role, where, stem))
    need = math.prod(shape) * dtype.itemsize
    have = size - fh.tell()
    if need > have:
        raise UsageError(
            f"{role}: cannot read {where}: the file is truncated or damaged: its header says shape {tuple(shape)} "
            f"of {dtype.name} ({need} bytes), but it holds {max(have, 0)} bytes after the header. Save it again "
            f"with np.save."
        )
    if compressed is not None and size > 1100 * compressed + 1024:
        raise UsageError(
            f"{role}: cannot read {where}: it claims {size} bytes from {compressed} compressed ones, more than "
            f"compression can give: the .npz is damaged. Save it again with np.savez."
        )


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from labelkit._diagnose import diagnose

    logits = _load(args.logits, "logits")
    labels = _load(args.labels if args.labels else args.logits, "labels")
    d = diagnose(logits, labels, task=args.task, axis=args.axis, ignore_index=args.ignore_index,
                 num_classes=args.num_classes, loss=args.loss, framework=args.framework)
    if args.json:
        _json(d.to_dict())
    else:
        _print(str(d))
        rerun = _rerun(d, args)
        if rerun:
            _print()
            _print(f"  to check that fix here: {rerun}")
    return EXIT_OK if d.ok else EXIT_PROBLEMS


# A fix's argument, and the attribute of `labelkit diagnose`'s option that takes it.
_OPTIONS = (
    (r"\bignore_index=(-?\d+)", "ignore_index"),
    (r"\bpass axis=(-?\d+)", "axis"),
    (r"\btask=['\"](multilabel|multiclass|binary)['\"]", "task"),
)


def _rerun(d: Any, args: argparse.Namespace) -> str | None:
    """The ``labelkit diagnose`` command that applies the first error's fix, where the fix is one of its
    options (``ignore_index=255`` -> ``--ignore-index 255``); ``None`` when it is not."""
    first = next((p for p in d.problems if p.severity == "error"), None)
    if first is None:
        return None
    for pattern, dest in _OPTIONS:
        m = re.search(pattern, f"{first.message} {first.fix}")
        if m and str(getattr(args, dest)) != m.group(1):
            words = ["labelkit", "diagnose", args.logits, *([args.labels] if args.labels else [])]
            for flag, name in (("--axis", "axis"), ("--task", "task"), ("--ignore-index", "ignore_index")):
                value = m.group(1) if name == dest else getattr(args, name)
                if value is not None and not (name == "axis" and str(value) == "-1") and value != "auto":
                    words += [flag, str(value)]
            return " ".join(_quote(w) for w in words)
    return None


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


# --- frameworks (demo and doctor only) ------------------------------------------------------------


def _import(name: str) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import importlib

    return importlib.import_module(name)


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


_DISTS = {"numpy": ("numpy",), "torch": ("torch",), "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly"),
          "jax": ("jax",), "keras": ("keras",), "optax": ("optax",)}


def _dist_version(name: str) -> str | None:
    for dist in _DISTS.get(name, (name,)):
        v = _version(dist)
        if v:
            return v
    return None


def _backend_list(text: str | None) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in ("numpy", *_FRAMEWORKS)]
    if unknown:
        raise UsageError(f"--backends: unknown backend(s) {', '.join(unknown)}; expected a comma list of "
                         f"numpy, {', '.join(_FRAMEWORKS)}.")
    return names


def _to(backend: str, a: np.ndarray) -> Any:
    if backend == "torch":
        return _import("torch").from_numpy(a)
    if backend == "tensorflow":
        return _import("tensorflow").convert_to_tensor(a)
    if backend == "jax":
        return _import("jax.numpy").asarray(a)
    return a


def _float(x: Any) -> float:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy"):
        x = x.numpy()
    return float(np.asarray(x))


def _err_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # TF prefixes its op errors with {{function_node ...}}; keep the sentence.
    text = re.sub(r"^\{\{[^}]*\}\}\s*", "", text)
    text = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {text[:160]}{'...' if len(text) > 160 else ''}"


# --- demo -----------------------------------------------------------------------------------------

_DEMO_N, _DEMO_C = 32, 1000


def _demo_natives(backend: str) -> list[tuple[str, str, Any]]:
    """The native calls a user writes for (N, C) logits and (N, 1) labels: (call text, namespace keys, fn)."""
    if backend == "torch":
        torch = _import("torch")
        return [("torch.nn.CrossEntropyLoss()(logits, labels)",
                 "error", lambda z, y: torch.nn.CrossEntropyLoss()(z, y))]
    if backend == "tensorflow":
        tf = _import("tensorflow")
        calls: list[tuple[str, str, Any]] = []
        try:
            keras = _import("keras")
            calls.append(("keras.losses.CategoricalCrossentropy(from_logits=True)(labels, logits)", "error",
                          lambda z, y: keras.losses.CategoricalCrossentropy(from_logits=True)(y, z)))
        except Exception:
            pass
        calls.append(("tf.nn.softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32), logits=logits)",
                      "silent", lambda z, y: tf.reduce_mean(
                          tf.nn.softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.float32), logits=z))))
        return calls
    if backend == "jax":
        calls = []
        try:
            optax = _import("optax")
        except Exception:
            return calls
        calls.append(("optax.softmax_cross_entropy_with_integer_labels(logits, labels)", "error",
                      lambda z, y: optax.softmax_cross_entropy_with_integer_labels(z, y).mean()))
        calls.append(("optax.softmax_cross_entropy(logits, labels)", "silent",
                      lambda z, y: optax.softmax_cross_entropy(z, y).mean()))
        return calls
    return []


def _demo_namespace(backend: str) -> dict[str, Any]:
    import labelkit as lk

    ns: dict[str, Any] = {"lk": lk, "np": np}
    for mod, alias in (("torch", "torch"), ("tensorflow", "tf"), ("keras", "keras"), ("optax", "optax"),
                       ("jax.numpy", "jnp")):
        if (backend == "tensorflow" and alias in ("tf", "keras")) or (backend == "jax" and alias in ("optax", "jnp")) \
                or (backend == "torch" and alias == "torch"):
            try:
                ns[alias] = _import(mod)
            except Exception:
                pass
    return ns


def _cmd_demo(args: argparse.Namespace) -> int:
    import labelkit as lk
    from labelkit._explain import explain

    wanted = _backend_list(args.backends) or list(lk.available_backends())
    rng = np.random.default_rng(0)
    z_np = rng.normal(size=(_DEMO_N, _DEMO_C)).astype(np.float32)
    y_np = rng.integers(0, _DEMO_C, size=(_DEMO_N, 1)).astype(np.int64)

    _print("labelkit demo: the classic mismatch, on every installed backend")
    _print(f"  logits  ({_DEMO_N}, {_DEMO_C}) float32   # a classifier's output, (None, {_DEMO_C}) in the model")
    _print(f"  labels  ({_DEMO_N}, 1) int64        # class ids in a column, (None, 1) in the dataset")
    _print()
    _print('The question: "logits (None, 1000), labels (None, 1): what is wrong?"')
    _print('labelkit\'s answer: lk.diagnose((None, 1000), (None, 1), labels_dtype="int64")')
    _print()
    _print(_indent(str(lk.diagnose((None, _DEMO_C), (None, 1), labels_dtype="int64")), "  "))

    results: dict[str, float] = {}
    fixed: dict[str, float] = {}
    failures = 0
    for backend in wanted:
        _print()
        if backend == "numpy":
            version = np.__version__
        else:
            version = _dist_version(backend) or "?"
        _print(f"== {backend} {version} " + "=" * max(0, 60 - len(backend) - len(version)))
        try:
            z, y = _to(backend, z_np), _to(backend, y_np)
            natives = _demo_natives(backend)
            ns = _demo_namespace(backend)
        except Exception as exc:
            _print(f"  skipped: {backend} could not be loaded ({_err_line(exc)})")
            failures += 1
            continue
        rows: list[list[str]] = []
        native_error = None
        for call, kind, fn in natives:
            try:
                value = _float(fn(z, y))
            except Exception as exc:
                rows.append(["native", call])
                rows.append(["", "-> " + _err_line(exc)])
                native_error = native_error or f"{type(exc).__name__}: {exc}"
            else:
                note = "no error, WRONG loss (the labels were broadcast)" if kind == "silent" else "no error"
                rows.append(["native", call])
                rows.append(["", f"-> {value:.6f}   {note}"])
        if native_error is not None:
            d = explain(native_error)
            first = d.problems[0]
            rows.append(["explain", f"lk.explain(<that message>) -> {first.code}"])
            rows.append(["", f"fix: {first.fix}"])
        d = lk.diagnose(z, y)
        rows.append(["diagnose", f"lk.diagnose(logits, labels) -> {d.spec}"])
        if backend != "numpy" and d.native_call:
            try:
                value = _float(_mean(eval(d.native_call, ns, {"logits": z, "labels": y})))  # our own call text
                fixed[backend] = value
                rows.append(["fixed", f"{d.native_call} = {value:.6f}"])
            except Exception as exc:
                rows.append(["fixed", f"{d.native_call} -> {_err_line(exc)}"])
                failures += 1
        try:
            value = _float(lk.cross_entropy(z, y))
            results[backend] = value
            rows.append(["labelkit", f"lk.cross_entropy(logits, labels) = {value:.6f}"])
        except Exception as exc:
            rows.append(["labelkit", f"lk.cross_entropy(logits, labels) -> {_err_line(exc)}"])
            failures += 1
        _print(_table(rows))

    _print()
    values = list(results.values()) + list(fixed.values())
    if not values:
        _print("no backend could run the demo")
        return EXIT_PROBLEMS
    ref = results.get("numpy", values[0])
    diff = max(abs(v - ref) for v in values)
    agree = diff <= 1e-5 * max(1.0, abs(ref))
    verdict = "OK, they agree" if agree else "FAIL, they disagree"
    _print(f"agreement: lk.cross_entropy on {', '.join(results)} and the fixed native calls on "
           f"{', '.join(fixed) or '(none)'}: {ref:.6f}, max |difference| {diff:.2g}: {verdict}")
    return EXIT_OK if agree and not failures else EXIT_PROBLEMS


def _mean(x: Any) -> Any:
    """The mean of a per-element loss (optax returns one value per example)."""
    shape = getattr(x, "shape", ())
    return x.mean() if len(tuple(shape)) else x


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


# --- doctor ---------------------------------------------------------------------------------------


def _devices(name: str, mod: Any) -> list[str]:
    if name == "torch":
        out = ["cpu"]
        if mod.cuda.is_available():
            out += [f"cuda:{i} ({mod.cuda.get_device_name(i)})" for i in range(mod.cuda.device_count())]
        mps = getattr(mod.backends, "mps", None)
        if mps is not None and mps.is_available():
            out.append("mps")
        return out
    if name == "tensorflow":
        return [d.name.replace("/physical_device:", "") for d in mod.config.list_physical_devices()]
    if name == "jax":
        return [str(d) for d in mod.devices()]
    return ["cpu"]


def _agreement(backend: str) -> tuple[float, str]:
    """Max |difference| from a float64 NumPy reference over sparse, column, one-hot and binary batches."""
    import labelkit as lk

    rng = np.random.default_rng(1)
    z = rng.normal(size=(16, 7)).astype(np.float32)
    ids = rng.integers(0, 7, size=16)
    logp = z.astype(np.float64) - np.log(np.exp(z.astype(np.float64)).sum(-1, keepdims=True))
    ref_ce = float(-logp[np.arange(16), ids].mean())
    zb = rng.normal(size=(16, 1)).astype(np.float32)
    t = rng.integers(0, 2, size=16).astype(np.float32)
    zb64 = zb[:, 0].astype(np.float64)
    ref_bce = float(np.mean(np.maximum(zb64, 0) - zb64 * t + np.log1p(np.exp(-np.abs(zb64)))))
    one_hot = np.eye(7, dtype=np.float32)[ids]
    cases: list[tuple[str, np.ndarray, np.ndarray, float]] = [
        ("sparse", z, ids.astype(np.int64), ref_ce),
        ("column", z, ids[:, None].astype(np.int64), ref_ce),
        ("one-hot", z, one_hot, ref_ce),
        ("binary", zb, t, ref_bce),
    ]
    worst, where = 0.0, ""
    for name, logits, labels, ref in cases:
        got = _float(lk.cross_entropy(_to(backend, logits), _to(backend, labels)))
        d = abs(got - ref)
        if d >= worst:
            worst, where = d, name
    return worst, where


def _cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    import labelkit as lk

    report: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "labelkit": lk.__version__,
        "numpy": np.__version__,
        "available_backends": list(lk.available_backends()),
        "backends": {},
        "packages": {name: _dist_version(name) for name in ("keras", "optax")},
    }
    problems = 0
    wanted = _backend_list(args.backends) or ["numpy", *_FRAMEWORKS]
    for name in ("numpy", *_FRAMEWORKS):
        entry: dict[str, Any] = {"installed": name in report["available_backends"], "version": _dist_version(name)}
        if name not in wanted:
            entry["checked"] = False
        elif entry["installed"]:
            try:
                mod = np if name == "numpy" else _import(name)
                entry["devices"] = _devices(name, mod)
                diff, case = _agreement(name)
                entry["max_abs_diff"] = diff
                entry["agrees"] = bool(diff <= 1e-5)
                entry["worst_case"] = case
                problems += not entry["agrees"]
            except Exception as exc:
                entry["error"] = _err_line(exc)
                problems += 1
        report["backends"][name] = entry
    if report["packages"]["keras"] and "tensorflow" in wanted:
        try:
            report["keras_backend"] = _import("keras").backend.backend()
        except Exception as exc:
            report["keras_backend"] = f"unavailable ({_err_line(exc)})"
    report["ok"] = problems == 0
    if args.json:
        _json(report)
        return EXIT_OK if report["ok"] else EXIT_PROBLEMS
    _print(f"labelkit {report['labelkit']} on Python {report['python']} ({report['platform']})")
    _print()
    rows = [["backend", "version", "devices", "agreement (lk.cross_entropy vs a float64 NumPy reference)"]]
    for name, e in report["backends"].items():
        if not e["installed"]:
            rows.append([name, "-", "-", "not installed"])
        elif e.get("checked") is False:
            rows.append([name, e["version"] or "?", "-", "not checked (--backends)"])
        elif "error" in e:
            rows.append([name, e["version"] or "?", "-", f"FAIL: {e['error']}"])
        else:
            verdict = "OK" if e["agrees"] else "FAIL"
            rows.append([name, e["version"] or "?", ", ".join(e["devices"]),
                         f"{verdict}: max |difference| {e['max_abs_diff']:.2g} (sparse, column, one-hot, binary)"])
    _print(_table(rows))
    extras = [f"{k} {v}" for k, v in report["packages"].items() if v]
    if "keras_backend" in report:
        extras.append(f"keras backend: {report['keras_backend']}")
    if extras:
        _print()
        _print("also installed: " + "; ".join(extras))
    _print()
    _print("OK: every checked backend agrees" if report["ok"] else "problems found: see FAIL above")
    return EXIT_OK if report["ok"] else EXIT_PROBLEMS


# --- the parser -----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from labelkit import __version__

    ap = argparse.ArgumentParser(
        prog="labelkit",
        description="Labels that fit the logits: diagnose label/logit mismatches on NumPy, PyTorch, "
                    "TensorFlow/Keras and JAX.",
        epilog="Exit codes: 0 fine, 1 problems found, 2 usage error.",
    )
    ap.add_argument("--version", action="version", version=f"labelkit {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="the (None, 1000) vs (None, 1) story on every installed backend")
    demo.add_argument("--backends", help="comma list of backends (default: every installed one)")
    demo.set_defaults(run=_cmd_demo)

    exp = sub.add_parser("explain", help="explain a framework's label/shape error message")
    exp.add_argument("message", nargs="*", help="the error message (or '-' / nothing to read stdin)")
    exp.add_argument("--json", action="store_true", help="print JSON")
    exp.set_defaults(run=_cmd_explain)

    diag = sub.add_parser("diagnose", help="diagnose logits and labels saved as .npy/.npz")
    diag.add_argument("logits", help="logits: file.npy, file.npz (its 'logits' or only array) or file.npz:NAME")
    diag.add_argument("labels", nargs="?", help="labels: as LOGITS (default: the 'labels' array of LOGITS' .npz)")
    diag.add_argument("--axis", type=int, default=-1, help="the logits' class axis (default -1; 1 for channels-first)")
    diag.add_argument("--task", choices=("auto", "multiclass", "binary", "multilabel"), default="auto")
    diag.add_argument("--ignore-index", type=int, default=None, help="a sparse id to leave out, e.g. -100")
    diag.add_argument("--num-classes", type=int, default=None, help="C, when the class axis is unknown")
    diag.add_argument("--loss", choices=("sparse_categorical_crossentropy", "categorical_crossentropy",
                                         "binary_crossentropy"), help="the loss you use, to have it checked")
    diag.add_argument("--framework", choices=("numpy", "torch", "tensorflow", "keras", "jax"),
                      help="whose words the fixes use (default: NumPy/labelkit calls)")
    diag.add_argument("--json", action="store_true", help="print JSON")
    diag.set_defaults(run=_cmd_diagnose)

    doc = sub.add_parser("doctor", help="installed backends, versions, devices, and a cross-backend agreement check")
    doc.add_argument("--backends", help="comma list of backends to check (default: every installed one)")
    doc.add_argument("--json", action="store_true", help="print JSON")
    doc.set_defaults(run=_cmd_doctor)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``labelkit`` command with ``argv`` (default ``sys.argv[1:]``) and returns its exit code.

    >>> main(["explain", "Target 7 is out of bounds."])  # doctest: +ELLIPSIS
    labelkit diagnosis: problems found: 1 error
    ...
    1
    """
    ap = _parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, bad arguments exit 2
        return int(exc.code or 0)
    if getattr(args, "run", None) is None:
        ap.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = args.run(args)
        return status
    except UsageError as exc:
        print(f"labelkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `labelkit demo | head`
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an argument the library refuses (e.g. --axis out of range for the data)
        from labelkit.errors import LabelkitError

        if isinstance(exc, LabelkitError):
            print(f"labelkit: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
