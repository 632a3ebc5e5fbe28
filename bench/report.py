"""Turning samples into the results: ratios and targets, the printed table, latest.json, the plot."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.core import Row, Sample, Spread

RESULTS = Path(__file__).with_name("results")


@dataclass
class Outcome:
    """What happened to one row: its samples, or the reason it was not measured."""

    row: Row
    samples: list[Sample] = field(default_factory=list)
    reason: str = ""  # set when not measured
    setup_s: float | None = None
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    failed: bool = False  # a row with a measure that did not produce numbers

    @property
    def measured(self) -> bool:
        return bool(self.samples) and not self.reason

    @property
    def spread(self) -> Spread | None:
        return Spread.of([s.value for s in self.samples]) if self.measured else None


def summarise(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """One JSON-ready record per row, with its baseline's median, the ratio and the target verdict."""
    medians = {o.row.name: o.spread.median for o in outcomes if o.spread}
    by_name = {o.row.name: o for o in outcomes}
    records = []
    for o in outcomes:
        row, spread = o.row, o.spread
        base = _baseline_value(row, medians, by_name)
        ratio = spread.median / base if spread and base else None
        target = None
        if row.target:
            met = row.target.met(row.better, spread.median, ratio) if spread else None
            target = {
                "ratio": row.target.ratio,
                "limit": row.target.limit,
                "text": row.target.describe(row.better, row.unit),
                "met": met,
            }
        extras: dict[str, dict[str, float]] = {}
        if spread:
            for key in sorted({k for s in o.samples for k in s.extras}):
                values = [s.extras[key] for s in o.samples if key in s.extras]
                extras[key] = asdict(Spread.of(values))
        records.append(
            {
                "name": row.name,
                "title": str(o.notes.get("title", row.title)),
                "kind": row.kind,
                "status": "measured" if spread else "not measured",
                "reason": None if spread else o.reason,
                "unit": row.unit,
                "better": row.better,
                "value": spread.median if spread else None,
                "median": spread.median if spread else None,
                "min": spread.min if spread else None,
                "max": spread.max if spread else None,
                "runs": len(o.samples),
                "samples": [s.value for s in o.samples],
                "baseline": row.baseline,
                "baseline_metric": row.compare or "value",
                "baseline_value": base,
                "ratio": ratio,
                "target": target,
                "extras": extras,
                "notes": o.notes,
                "peak_rss_mb": o.peak_rss_mb,
                "setup_s": o.setup_s,
                "wall_s": o.wall_s,
            }
        )
    return records


def _baseline_value(row: Row, medians: dict[str, float], by_name: dict[str, Outcome]) -> float | None:
    """The baseline's median value, or the median of its side measurement `row.compare`."""
    if not row.baseline:
        return None
    if row.compare is None:
        return medians.get(row.baseline)
    base = by_name.get(row.baseline)
    if base is None or not base.measured:
        return None
    values = [s.extras[row.compare] for s in base.samples if row.compare in s.extras]
    return Spread.of(values).median if values else None


# --- the table ---------------------------------------------------------------------------------


def num(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _latency(record: dict[str, Any]) -> str:
    extras = record["extras"]
    for p50, p99 in (("p50_ms", "p99_ms"), ("op_p50_ms", "op_p99_ms")):
        if p50 in extras and p99 in extras:
            return f"{num(extras[p50]['median'])} / {num(extras[p99]['median'])}"
    return ""


def _verdict(target: dict[str, Any] | None) -> tuple[str, str]:
    if not target:
        return "", ""
    met = target["met"]
    return target["text"], "yes" if met is True else "NO" if met is False else "?"


HEAD = (
    "row",
    "measures",
    "median",
    "min – max",
    "unit",
    "n",
    "vs",
    "ratio",
    "target",
    "met",
    "p50/p99 ms",
    "peak MiB",
)


def _cells(r: dict[str, Any]) -> list[str]:
    if r["status"] != "measured":
        text, _ = _verdict(r["target"])
        return [
            r["name"],
            r["title"],
            f"not measured: {r['reason']}",
            "",
            r["unit"],
            "",
            _vs(r),
            "",
            text,
            "",
        ]
    text, met = _verdict(r["target"])
    ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ("-" if r["baseline"] else "")
    vs = _vs(r)
    peak = r["peak_rss_mb"]
    server = r["notes"].get("server_peak_rss_mb")
    memory = f"{peak:.0f}" if peak is not None else ""
    if server is not None:
        memory += f" (server {server:.0f})"
    return [
        r["name"],
        r["title"],
        num(r["median"]),
        f"{num(r['min'])} – {num(r['max'])}",
        r["unit"],
        str(r["runs"]),
        vs,
        ratio,
        text,
        met,
        _latency(r),
        memory,
    ]


def _vs(r: dict[str, Any]) -> str:
    """The baseline column: its name, and which of its measurements when not its value."""
    if not r["baseline"]:
        return ""
    metric = r.get("baseline_metric", "value")
    return r["baseline"] if metric == "value" else f"{r['baseline']} {metric.removesuffix('_ms')}"


def table(records: list[dict[str, Any]]) -> str:
    """Fixed-width text; a not-measured row spells out why across the number columns."""
    rows = [_cells(r) for r in records]
    widths = [len(h) for h in HEAD]
    for cells in rows:
        if len(cells) == len(HEAD):
            widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]
    right = {2, 3, 5, 7, 10, 11}

    def line(cells: list[str]) -> str:
        if len(cells) != len(HEAD):  # not measured: name, title, reason, then unit..target
            name, title, reason = cells[0], cells[1], cells[2]
            lead = f"{name:<{widths[0]}}  {title:<{widths[1]}}  "
            tail = f"  (vs {cells[6] or '-'}, target {cells[8] or '-'})" if cells[8] or cells[6] else ""
            return (lead + reason + tail).rstrip()
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(list(HEAD)), rule, *(line(c) for c in rows)])


