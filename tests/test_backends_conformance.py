"""Every backend module offers the same primitives (``labelkit.backends.PRIMITIVES``) with the same
signatures, so that semantics written once in ``labelkit/`` run on each of them."""

from __future__ import annotations

import importlib
import inspect

import pytest
from labelkit.backends import PRIMITIVES, Backend

MODULES = ("numpy", "torch", "tensorflow", "jax")


def backend_class(module_name: str) -> type[Backend]:
    """The one ``Backend`` subclass a backend module defines (importing it imports no framework)."""
    mod = importlib.import_module(f"labelkit.backends.{module_name}")
    classes = [
        obj for obj in vars(mod).values()
        if inspect.isclass(obj) and issubclass(obj, Backend) and obj is not Backend and obj.__module__ == mod.__name__
    ]
    assert len(classes) == 1, f"labelkit.backends.{module_name} defines {classes}"
    return classes[0]


def _public_methods(cls: type) -> set[str]:
    return {n for n, v in inspect.getmembers(cls, callable) if not n.startswith("_")}


def test_primitives_are_unique():
    assert len(set(PRIMITIVES)) == len(PRIMITIVES)


@pytest.mark.parametrize("module_name", MODULES)
def test_backend_module_implements_every_primitive(module_name):
    cls = backend_class(module_name)
    assert cls.name == module_name
    missing = [p for p in PRIMITIVES if not callable(getattr(cls, p, None))]
    assert missing == []
    # A primitive only the base class provides must be one with a documented default.
    inherited = [p for p in PRIMITIVES if p not in vars(cls) and p not in vars(Backend)]
    assert inherited == []


@pytest.mark.parametrize("module_name", MODULES)
def test_backend_module_has_no_primitive_outside_the_list(module_name):
    """A public method one backend adds and the list lacks is a primitive the others may miss."""
    extra = _public_methods(backend_class(module_name)) - set(PRIMITIVES)
    assert extra == set()


@pytest.mark.parametrize("primitive", PRIMITIVES)
@pytest.mark.parametrize("module_name", [m for m in MODULES if m != "numpy"])
def test_signature_matches_the_numpy_backend(module_name, primitive):
    reference = inspect.signature(getattr(backend_class("numpy"), primitive))
    got = inspect.signature(getattr(backend_class(module_name), primitive))
    assert [(p.name, p.kind, p.default) for p in got.parameters.values()] == [
        (p.name, p.kind, p.default) for p in reference.parameters.values()
    ]
