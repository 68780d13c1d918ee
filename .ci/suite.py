"""Runs the test suite against the INSTALLED labelkit, never against the source checkout.

    python .ci/suite.py DEST [--doctests] [PYTEST ARGS...]

Run from the checkout, ``python -m pytest`` puts the checkout first on ``sys.path`` (and the tests start
their subprocesses with it on ``PYTHONPATH``), so its ``labelkit/`` folder would shadow the installed
wheel. This copies what the tests read (``tests/``, ``examples/``, ``benchmarks/``, ``docs/``, ``README.md``
and the pytest settings in ``pyproject.toml``) to DEST, a new folder without ``labelkit/`` or ``backends/``,
checks that ``import labelkit`` there finds the installed package, and runs ``python -m pytest`` in DEST
with ``LABELKIT_EXPECT_INSTALLED=1`` (``tests/test_installed.py`` then asserts where labelkit comes from).
``--doctests`` adds the README's examples and the installed package's docstrings, which is what the
README's ``python -m pytest -q`` collects in a checkout (testpaths ``tests``, ``labelkit``, ``backends``,
``README.md``), and the examples of the documentation site's pages (``docs/**/*.md``). pytest's exit
status is passed on; "no tests ran" (5) is reported as the failure it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("tests", "examples", "benchmarks", "docs", "README.md", "pyproject.toml")


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    dest, args = Path(argv[0]).resolve(), argv[1:]
    marker = dest / ".labelkit-suite"  # what this script wrote there before: only such a folder is replaced
    if dest.exists() and not marker.exists():
        print(f"suite.py: DEST {dest} exists and was not made by suite.py; give a new folder", file=sys.stderr)
        return 2
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    marker.touch()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)
    shutil.rmtree(dest / "benchmarks" / "results", ignore_errors=True)  # local benchmark output

    probe = "import labelkit, os; print(os.path.dirname(os.path.realpath(labelkit.__file__)))"
    found = subprocess.run([sys.executable, "-c", probe], cwd=dest, capture_output=True, text=True)
    if found.returncode != 0:
        print(f"suite.py: labelkit is not installed in {sys.prefix}:\n{found.stderr}", file=sys.stderr)
        return 1
    package = Path(found.stdout.strip())
    if package == ROOT / "labelkit":
        print(f"suite.py: labelkit imports from the checkout {package} (an editable install?), "
              "not from an installed wheel", file=sys.stderr)
        return 1
    print(f"suite.py: testing labelkit {package} from {dest}", flush=True)

    if "--doctests" in args:
        args = [a for a in args if a != "--doctests"]
        args += ["--doctest-glob=*.md", "tests", "README.md", "docs", str(package)]
    env = {**os.environ, "LABELKIT_EXPECT_INSTALLED": "1"}
    rc = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=dest, env=env).returncode
    if rc == 5:
        print(f"suite.py: pytest ran no tests (exit 5) for {args}: a CI run that tests nothing fails",
              file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
