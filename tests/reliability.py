"""The reliability table: every kind of bad input, how many cases were tried, and what each backend did.

Run it as ``python tests/reliability.py`` (``--examples N`` cases per kind, default 250; ``--backends
numpy,torch``; ``--markdown`` for the table alone). The cases are drawn by ``tests/fuzz_cases.py``'s
strategies with a fixed seed (``SEED``), so every run tries the same ones; each case is
one call of one public function, run on every backend. The outcomes:

* ``error``: labelkit refused it with one of its errors (a ``ValueError``/``TypeError``), or a plain
  ``TypeError``/``ValueError`` for an argument of a wrong type;
* ``ok``: a result, checked: the logits' framework, SPEC's inference, no finite loss for invalid
  labels, and the float64 oracle's loss where the labels are valid and the logits finite;
* ``bug``: a framework's own exception escaped, or the result was wrong. The script lists them and
  exits with status 1 when there is one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FRAMEWORKS = ("torch", "tensorflow", "jax")
SEED = 20240607  # the fixed seed the cases are drawn with


def _backends(text: str | None) -> list[str]:
    import importlib.util

    raw = text or os.environ.get("LABELKIT_TEST_BACKENDS", "")
    names = [n.strip() for n in raw.split(",") if n.strip()] or ["numpy", *FRAMEWORKS]
    out = []
    for name in names:
        if name == "numpy" or importlib.util.find_spec(name) is not None:
            __import__(name)
            out.append(name)
    return out


def draw_cases(kind: str, n: int) -> list:
    """``n`` cases of ``kind`` (fewer when the strategy runs out of distinct ones), the same every run."""
    from hypothesis import HealthCheck, Phase, given, seed, settings

    import fuzz_cases as F

    found: list = []

    @seed(SEED)
    @settings(max_examples=n, derandomize=False, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(F.cases(kinds=(kind,)))
    def collect(case: F.Case) -> None:
        found.append(case)

    collect()
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=250, help="cases per kind of input (default 250)")
    ap.add_argument("--backends", help="comma list (default: LABELKIT_TEST_BACKENDS, else every installed one)")
    ap.add_argument("--markdown", action="store_true", help="print the table only")
    args = ap.parse_args(argv)

    backends = _backends(args.backends)
    import warnings

    warnings.simplefilter("ignore")
    import fuzz_cases as F

    others = {b: next((o for o in backends if o != b and o != "numpy"), None) for b in backends}
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    by_function: dict[str, Counter] = defaultdict(Counter)
    error_types: Counter = Counter()
    tried: Counter = Counter()
    functions: dict[str, set] = defaultdict(set)
    bugs: list[tuple[str, F.Case, str]] = []
    start = time.perf_counter()
    for kind in F.KINDS:
        for case in draw_cases(kind, args.examples):
            tried[kind] += 1
            functions[kind].add(case.fn)
            for b in backends:
                outcome = F.run(case, b, others[b] if case.mixed else None)
                counts[(kind, b)][outcome.status] += 1
                by_function[case.fn][outcome.status] += 1
                if outcome.status == "error":
                    plain = not isinstance(outcome.exc, F.LabelkitError)
                    error_types[("plain " if plain else "") + type(outcome.exc).__name__] += 1
                if outcome.status == "bug":
                    bugs.append((b, case, outcome.detail))
    elapsed = time.perf_counter() - start

    head = "| kind of input | cases | " + " | ".join(backends) + " |"
    rule = "|---|---:|" + "---|" * len(backends)
    lines = [head, rule]
    for kind, what in F.KINDS.items():
        cells = []
        for b in backends:
            c = counts[(kind, b)]
            cells.append(f"{c['error']} error / {c['ok']} ok / {c['bug']} bug")
        lines.append(f"| {kind}: {what} | {tried[kind]} | " + " | ".join(cells) + " |")
    total = {b: Counter() for b in backends}
    for (_, b), c in counts.items():
        total[b].update(c)
    lines.append(f"| **all** | **{sum(tried.values())}** | "
                 + " | ".join(f"**{t['error']} / {t['ok']} / {t['bug']}**" for t in total.values()) + " |")
    table = "\n".join(lines)
    fn_lines = ["| function | calls (all backends) | labelkit error | correct result | bug |",
                "|---|---:|---:|---:|---:|"]
    for fn in sorted(by_function):
        c = by_function[fn]
        fn_lines.append(f"| `lk.{fn}` | {sum(c.values())} | {c['error']} | {c['ok']} | {c['bug']} |")
    fn_table = "\n".join(fn_lines)
    if args.markdown:
        print(table)
        print()
        print(fn_table)
    else:
        print(f"labelkit reliability: {sum(tried.values())} cases x {len(backends)} backends "
              f"({', '.join(backends)}) in {elapsed:.0f} s; each cell: labelkit error / correct result / bug")
        print()
        print(table)
        print()
        print(fn_table)
        print()
        print("errors by type: " + ", ".join(f"{n} {t}" for t, n in error_types.most_common()))
        print("functions called per kind: " + "; ".join(
            f"{k}: {len(v)}" for k, v in functions.items()))
        if bugs:
            print()
            print(f"{len(bugs)} bug(s):")
            for b, case, detail in bugs[:40]:
                print(f"  [{b}] {detail}\n      {case!r}")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
