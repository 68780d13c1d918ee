"""``python -m benchmarks``: run the cases, print the table, write the JSON (and the chart).

Examples::

    python -m benchmarks                       # every case, every installed backend
    python -m benchmarks --only dispatch       # one case
    python -m benchmarks --quick               # CI smoke run: small sizes, few rounds
    python -m benchmarks --save                # also write docs/benchmarks.json and docs/benchmarks.png

The exit status is 0 unless a measurement crashed; a missed target never fails the run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Any

from benchmarks import CASES, MODULES
from benchmarks import _harness as h
from benchmarks import _report as report

RESULTS = os.path.join(h.ROOT, "benchmarks", "results", "latest.json")
DOCS_JSON = os.path.join(h.ROOT, "docs", "benchmarks.json")
DOCS_PNG = os.path.join(h.ROOT, "docs", "benchmarks.png")
CAVEAT = (
    "Ratios are against the native call measured in the same process run; absolute times depend on the "
    "machine and its load."
)


class Context:
    """What a case's ``run`` gets: the backends, the mode, and a way to run a worker."""

    def __init__(self, backends: list[str], quick: bool, verbose: bool) -> None:
        self.backends = backends
        self.quick = quick
        self.verbose = verbose
        self.errors: list[str] = []

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def worker(
        self, case: str, backend: str, *, params: dict[str, Any] | None = None, env: dict[str, str] | None = None,
        timeout: float = 900,
    ) -> dict[str, Any] | None:
        args = ["benchmarks._worker", case, backend, "--params", json.dumps(params or {})]
        if self.quick:
            args.append("--quick")
        label = f"{case}/{backend}" + (f" {params}" if params else "")
        self.log(f"  running {label} ...")
        res = h.run_worker(args, env=env, timeout=timeout)
        if self.verbose:
            self.log(f"    {res.seconds:.1f} s")
        if not res.ok or "error" in res.payload:
            msg = res.error or res.payload.get("error", "")
            self.errors.append(f"{label}: {msg}")
            self.log(f"    FAILED: {msg}")
            return None
        return res.payload


def _backends(arg: str | None) -> list[str]:
    import labelkit as lk

    installed = [b for b in h.FRAMEWORKS if b in lk.available_backends()]
    if not arg:
        return installed
    wanted = [b.strip() for b in arg.split(",") if b.strip()]
    unknown = [b for b in wanted if b not in h.FRAMEWORKS]
    if unknown:
        raise SystemExit(f"--backends: unknown {unknown}; expected a comma list of {', '.join(h.FRAMEWORKS)}")
    missing = [b for b in wanted if b not in installed]
    if missing:
        raise SystemExit(f"--backends: not installed here: {', '.join(missing)}")
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=CASES, action="append", help="run this case only (repeatable)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (CI smoke run)")
    parser.add_argument("--backends", help="comma list of backends (default: every installed one)")
    parser.add_argument("--json", default=RESULTS, help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--save", action="store_true", help="also write docs/benchmarks.json and docs/benchmarks.png")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--threads", type=int, metavar="N",
        help="cap the frameworks' CPU threads at N (OMP/MKL, TensorFlow, and XLA when N=1); default: as set",
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for the README) instead")
    parser.add_argument("--render", metavar="JSON", help="measure nothing: print the tables of a results file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.save and args.quick:
        parser.error("--save publishes the numbers: run it without --quick")
    if args.render:
        with open(args.render) as f:
            doc = json.load(f)
        if args.markdown:
            print(report.markdown(doc), end="")
        else:
            results = list(doc["cases"].values())
            print("\n".join(line for res in results for line in [*report.case_table(res), ""]))
            print("\n".join(report.targets_table(results)))
        return 0

    cases = args.only or list(CASES)
    if args.threads:
        h.set_threads(args.threads)
    ctx = Context(_backends(args.backends), args.quick, args.verbose)
    meta = h.environment()
    meta.update(
        command="python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        quick=args.quick,
        backends=ctx.backends,
        threads=args.threads or "as set",
        caveat=report.CAVEAT_QUICK if args.quick else CAVEAT,
    )
    doc: dict[str, Any] = {"meta": meta, "cases": {}}
    results = []
    t0 = time.perf_counter()
    for case in cases:
        ctx.log(f"[{case}]")
        n_err = len(ctx.errors)
        module = importlib.import_module(MODULES[case])
        res = module.run(ctx)
        res["errors"] = ctx.errors[n_err:]
        if args.quick:  # smoke-run numbers say nothing: never judge a target on them
            for t in res.get("targets", []):
                if t.get("value") is not None:
                    t["met"] = None
        res["quick"] = args.quick
        res["date"] = meta["date"]
        results.append(res)
        doc["cases"][case] = res
    meta["seconds"] = round(time.perf_counter() - t0, 1)

    lines = [
        f"labelkit benchmarks — {meta['cpu']} ({meta['cpus']} CPUs), Python {meta['python']}"
        + (" — QUICK" if args.quick else ""),
        f"   {meta['caveat']}",
        "",
    ]
    for res in results:
        lines += [*report.case_table(res), ""]
    lines += report.targets_table(results)
    print(report.markdown(doc) if args.markdown else "\n".join(lines))

    report.write_json(args.json, doc)
    written = [args.json]
    if not args.no_chart:
        png = report.chart(os.path.splitext(args.json)[0] + ".png", doc)
        if png:
            written.append(png)
    if args.save:
        existing = None
        if os.path.exists(DOCS_JSON):
            with open(DOCS_JSON) as f:
                existing = json.load(f)
        merged = report.merge(existing, doc)
        report.write_json(DOCS_JSON, merged)
        written.append(DOCS_JSON)
        if not args.no_chart and report.chart(DOCS_PNG, merged):
            written.append(DOCS_PNG)
    print(f"\nwrote {', '.join(os.path.relpath(p) for p in written)} in {meta['seconds']} s")
    return 1 if ctx.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
