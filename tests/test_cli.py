"""The ``labelkit`` command, run as a user runs it: in a subprocess (exit codes, ``--json``, pickle refusal).

Subprocesses that import a framework are slow (TensorFlow takes seconds), so only ``demo`` and one
``doctor`` run start them, limited to the backends under test; every other check runs commands that
import no framework.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import BACKENDS, installed

ROOT = Path(__file__).resolve().parent.parent
TESTED = [b for b in BACKENDS if installed(b)]
MESSAGE = "RuntimeError: 0D or 1D target tensor expected, multi-target not supported"


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "labelkit", *args], input=stdin, capture_output=True, text=True, cwd=cwd, env=env,
        timeout=timeout,
    )


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(0)
    np.save(d / "logits.npy", rng.normal(size=(4, 5)).astype(np.float32))
    np.save(d / "ids.npy", np.array([1, 2, 0, 4]))
    np.save(d / "ids_from_1.npy", np.array([[1], [5], [5], [2]]))
    np.savez(d / "batch.npz", logits=rng.normal(size=(3, 4)).astype(np.float32), labels=np.array([0, 1, 3]))
    np.savez(d / "two.npz", a=np.zeros((3, 4), np.float32), b=np.array([0, 1, 2]))
    np.save(d / "objects.npy", np.array([{"label": 1}, None], dtype=object), allow_pickle=True)
    np.savez(d / "objects.npz", logits=np.zeros((2, 3), np.float32), labels=np.array([1, None], dtype=object))
    (d / "labels.pkl").write_bytes(pickle.dumps([1, 2, 0, 4]))
    (d / "notes.txt").write_text("not an array")
    return d


# --- explain --------------------------------------------------------------------------------------


def test_explain_argument() -> None:
    proc = run("explain", MESSAGE)
    assert proc.returncode == 1, proc.stderr
    assert "ERROR   column_labels" in proc.stdout
    assert "torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1))" in proc.stdout
    assert "\033[" not in proc.stdout  # no colour when not on a terminal
    no_traceback(proc)


def test_explain_stdin_json() -> None:
    message = ("ValueError: Arguments `target` and `output` must have the same shape. "
               "Received: target.shape=(None, 1), output.shape=(None, 1000)")
    proc = run("explain", "--json", stdin=message)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["framework"] == "keras"
    assert out["logits"]["shape"] == [None, 1000] and out["labels"]["shape"] == [None, 1]
    assert [p["code"] for p in out["problems"]] == ["wrong_loss"]


def test_explain_a_description_is_fine() -> None:
    proc = run("explain", "logits shape (None, 1000) vs labels shape (None, 1)")
    assert proc.returncode == 0, proc.stdout  # labelkit accepts them: only a warning
    assert "WARNING column_labels" in proc.stdout


def test_explain_empty_is_a_usage_error() -> None:
    proc = run("explain", stdin="  \n")
    assert proc.returncode == 2
    assert "labelkit: error: labelkit explain: the message is empty" in proc.stderr
    no_traceback(proc)


def test_explain_a_traceback_pasted_from_a_terminal() -> None:
    # Colours, a frame, indentation and a line broken inside a shape, as a terminal copy gives them.
    pasted = ("Traceback (most recent call last):\n  File \"train.py\", line 9, in <module>\n"
              "\x1b[1;31mValueError\x1b[0m: Arguments `target` and `output` must have the same shape.\n"
              "│   Received: target.shape=(None, 1), output.shape=(No\n│   ne, 1000)\n")
    proc = run("explain", "--json", stdin=pasted)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert [p["code"] for p in out["problems"]] == ["wrong_loss"]
    assert out["logits"]["shape"] == [None, 1000] and out["labels"]["shape"] == [None, 1]
    assert "labelkit.keras.CrossEntropy()" in out["problems"][0]["fix"]


def test_explain_graph_execution_error_unquoted() -> None:
    # The shell splits an unquoted message into words; the first line of a TensorFlow graph error.
    proc = run("explain", "InvalidArgumentError:", "Graph", "execution", "error:")
    assert proc.returncode == 1, proc.stdout
    assert "ERROR   graph_execution_error" in proc.stdout and "run_eagerly=True" in proc.stdout
    no_traceback(proc)


# --- diagnose -------------------------------------------------------------------------------------


def test_diagnose_mask_255_fix_is_followed(tmp_path: Path) -> None:
    # A segmentation mask holding 255: the fix is ignore_index=255, and the command to check it runs clean.
    rng = np.random.default_rng(0)
    np.save(tmp_path / "logits.npy", rng.normal(size=(2, 21, 4, 4)).astype(np.float32))
    mask = rng.integers(0, 21, size=(2, 4, 4))
    mask[:, :2, :] = 255
    np.save(tmp_path / "mask.npy", mask)
    proc = run("diagnose", str(tmp_path / "logits.npy"), str(tmp_path / "mask.npy"), "--axis", "1")
    assert proc.returncode == 1, proc.stderr
    assert "Pass ignore_index=255" in proc.stdout
    assert "lk.cross_entropy(logits, labels, axis=1, ignore_index=255)" in proc.stdout
    assert "256 units" not in proc.stdout and "a model with" not in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if "to check that fix here:" in ln)
    command = shlex.split(line.split("to check that fix here:", 1)[1])
    assert command[:2] == ["labelkit", "diagnose"] and command[-2:] == ["--ignore-index", "255"]
    fixed = run(*command[1:])
    assert fixed.returncode == 0, fixed.stdout
    assert fixed.stdout.startswith("labelkit diagnosis: OK")


def test_diagnose_too_few_classes_names_a_last_layer(files: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "ids.npy", np.array([0, 9, 3, 2]))
    proc = run("diagnose", str(files / "logits.npy"), str(tmp_path / "ids.npy"), "--json")
    fix = json.loads(proc.stdout)["problems"][0]["fix"]
    assert fix == "Give the model a last layer with 10 outputs, or check that the labels belong to this dataset."



def test_diagnose_fine(files: Path) -> None:
    proc = run("diagnose", str(files / "logits.npy"), str(files / "ids.npy"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("labelkit diagnosis: OK: the labels fit the logits")
    assert "  values    checked" in proc.stdout


def test_diagnose_problems_json(files: Path) -> None:
    proc = run("diagnose", str(files / "logits.npy"), str(files / "ids_from_1.npy"), "--json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    codes = [p["code"] for p in out["problems"]]
    assert codes == ["id_out_of_range", "column_labels"]
    assert "The ids run 1..5: did they start at 1?" in out["problems"][0]["message"]
    assert out["values_checked"] is True


def test_diagnose_options(files: Path) -> None:
    proc = run("diagnose", str(files / "logits.npy"), str(files / "ids.npy"), "--task", "multilabel",
               "--framework", "torch", "--json")
    assert proc.returncode == 1
    problem = json.loads(proc.stdout)["problems"][0]
    assert problem["code"] == "ids_for_multilabel" and "lk.one_hot(labels, like=logits)" in problem["fix"]
    proc = run("diagnose", str(files / "logits.npy"), str(files / "ids_from_1.npy"), "--ignore-index", "5",
               "--axis", "-1")
    assert proc.returncode == 0, proc.stdout  # 5 is ignored; the column labels only warn


def test_diagnose_npz(files: Path) -> None:
    assert run("diagnose", str(files / "batch.npz")).returncode == 0  # its 'logits' and 'labels'
    proc = run("diagnose", f"{files / 'two.npz'}:a", f"{files / 'two.npz'}:b")
    assert proc.returncode == 0, proc.stderr
    proc = run("diagnose", str(files / "two.npz"), str(files / "ids.npy"))
    assert proc.returncode == 2
    assert "holds the arrays a, b; name one as" in proc.stderr


@pytest.mark.parametrize("name", ["objects.npy", "labels.pkl", "objects.npz"])
def test_diagnose_refuses_pickles(files: Path, name: str) -> None:
    proc = run("diagnose", str(files / "logits.npy"), str(files / name))
    assert proc.returncode == 2
    assert f"labelkit: error: labels: refusing to load {files / name}" in proc.stderr
    assert "allow_pickle=False because unpickling can run arbitrary code" in proc.stderr
    assert proc.stdout == ""
    no_traceback(proc)


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["diagnose", "missing.npy", "ids.npy"], "logits: no such file: missing.npy"),
        (["diagnose", "logits.npy", "notes.txt"], "labels: cannot read notes.txt as .npy/.npz: it is not a NumPy file"),
        (["diagnose", "logits.npy", "ids.npy", "--task", "softmax"], "argument --task: invalid choice: 'softmax'"),
        (["demo", "--backends", "mxnet"], "--backends: unknown backend(s) mxnet"),
        ([], "usage: labelkit"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_usage_errors(files: Path, args: list[str], stderr: str) -> None:
    proc = run(*args, cwd=files)
    assert proc.returncode == 2
    assert stderr in proc.stderr
    no_traceback(proc)


# --- the console script, isolation -----------------------------------------------------------------


def test_console_script() -> None:
    script = Path(sys.executable).with_name("labelkit")
    if not script.exists():
        pytest.skip("the labelkit console script is not installed next to this interpreter")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("labelkit ")


def test_cli_imports_no_framework() -> None:
    code = ("import sys, labelkit.cli, labelkit._explain, labelkit._diagnose; "
            "print([m for m in ('torch', 'tensorflow', 'jax', 'keras') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.strip() == "[]", proc.stderr


# --- demo and doctor (these import the frameworks under test) ---------------------------------------


def test_demo() -> None:
    proc = run("demo", "--backends", ",".join(TESTED), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert 'lk.diagnose((None, 1000), (None, 1), labels_dtype="int64")' in out
    assert "WARNING column_labels" in out
    assert "OK, they agree" in out
    for backend in TESTED:
        assert f"== {backend} " in out
    expected = {
        "torch": ["-> RuntimeError: 0D or 1D target tensor expected",
                  "fixed     torch.nn.CrossEntropyLoss()(logits, labels.squeeze(-1)) = "],
        "tensorflow": ["no error, WRONG loss (the labels were broadcast)"],
        "jax": ["optax.softmax_cross_entropy(logits, labels)", "no error, WRONG loss"],
    }
    for backend in TESTED:
        for piece in expected.get(backend, []):
            assert piece in out, out
    assert "\033[" not in out


def test_doctor_json(capsys: pytest.CaptureFixture[str]) -> None:
    from labelkit.cli import main

    assert main(["doctor", "--json", "--backends", ",".join(TESTED)]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["labelkit"]
    for backend in TESTED:
        entry = out["backends"][backend]
        assert entry["installed"] and entry["agrees"] and entry["devices"], entry
        assert entry["max_abs_diff"] <= 1e-5


def test_doctor_text(capsys: pytest.CaptureFixture[str]) -> None:
    from labelkit.cli import main

    assert main(["doctor", "--backends", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "backend     version" in out
    assert "OK: every checked backend agrees" in out
