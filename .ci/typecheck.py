"""``mypy --strict`` over the checkout's ``labelkit/`` and ``backends/``, as the package is installed.

``backends/`` is installed as ``labelkit.backends`` (pyproject.toml's package-dir), a mapping mypy
cannot express. So this lays the package out as installed, in a temporary folder of symbolic links
(``labelkit/<file>`` -> the checkout's file, ``labelkit/backends`` -> ``backends/``), runs mypy there
with the checkout's ``[tool.mypy]`` configuration, and reports paths as they are in the checkout.

Usage: ``python .ci/typecheck.py [mypy options]``; the exit status is mypy's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labelkit-typecheck.") as tmp:
        package = Path(tmp) / "labelkit"
        package.mkdir()
        for entry in (ROOT / "labelkit").iterdir():
            if entry.name != "__pycache__":
                (package / entry.name).symlink_to(entry)
        (package / "backends").symlink_to(ROOT / "backends")
        config = str(ROOT / "pyproject.toml")
        command = [sys.executable, "-m", "mypy", "--config-file", config, *sys.argv[1:], "labelkit"]
        run = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
    for stream, text in ((sys.stdout, run.stdout), (sys.stderr, run.stderr)):
        stream.write(text.replace("labelkit/backends/", "backends/"))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
