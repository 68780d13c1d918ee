"""The package as a user gets it: CI installs the built wheel and sets ``LABELKIT_EXPECT_INSTALLED=1``.

Then these tests check that the test session imports the installed labelkit, not a source checkout
that happens to sit on ``sys.path``, and that the wheel ships what users need (``labelkit.backends``
mapped from ``backends/``, ``py.typed``, the version, the license). Without the variable (a development
checkout, installed editable or not) only the checks that hold everywhere run.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import labelkit
from labelkit import backends

EXPECT_INSTALLED = os.environ.get("LABELKIT_EXPECT_INSTALLED", "") == "1"
installed_only = pytest.mark.skipif(not EXPECT_INSTALLED, reason="LABELKIT_EXPECT_INSTALLED=1 is not set")


def _site_packages() -> set[Path]:
    return {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}


def _is_installed(module_file: str | None) -> bool:
    assert module_file is not None
    path = Path(module_file).resolve()
    return any(site in path.parents for site in _site_packages())


@installed_only
def test_labelkit_is_imported_from_site_packages() -> None:
    assert _is_installed(labelkit.__file__), (
        f"labelkit was imported from {labelkit.__file__}, not from {sorted(map(str, _site_packages()))}: "
        "a source checkout shadows the installed wheel"
    )


@installed_only
def test_backends_are_installed_as_labelkit_backends() -> None:
    assert _is_installed(backends.__file__), backends.__file__
    package = Path(labelkit.__file__).resolve().parent
    assert Path(backends.__file__).resolve().parent == package / "backends"
    for name in ("numpy", "torch", "tensorflow", "jax"):
        assert (package / "backends" / f"{name}.py").is_file(), f"the wheel lacks labelkit/backends/{name}.py"


@installed_only
def test_py_typed_is_shipped() -> None:
    assert (Path(labelkit.__file__).resolve().parent / "py.typed").is_file()


@installed_only
def test_no_editable_install() -> None:
    for dist in importlib.metadata.distributions(name="labelkit"):
        direct_url = dist.read_text("direct_url.json")
        editable = bool(direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))
        assert not editable, f"labelkit is installed editable: {direct_url}"


@installed_only
def test_a_fresh_interpreter_imports_the_installed_package_too() -> None:
    """Subprocesses must not find a checkout either: the CLI tests and the workers start one with the
    tests' parent directory as working directory and on ``PYTHONPATH``."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", "import labelkit, labelkit.backends; print(labelkit.__file__)"],
        capture_output=True, text=True, check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert _is_installed(proc.stdout.strip()), proc.stdout


def test_version_is_the_distribution_version() -> None:
    assert isinstance(labelkit.__version__, str) and labelkit.__version__.count(".") >= 2
    assert labelkit.__version__ == importlib.metadata.version("labelkit")


@installed_only
def test_license_is_declared_as_spdx() -> None:
    dist = importlib.metadata.distribution("labelkit")
    assert dist.metadata["License-Expression"] == "Apache-2.0"
    assert any(Path(str(f)).name == "LICENSE" for f in dist.files or ()), "the wheel ships no LICENSE file"