def markdown(records: list[dict[str, Any]]) -> str:
    """The same table as Markdown, for docs/performance.md."""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for r in records:
        cells = _cells(r)
        if len(cells) != len(HEAD):
            reason = cells[2]
            cells = [cells[0], cells[1], f"*{reason}*", "", r["unit"], "", cells[6], "", cells[8], "", "", ""]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def machine_line(machine: dict[str, Any]) -> str:
    pg = machine.get("postgres", {})
    return (
        f"{machine['date']}  {machine['mode']} run  |  {machine['cpu_model']}, {machine['cores']} cores, "
        f"{machine['ram_gib']} GiB  |  {machine['python']}  |  PostgreSQL {pg.get('server_version', '?')} "
        f"(synchronous_commit={pg.get('synchronous_commit', '?')}, fsync={pg.get('fsync', '?')})  |  "
        f"load: {machine.get('load_generator', '-')}  |  git {machine['git']}"
    )


# --- files -------------------------------------------------------------------------------------


def write(records: list[dict[str, Any]], machine: dict[str, Any], directory: Path = RESULTS) -> Path:
    """latest.json (and latest.md), written atomically so a reader never sees half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "latest.json"
    _atomic(path, json.dumps({"machine": machine, "rows": records}, indent=2) + "\n")
    _atomic(directory / "latest.md", f"{machine_line(machine)}\n\n{markdown(records)}\n")
    return path


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def plot(records: list[dict[str, Any]], machine: dict[str, Any], directory: Path = RESULTS) -> Path:
    """Horizontal bars on log scales: throughput rows, then latency rows (ms), each above its baseline.

    Every measured row has min–max whiskers; its baseline (grey, hatched) is the value it is compared
    with (for Q1, WEB's p99), and the label says the ratio and whether the target is met.
    """
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (
            [r for r in records if r["unit"].endswith("/s")],
            "throughput (log scale): events/s, rows/s or requests/s",
        ),
        ([r for r in records if r["unit"] == "ms"], "milliseconds (log scale), lower is better"),
    ]
    panels = [(rows, label) for rows, label in panels if rows]
    heights = [0.62 * len(rows) + 1.0 for rows, _ in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(11, sum(heights) + 1.2),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (rows, xlabel) in zip(axes[:, 0], panels, strict=True):
        _panel(ax, rows, xlabel)
    axes[0, 0].set_title(
        f"traject benchmark, {machine['mode']} run, {machine['date']}\n"
        f"{machine['cpu_model']} ({machine['cores']} cores), PostgreSQL "
        f"{machine.get('postgres', {}).get('server_version', '?')}; grey hatched bar = the row's baseline",
        fontsize=9,
    )
    fig.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "throughput.png"
    tmp = directory / "throughput.png.tmp"
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _panel(ax: Any, rows: list[dict[str, Any]], xlabel: str) -> None:
    labels: list[str] = []
    measured = [r for r in rows if r["status"] == "measured"]
    lowest = min([r["min"] for r in measured] + [r["baseline_value"] or r["min"] for r in measured] or [1.0])
    left = 10 ** math.floor(math.log10(max(lowest, 1e-3)))
    for y, r in enumerate(reversed(rows)):
        labels.append(f"{r['name']}  {r['title']}")
        if r["status"] != "measured":
            ax.text(left, y, f"  not measured: {r['reason']}"[:150], va="center", fontsize=8, color="0.4")
            continue
        colour = "tab:blue" if r["kind"] == "baseline" else "tab:orange"
        err = [[r["median"] - r["min"]], [r["max"] - r["median"]]]
        ax.barh(y + 0.15, r["median"], height=0.34, color=colour, xerr=err, capsize=2)
        text = f" {num(r['median'])} {r['unit']}"
        base = r["baseline_value"]
        if base:
            vs = _vs(r)
            ax.barh(y - 0.2, base, height=0.28, color="0.8", hatch="//", edgecolor="0.5")
            ax.text(base, y - 0.2, f" {vs} {num(base)}", va="center", fontsize=7)
            text += f"  = {r['ratio']:.2f}x {vs}"
        if r["target"]:
            mark = {True: "met", False: "NOT met", None: "?"}[r["target"]["met"]]
            text += f"  (target {r['target']['text']}: {mark})"
        ax.text(max(r["max"], base or 0), y + 0.15, text, va="center", fontsize=7.5)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xscale("log")
    highest = max([r["max"] for r in measured] + [r["baseline_value"] or 0 for r in measured] or [10.0])
    ax.set_xlim(left=left, right=highest * 300)
    ax.set_xlabel(xlabel + "; whiskers: min–max over runs", fontsize=8)
    ax.grid(axis="x", which="major", alpha=0.3)
