"""Case ``import``: what ``import labelkit`` costs over ``import numpy``, and what it loads.

Each sample is a fresh interpreter (``python -X importtime`` is not used: it slows imports down) that
times ``import numpy`` and then ``import labelkit`` with ``time.perf_counter``; labelkit's figure is the
second import alone, i.e. its cost over NumPy, which it needs anyway. The median over the samples is
reported with min/max. The modules that ``import labelkit`` adds to ``sys.modules`` are listed by
top-level package; no framework (torch, tensorflow, jax, keras, optax) may be among them.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from benchmarks import _harness as h

NAME = "import"
TITLE = "import labelkit, over import numpy (fresh interpreters)"
LIMIT_MS = 50.0
FRAMEWORKS = ("torch", "tensorflow", "jax", "jaxlib", "keras", "optax", "tf_keras", "flax")

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
before = set(sys.modules)
import labelkit
t2 = time.perf_counter()
added = sorted(set(sys.modules) - before)
print(json.dumps({"numpy_s": t1 - t0, "labelkit_s": t2 - t1, "added": added}))
"""
METHOD = (
    "fresh interpreter per sample (bytecode compiled by an unmeasured first run, as pip does on install); "
    "perf_counter around `import numpy`, then around `import labelkit`."
)


def measure(backend: str = "numpy", *, quick: bool = False, samples: int | None = None) -> dict[str, Any]:
    n = samples or (3 if quick else 21)
    env = h.worker_env()
    # An installed package has its bytecode compiled (pip does it); let the first, unmeasured run write
    # it here too, even where PYTHONDONTWRITEBYTECODE is set, so that no sample measures the compiler.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    runs = []
    for _ in range(n + 1):
        probe = [sys.executable, "-c", _PROBE]
        out = subprocess.run(probe, capture_output=True, text=True, check=True, env=env, cwd=h.ROOT)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"runs": runs[1:]}


def run(ctx: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"name": NAME, "title": TITLE, "method": METHOD, "rows": [], "targets": [], "notes": []}
    payload = ctx.worker(NAME, "numpy")
    if payload is None:
        return result
    runs = payload["runs"]
    np_ms = [r["numpy_s"] * 1e3 for r in runs]
    lk_ms = [r["labelkit_s"] * 1e3 for r in runs]
    added = runs[-1]["added"]
    tops = sorted({m.partition(".")[0] for m in added})
    frameworks = sorted(set(tops) & set(FRAMEWORKS))
    for what, values, call in (
        ("import numpy", np_ms, "python -c 'import numpy'"),
        ("import labelkit, over numpy", lk_ms, "python -c 'import numpy; import labelkit' (second import)"),
    ):
        result["rows"].append(
            {"backend": "-", "what": what, "impl": "labelkit" if "labelkit" in what else "numpy", "call": call,
             "unit": "ms", "median_ms": statistics.median(values), "min_ms": min(values), "max_ms": max(values),
             "ratio": None, "rounds": len(values)}
        )
    result["modules"] = {"count": len(added), "top_level": tops, "frameworks": frameworks}
    result["notes"].append(f"import labelkit adds {len(added)} modules; top-level packages: {', '.join(tops)}")
    result["notes"].append("frameworks imported: " + (", ".join(frameworks) if frameworks else "none"))
    value = statistics.median(lk_ms)
    result["targets"].append(
        {"target": f"import labelkit ≤ {LIMIT_MS:g} ms over numpy", "backend": "-", "value": value,
         "limit": LIMIT_MS, "unit": " ms", "met": value <= LIMIT_MS}
    )
    result["targets"].append(
        {"target": "import labelkit imports no framework", "backend": "-", "value": float(len(frameworks)),
         "limit": 0.0, "unit": " frameworks", "met": not frameworks}
    )
    return result
