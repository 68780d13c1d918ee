"""``labelkit diagnose LOGITS LABELS`` on damaged files (issue 7): truncated, corrupted, oversized
headers, zero-size, pickled ``.npy``/``.npz``.

Each gives a clear message and exit code 2, never a traceback; nothing is unpickled (a payload that
would create a file when unpickled stays inert); and no array larger than the file could hold is
allocated (a header claiming 1 GiB in a file of a few bytes is refused before NumPy allocates it,
measured with ``tracemalloc``). The checks call ``labelkit.cli.main(argv)`` in-process; two
subprocesses check the same as a user's shell sees it (``tests/test_cli.py`` covers the rest).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labelkit.cli import main

ROOT = Path(__file__).resolve().parent.parent


def npy_header(shape: tuple[int, ...], descr: str = "<f4", version: int = 1) -> bytes:
    """A well-formed .npy header (magic, version, length, dict) for ``shape``, with no data after it."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}".encode("latin1")
    width = 2 if version == 1 else 4
    pad = (64 - (6 + 2 + width + len(text) + 1) % 64) % 64
    text += b" " * pad + b"\n"
    length = struct.pack("<H" if version == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text


def zipped(members: dict[str, bytes], deflate: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class Inert:
    """Unpickling this calls ``open(MARKER, "w")``: the marker file shows whether anything was unpickled."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("damaged")
    np.save(d / "logits.npy", np.zeros((4, 5), np.float32))
    np.save(d / "ids.npy", np.array([1, 2, 0, 4]))
    good = (d / "logits.npy").read_bytes()
    ids = (d / "ids.npy").read_bytes()
    good_npz = zipped({"logits.npy": good, "labels.npy": ids})
    raw: dict[str, bytes] = {
        "truncated.npy": good[:-30],
        "truncated-in-header.npy": good[:40],
        "magic-only.npy": b"\x93NUMPY",
        "empty.npy": b"",
        "random.npy": bytes(range(256)) * 4,
        "huge-shape.npy": npy_header((10**12,)) + b"\0" * 16,
        "gigabyte-shape.npy": npy_header((2**28,)) + b"\0" * 16,
        "overflowing-shape.npy": npy_header((2**62, 2**62)) + b"\0" * 16,
        "header-length-2GiB.npy": b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{" + b" " * 100,
        "header-length-64KiB.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 65535) + b"{" * 70000,
        "corrupt-header.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 54) + b"{'descr': <f4 )))" + b" " * 36
        + b"\0" * 16,
        "unknown-dtype.npy": npy_header((4,), descr="<q9") + b"\0" * 64,
        "version-9.npy": b"\x93NUMPY\x09\x00" + good[8:],
        "truncated.npz": good_npz[: len(good_npz) // 2],
        "corrupt-crc.npz": bytes(b ^ 0xFF if 100 <= i < 140 else b for i, b in enumerate(good_npz)),
        "pk-only.npz": b"PK\x03\x04garbage",
        "huge-member.npz": zipped({"logits.npy": npy_header((10**12,)) + b"\0" * 16, "labels.npy": ids}),
        "gigabyte-member.npz": zipped({"logits.npy": npy_header((2**28,)) + b"\0" * 16, "labels.npy": ids}),
        "gigabyte-member-deflated.npz": zipped(
            {"logits.npy": npy_header((2**28,)) + b"\0" * 16, "labels.npy": ids}, deflate=True),
        "junk-member.npz": zipped({"logits.npy": b"not an array", "labels.npy": ids}),
        "truncated-member.npz": zipped({"logits.npy": good[:-30], "labels.npy": ids}),
        "no-members.npz": zipped({}),
    }
    for name, data in raw.items():
        (d / name).write_bytes(data)
    np.save(d / "zero-size-logits.npy", np.zeros((0, 5), np.float32))
    np.save(d / "zero-size-ids.npy", np.zeros((0,), np.int64))
    np.save(d / "zero-classes.npy", np.zeros((4, 0), np.float32))
    # Payloads that create a marker file when unpickled.
    Inert.marker = str(d / "UNPICKLED")
    np.save(d / "pickled.npy", np.array([Inert(), 1], dtype=object), allow_pickle=True)
    np.savez(d / "pickled.npz", logits=np.zeros((2, 3), np.float32), labels=np.array([Inert(), 1], dtype=object))
    (d / "pickled.pkl").write_bytes(pickle.dumps(Inert()))
    (d / "pickled-protocol0.npy").write_bytes(pickle.dumps(Inert(), protocol=0))
    return d


def diagnose(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["diagnose", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


DAMAGED = {
    "truncated.npy": "truncated or damaged: its header says shape (4, 5) of float32 (80 bytes), but it holds 50",
    "truncated-in-header.npy": "truncated or damaged: its header is",
    "magic-only.npy": "the file is damaged (EOF: reading magic string",
    "empty.npy": "not a NumPy file",
    "random.npy": "not a NumPy file",
    "huge-shape.npy": "its header says shape (1000000000000,) of float32 (4000000000000 bytes), but it holds 16",
    "gigabyte-shape.npy": "its header says shape (268435456,)",
    "overflowing-shape.npy": "its header says shape (4611686018427387904, 4611686018427387904)",
    "header-length-2GiB.npy": "its header is 2147483648 bytes long, but the file holds 101 bytes after it",
    "header-length-64KiB.npy": "the file is damaged (Header info length (65535) is large",
    "corrupt-header.npy": "the file is damaged (",
    "unknown-dtype.npy": "the file is damaged (",
    "version-9.npy": ".npy format version (9, 0) is not one NumPy writes",
    "truncated.npz": "the file is damaged (File is not a zip file)",
    "corrupt-crc.npz": "the file is damaged (Bad CRC-32",
    "pk-only.npz": "the file is damaged (File is not a zip file)",
    "huge-member.npz": "huge-member.npz:logits: the file is truncated or damaged",
    "gigabyte-member.npz": "gigabyte-member.npz:logits: the file is truncated or damaged",
    "gigabyte-member-deflated.npz": "gigabyte-member-deflated.npz:logits: the file is truncated or damaged",
    "junk-member.npz": "junk-member.npz:logits is not a .npy array inside the .npz",
    "truncated-member.npz": "truncated-member.npz:logits: the file is truncated or damaged",
    "no-members.npz": "holds the arrays (none)",
}


@pytest.mark.parametrize("name", list(DAMAGED))
def test_a_damaged_file_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    if name.endswith(".npz"):
        code, out, err = diagnose(capsys, files / name)  # logits and labels from the .npz
    else:
        code, out, err = diagnose(capsys, files / "logits.npy", files / name)
    assert code == 2, (out, err)
    assert err.startswith("labelkit: error: ") and err.count("\n") == 1, err
    assert DAMAGED[name] in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("name", ["pickled.npy", "pickled.npz", "pickled.pkl", "pickled-protocol0.npy"])
def test_pickles_are_refused_and_never_unpickled(files: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    args = [files / name] if name.endswith(".npz") else [files / "logits.npy", files / name]
    code, _, err = diagnose(capsys, *args)
    assert code == 2
    assert not (files / "UNPICKLED").exists(), "the payload was unpickled"
    if name != "pickled-protocol0.npy":  # a text pickle is not a NumPy file at all
        assert "allow_pickle=False because unpickling can run arbitrary code" in err
    else:
        assert "it is not a NumPy file" in err


@pytest.mark.parametrize("name", ["gigabyte-shape.npy", "gigabyte-member.npz", "gigabyte-member-deflated.npz"])
def test_no_allocation_beyond_what_the_file_holds(files: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """The header claims 1 GiB: it is refused before any array is made (NumPy's are traced too)."""
    args = [files / name] if name.endswith(".npz") else [files / "logits.npy", files / name]
    tracemalloc.start()
    try:
        code, _, _ = diagnose(capsys, *args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB allocated for a file of {os.path.getsize(files / name)} bytes"


def test_zero_size_arrays_are_diagnosed(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = diagnose(capsys, files / "zero-size-logits.npy", files / "zero-size-ids.npy")
    assert code == 0 and "OK: the labels fit the logits" in out
    code, out, _ = diagnose(capsys, files / "logits.npy", files / "zero-size-ids.npy")
    assert code == 1 and "batch_mismatch" in out
    code, out, err = diagnose(capsys, files / "zero-classes.npy", files / "ids.npy")
    assert code == 1 and "too_few_classes" in out and "Traceback" not in out + err


def _shell(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "labelkit", "diagnose", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("name", ["huge-shape.npy", "corrupt-crc.npz"])
def test_from_the_shell(files: Path, name: str) -> None:
    proc = _shell(*([files / name] if name.endswith(".npz") else [files / "logits.npy", files / name]))
    assert proc.returncode == 2
    assert proc.stderr.startswith("labelkit: error: ") and "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
