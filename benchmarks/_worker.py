"""One measurement in a fresh interpreter: ``python -m benchmarks._worker CASE BACKEND [--quick] [--params JSON]``.

Prints the result as one marked JSON line (see ``_harness.emit``); the parent process reads it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import traceback

from benchmarks import MODULES
from benchmarks._harness import emit


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._worker")
    parser.add_argument("case", choices=sorted(MODULES))
    parser.add_argument("backend")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--params", default="{}")
    args = parser.parse_args()
    module = importlib.import_module(MODULES[args.case])
    try:
        payload = module.measure(args.backend, quick=args.quick, **json.loads(args.params))
    except Exception as exc:
        traceback.print_exc()
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit(payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
