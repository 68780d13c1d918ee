"""The aligned table, the JSON file and the chart."""

from __future__ import annotations

import json
import os
from typing import Any

CAVEAT_QUICK = "--quick: small sizes and few rounds, a smoke run; the numbers are not meaningful."


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt_value(row: dict[str, Any]) -> str:
    unit = row.get("unit", "s")
    if unit == "s":
        return f"{_fmt_time(row['median_s'])} [{_fmt_time(row['min_s'])}–{_fmt_time(row['max_s'])}]"
    if unit == "MiB":
        return f"{row['peak_mib']:.0f} MiB"
    if unit == "ms":
        return f"{row['median_ms']:.1f} ms [{row['min_ms']:.1f}–{row['max_ms']:.1f}]"
    return str(row.get("value", ""))


def _fmt_ratio(row: dict[str, Any]) -> str:
    if row.get("ratio") is None:
        return ""
    spec = ".2f" if row["ratio"] >= 0.095 else ".2g"  # 0.0042×, not 0.00×
    text = f"{row['ratio']:{spec}}×"
    if "ratio_min" in row and row.get("rounds", 1) > 1:
        text += f" [{row['ratio_min']:{spec}}–{row['ratio_max']:{spec}}]"
    return text


def _align(table: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for j, r in enumerate(table):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def case_table(result: dict[str, Any]) -> list[str]:
    lines = [f"== {result['name']}: {result['title']}"]
    if result.get("method"):
        lines.append(f"   method: {result['method']}")
    rows = result.get("rows", [])
    if rows:
        table = [["backend", "what", "impl", "median [min–max]", "ratio to native [min–max]", "call"]]
        for r in rows:
            table.append([r["backend"], r["what"], r["impl"], _fmt_value(r), _fmt_ratio(r), r.get("call", "")])
        lines += ["   " + line for line in _align(table)]
    for note in result.get("notes", []):
        lines.append(f"   note: {note}")
    for err in result.get("errors", []):
        first, _, rest = err.partition("\n")
        lines.append(f"   ERROR: {first}")
        lines += ["      " + line for line in rest.splitlines()]
    return lines


def targets_table(results: list[dict[str, Any]]) -> list[str]:
    table = [["case", "backend", "target", "measured", "met"]]
    for res in results:
        for t in res.get("targets", []):
            unit = t.get("unit", "")
            value = "n/a" if t["value"] is None else f"{t['value']:.3g}{unit}"
            met = "yes" if t["met"] else ("n/a" if t["met"] is None else "MISSED")
            table.append([res["name"], t.get("backend", ""), t["target"], value, met])
    if len(table) == 1:
        return []
    return ["== targets", *("   " + line for line in _align(table))]


def markdown(doc: dict[str, Any]) -> str:
    """The results as Markdown tables (for the README), one per case, then the targets."""
    meta = doc.get("meta", {})
    out = [
        f"Measured on {meta.get('cpu', '?')} ({meta.get('cpus', '?')} CPUs), Python {meta.get('python', '?')}, "
        f"{meta.get('date', '')}; `{meta.get('command', 'python -m benchmarks')}`. {meta.get('caveat', '')}",
        "",
    ]
    results = list(doc["cases"].values())
    for res in results:
        out.append(f"**{res['title']}**" + (" (quick)" if res.get("quick") else ""))
        out.append("")
        rows = res.get("rows", [])
        if rows:
            out.append("| backend | what | impl | median [min–max] | ratio to native [min–max] | call |")
            out.append("|---|---|---|---|---|---|")
            for r in rows:
                call = r.get("call", "").replace("|", "\\|")
                cells = [r["backend"], r["what"], r["impl"], _fmt_value(r), _fmt_ratio(r), f"`{call}`"]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        for note in res.get("notes", []):
            out.append(f"- {note}")
        if res.get("notes"):
            out.append("")
    targets = [(res["name"], t) for res in results for t in res.get("targets", [])]
    if targets:
        out += ["**Targets**", "", "| case | backend | target | measured | met |", "|---|---|---|---|---|"]
        for name, t in targets:
            value = "n/a" if t["value"] is None else f"{t['value']:.3g}{t.get('unit', '')}"
            met = "yes" if t["met"] else ("n/a" if t["met"] is None else "**missed**")
            out.append(f"| {name} | {t.get('backend', '')} | {t['target']} | {value} | {met} |")
    return "\n".join(out) + "\n"


def write_json(path: str, doc: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False, ensure_ascii=False)
        f.write("\n")


def merge(existing: dict[str, Any] | None, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``'s cases replace the same cases of ``existing``; the others are kept (``--only`` runs)."""
    if not existing or "cases" not in existing:
        return doc
    cases = dict(existing["cases"])
    cases.update(doc["cases"])
    out = dict(doc)
    out["cases"] = cases
    return out


_LIMITS = {"dispatch": 1.2, "sparse_ce": 1.05, "memory": 1.05, "checks": 1.03}
_BASELINES = ("native", "check_values=False")
_COLORS = {
    "labelkit": "#1f77b4",
    "labelkit (check_values=False)": "#7fb8e6",
    "check_values=True": "#1f77b4",
    "keras.ops": "#999999",
    "keras": "#999999",
    "one-hot path": "#d62728",
}


def chart(path: str, doc: dict[str, Any]) -> str | None:
    """A PNG of the ratio figures, one panel per case; ``None`` (and no file) without matplotlib.

    Bars are grouped by backend and measurement; each is a median ratio to the native call (1.0, the
    black line), with its min-max over the rounds as a whisker; the dashed red line is the target.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return None
    panels = [doc["cases"][n] for n in _LIMITS if doc["cases"].get(n, {}).get("rows")]
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 3.4 * len(panels)), squeeze=False)
    for ax, res in zip(axes[:, 0], panels):
        rows = [r for r in res["rows"] if r.get("ratio") is not None and r["impl"] not in _BASELINES]
        groups = list(dict.fromkeys((r["backend"], r["what"]) for r in rows))
        impls = list(dict.fromkeys(r["impl"] for r in rows))
        width = 0.8 / max(len(impls), 1)
        top = 0.0
        for k, impl in enumerate(impls):
            xs, ys, lo, hi = [], [], [], []
            for g, (backend, what) in enumerate(groups):
                r = next((r for r in rows if (r["backend"], r["what"], r["impl"]) == (backend, what, impl)), None)
                if r is None:
                    continue
                xs.append(g + (k - (len(impls) - 1) / 2) * width)
                ys.append(r["ratio"])
                lo.append(r["ratio"] - r.get("ratio_min", r["ratio"]))
                hi.append(r.get("ratio_max", r["ratio"]) - r["ratio"])
            top = max([top, *ys])
            ax.bar(xs, ys, width, label=impl, color=_COLORS.get(impl))
            if any(lo) or any(hi):
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", elinewidth=0.6, capsize=1.5)
        ax.axhline(1.0, color="black", linewidth=0.8)
        limit = _LIMITS[res["name"]]
        ax.axhline(limit, color="red", linewidth=0.8, linestyle="--", label=f"target {limit}×")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{b}\n{w}" for b, w in groups], fontsize=7)
        ax.set_ylabel("× native" if res["name"] != "checks" else "× check_values=False")
        ax.set_title(res["title"], fontsize=9)
        if top > 6:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, max(1.5, top * 1.25))  # whiskers of a noisy round may leave the panel
        ax.legend(fontsize=7, loc="upper left", ncol=3)
    meta = doc.get("meta", {})
    fig.suptitle(
        f"labelkit vs the native call — {meta.get('cpu', '')}, {meta.get('cpus', '?')} CPUs"
        + (" (QUICK: not meaningful)" if meta.get("quick") else ""),
        fontsize=10,
    )
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
