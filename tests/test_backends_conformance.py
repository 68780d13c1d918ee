"""Every backend module implements the primitives that ``labelkit.backends.Backend`` declares, with the
declared signatures, so that semantics written once in ``labelkit/`` run on each of them. The class is
the contract: ``PRIMITIVES`` and the lists below are read from it."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest
from labelkit.backends import PRIMITIVES, Backend

MODULES = ("numpy", "torch", "tensorflow", "jax")

# The primitives Backend declares (its public methods), and those without a default (abstract).
DECLARED = tuple(n for n, v in vars(Backend).items() if not n.startswith("_") and inspect.isfunction(v))
ABSTRACT = tuple(n for n in DECLARED if getattr(getattr(Backend, n), "__isabstractmethod__", False))


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


def _signature(function: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_primitives_are_read_from_the_backend_class():
    assert PRIMITIVES == DECLARED
    # Every primitive that has no default is abstract; the others have one (a body that is not the stub).
    assert "log_softmax" in ABSTRACT and "shape" in ABSTRACT and "cast" in ABSTRACT
    assert "sparse_ce" not in ABSTRACT and "one_hot" not in ABSTRACT and "softplus" not in ABSTRACT


def test_every_primitive_is_documented_and_annotated():
    for name in DECLARED:
        function = vars(Backend)[name]
        assert (function.__doc__ or "").strip(), f"Backend.{name} has no docstring"
        signature = inspect.signature(function)
        assert signature.return_annotation is not inspect.Signature.empty, f"Backend.{name} has no return type"
        parameters = list(signature.parameters.values())[1:]  # after self
        unannotated = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
        assert unannotated == [], f"Backend.{name}: parameters without a type"


@pytest.mark.parametrize("module_name", MODULES)
def test_backend_module_implements_every_abstract_primitive(module_name):
    cls = backend_class(module_name)
    assert cls.name == module_name
    # Abstract for checkers only (old plug-ins keep loading), so the shipped backends are checked here.
    assert [p for p in ABSTRACT if p not in vars(cls)] == []
    assert [p for p in DECLARED if not callable(getattr(cls, p, None))] == []


@pytest.mark.parametrize("module_name", MODULES)
def test_backend_module_has_no_primitive_outside_the_class(module_name):
    """A public method one backend adds and ``Backend`` lacks is a primitive the others may miss."""
    extra = _public_methods(backend_class(module_name)) - set(DECLARED)
    assert extra == set()


@pytest.mark.parametrize("primitive", DECLARED)
@pytest.mark.parametrize("module_name", MODULES)
def test_signature_matches_the_declaration(module_name, primitive):
    declared = _signature(getattr(Backend, primitive))
    assert _signature(getattr(backend_class(module_name), primitive)) == declared


def test_a_missing_primitive_raises_not_implemented_naming_it():
    class Partial(Backend):  # a plug-in written against an older, smaller contract
        name = "partial"

        def owns(self, x: Any) -> bool:
            return False

    backend = Partial()  # loads: the abstract primitives are not enforced at instantiation
    with pytest.raises(NotImplementedError, match=r"Partial does not implement the primitive 'log_softmax'"):
        backend.log_softmax(None, 0)
