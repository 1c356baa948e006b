"""Assemble report.md from a results folder: provenance, one table per eval, figures, warnings."""

from __future__ import annotations

from pathlib import Path

from saeeval.errors import SaeevalError
from saeeval.files import read_json_object
from saeeval.reports.figures import core_tradeoffs
from saeeval.reports.tables import headline_table, to_markdown
from saeeval.results import atomic_write_text, read_results
from saeeval.results.manifest import MANIFEST_NAME


def build_report(results_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir else results_dir / "report"
    unreadable: list[tuple[Path, str]] = []
    results = read_results(results_dir, unreadable)
    if not results:
        found = f" (unreadable: {'; '.join(why for _, why in unreadable)})" if unreadable else ""
        raise SaeevalError(f"{results_dir} holds no *_eval_results.json files to report on{found}")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = results_dir / MANIFEST_NAME
    manifest, problems = {}, [why for _, why in unreadable]
    if manifest_path.is_file():
        try:
            manifest = read_json_object(manifest_path)
        except SaeevalError as exc:  # the results still report; the provenance lines are missing
            problems.append(str(exc))

    lines = ["# saeeval report", ""]
    for name, info in manifest.get("models", {}).items():
        what = f"{info['description']}; " if info.get("description") else ""
        lines.append(f"- model: `{name}` ({what}{info.get('fingerprint')}, {info.get('dtype')})")
    for name, info in manifest.get("datasets", {}).items():
        lines.append(f"- dataset: `{name}` ({info.get('fingerprint')}): {info.get('provenance')}")
    if manifest.get("hardware"):
        hw = manifest["hardware"]
        lines.append(f"- hardware: {hw.get('device')}, {hw.get('cpu_count')} CPU cores")
    lines.append("")

    for eval_type_id in sorted({r["eval_type_id"] for r in results}):
        table = headline_table(results, eval_type_id)
        lines += [f"## {eval_type_id}", "", to_markdown(table), ""]
        if eval_type_id == "core" and not table.empty:
            figure = core_tradeoffs(table, out_dir / "core_tradeoffs.png")
            lines += [f"![core trade-offs]({figure.name})", ""]

    warnings = [
        (key, message)
        for key, entry in manifest.get("results", {}).items()
        for message in entry.get("diagnostics", [])
    ]
    if warnings:
        lines += ["## Warnings", ""] + [f"- `{key}`: {message}" for key, message in warnings] + [""]
    failed = [
        (key, entry["failed"])
        for key, entry in manifest.get("results", {}).items()
        if entry.get("failed") and entry.get("result") is None
    ]
    if failed:
        lines += ["## Failed", ""] + [f"- `{key}`: {reason}" for key, reason in failed] + [""]
    if problems:
        lines += ["## Files left out", ""] + [f"- {why}" for why in problems] + [""]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return report
