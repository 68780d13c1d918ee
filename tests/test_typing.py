"""What a user's type checker sees: labelkit's signatures are precise enough for mypy to catch a wrong
argument value before the code runs, and the backend contract is visible to it.

mypy runs on a user's file, as a user would run it, against the labelkit this test imports (the
installed wheel in CI, the checkout when installed editable: ``backends/`` is laid out as
``labelkit/backends`` beside it). Errors inside labelkit are not the user's (``--follow-imports=silent``);
``.ci/typecheck.py`` checks those.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (pip install labelkit[dev])")

USER_CODE = textwrap.dedent(
    """\
    import numpy as np

    import labelkit as lk
    from labelkit.backends import Backend

    logits = np.zeros((2, 3), np.float32)
    labels = np.array([0, 2])

    lk.cross_entropy(logits, labels, reduction="avg")  # line 9: not a reduction
    lk.align(logits, labels, to="onehot")  # line 10: not a target format
    lk.validate(logits, labels, check_values="yes")  # line 11: "auto", True or False
    lk.accuracy(logits, labels, task="multiclas")  # line 12: a misspelt task


    class MyBackend(Backend):
        name = "mine"

        def owns(self, x: object) -> bool:
            return False


    MyBackend()  # line 22: log_softmax, shape, cast... are not implemented

    # Correct calls: no error.
    loss = lk.cross_entropy(logits, labels, reduction="none", check_values=False, task="multiclass")
    ids = lk.align(logits, labels, to="sparse", check_values="auto")
    spec = lk.infer(logits, labels, task="auto")
    rows = lk.one_hot(labels, 3, check_values=True)


    def loss_for(reduction: lk.Reduction, task: lk.Task, check: lk.CheckValues, to: lk.AlignTo) -> object:
        lk.align(logits, labels, to=to)
        return lk.cross_entropy(logits, labels, reduction=reduction, task=task, check_values=check)


    mode: lk.Reduction = "avg"  # line 36: the exported aliases type the user's own code
    """
)


def _installed_layout(root: Path) -> Path:
    """``root/labelkit``: the imported labelkit, with its backends at ``labelkit/backends`` as installed."""
    import labelkit.backends

    package, backends = Path(labelkit.__file__).parent, Path(labelkit.backends.__file__).parent
    target = root / "labelkit"
    target.mkdir(parents=True)
    for entry in package.iterdir():
        if entry.name not in ("__pycache__", "backends"):
            (target / entry.name).symlink_to(entry)
    (target / "backends").symlink_to(backends)
    return root


def test_a_users_checker_reports_wrong_argument_values(tmp_path):
    site = _installed_layout(tmp_path / "site")
    (tmp_path / "user.py").write_text(USER_CODE)
    run = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
            "--show-error-codes", "--cache-dir", str(tmp_path / "cache"), "user.py",
        ],
        cwd=tmp_path, capture_output=True, text=True, env={"MYPYPATH": str(site), "PATH": ""}, timeout=300,
    )
    errors = {}
    for line in run.stdout.splitlines():
        m = re.match(r"user\.py:(\d+): error: (.*)", line)
        if m:
            errors.setdefault(int(m[1]), []).append(m[2])
    assert sorted(errors) == [9, 10, 11, 12, 22, 36], run.stdout + run.stderr
    assert re.search(r'"reduction" to "cross_entropy" has incompatible type "Literal\[\'avg\'\]".*\[arg-type\]',
                     errors[9][0])
    assert re.search(r'"to" to "align" has incompatible type "Literal\[\'onehot\'\]"', errors[10][0])
    assert re.search(r'"check_values" to "validate" has incompatible type "Literal\[\'yes\'\]"', errors[11][0])
    assert re.search(r'"task" to "accuracy" has incompatible type "Literal\[\'multiclas\'\]"', errors[12][0])
    assert re.search(r'Cannot instantiate abstract class "MyBackend" with abstract attributes "abs", .*\[abstract\]',
                     errors[22][0])
    assert re.search(r'Incompatible types in assignment \(expression has type "Literal\[\'avg\'\]"', errors[36][0])
    assert run.returncode == 1
