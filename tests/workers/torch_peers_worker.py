"""PyTorch's own generators of cross-entropy cases, run in a process of their own.

``tests/test_peers_torch.py`` feeds labelkit the cases that PyTorch tests ``F.cross_entropy`` and
``nn.CrossEntropyLoss`` with: the OpInfo ``sample_inputs`` of ``nn.functional.cross_entropy``
(``common_methods_invocations.op_db``) and the ModuleInfo inputs of ``nn.CrossEntropyLoss``
(``common_modules.module_db``). Importing ``torch.testing._internal`` changes the process it runs in
(it loads its own hypothesis profile over ours, freezes ``torch.backends`` flags and parses
``sys.argv``), so it happens here, and the cases travel back as JSON.

Usage: ``torch_peers_worker.py SEED[,SEED...]``. Before each family and dtype the seed is set as
PyTorch's ``TestCase.setUp`` sets it (``torch.manual_seed``, ``random.seed``, ``np.random.seed``); 1234
is the seed PyTorch's own runs use. Prints ``RESULT <json>``: ``{"torch": version, "cases": [...]}``,
each case with its family (``opinfo``/``module``), dtype, seed, PyTorch's description, input and target
(nested lists) and the call's keyword arguments (``weight`` as a list).
"""

from __future__ import annotations

import json
import random
import sys
import types
import unittest
from typing import Any

OP_NAME = "nn.functional.cross_entropy"
DTYPES = ("float32", "float64")


def _import_generators() -> tuple[Any, Any]:
    """The OpInfo and the ModuleInfo of cross-entropy, imported with a clean ``sys.argv``."""
    if "expecttest" not in sys.modules:
        try:
            import expecttest  # noqa: F401  (PyTorch's test base class; not needed for the generators)
        except ImportError:
            shim = types.ModuleType("expecttest")
            shim.TestCase = unittest.TestCase  # type: ignore[attr-defined]
            sys.modules["expecttest"] = shim
    argv, sys.argv = sys.argv, sys.argv[:1]  # common_utils parses the command line at import
    try:
        import torch
        from torch.testing._internal.common_methods_invocations import op_db
        from torch.testing._internal.common_modules import module_db
    finally:
        sys.argv = argv
    ops = [op for op in op_db if op.name == OP_NAME and not op.variant_test_name]
    mods = [m for m in module_db if m.module_cls is torch.nn.CrossEntropyLoss]
    if len(ops) != 1 or len(mods) != 1:
        raise RuntimeError(f"expected one OpInfo and one ModuleInfo, found {len(ops)} and {len(mods)}")
    return ops[0], mods[0]


def _seed(seed: int) -> None:
    import numpy as np
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def _plain(value: Any) -> Any:
    """A keyword argument as JSON: tensors become lists."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().tolist()
    return value


def _case(family: str, dtype: str, seed: int, desc: str, inp: Any, target: Any, kwargs: dict[str, Any]) -> dict:
    return {
        "family": family,
        "dtype": dtype,
        "seed": seed,
        "desc": desc,
        "input": inp.detach().tolist(),
        "input_shape": list(inp.shape),
        "target": target.detach().tolist(),
        "target_shape": list(target.shape),
        "target_dtype": str(target.dtype).rpartition(".")[2],
        "kwargs": {k: _plain(v) for k, v in kwargs.items()},
    }


def main() -> None:
    import torch

    seeds = [int(s) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else [1234]
    op, mod = _import_generators()
    cases = []
    for seed in seeds:
        for name in DTYPES:
            dtype = getattr(torch, name)
            _seed(seed)
            for i, sample in enumerate(op.sample_inputs("cpu", dtype, requires_grad=True)):
                (target,) = sample.args
                cases.append(_case("opinfo", name, seed, str(i), sample.input, target, dict(sample.kwargs)))
            _seed(seed)
            for m in mod.module_inputs_func(mod, device="cpu", dtype=dtype, requires_grad=True, training=True):
                inp, target = m.forward_input.args
                ctor = m.constructor_input
                if ctor.args:
                    raise RuntimeError(f"{m.desc}: positional constructor arguments {ctor.args!r}")
                cases.append(_case("module", name, seed, m.desc, inp, target, dict(ctor.kwargs)))
    print("RESULT " + json.dumps({"torch": torch.__version__, "cases": cases}))


if __name__ == "__main__":
    main()
