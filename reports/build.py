"""Assemble a report folder from a results folder.

    DIR/index.html   one self-contained page (figures embedded): provenance first, then each
                     eval's table and figures, then warnings
    DIR/report.md    the same in Markdown, figures linked
    DIR/<eval_type_id>_table.tex, DIR/*.{png,pdf,svg}   for a paper
    DIR/comparison.{csv,md,tex}                         with a baseline

Tables give each metric as `value [95% interval]`, and `sd S over N seeds` where the run had
`--seeds N`.
"""

from __future__ import annotations

import base64
import html
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from saeeval.comparison import FOOTNOTE, compare, display_table, write_comparison
from saeeval.errors import SaeevalError
from saeeval.files import read_json_object
from saeeval.reports.figures import detail_views, saebench_view, training_curves
from saeeval.reports.style import PNG_DPI
from saeeval.results import atomic_write_text, read_results
from saeeval.results.manifest import MANIFEST_NAME
from saeeval.results.table import table
from saeeval.trainers.record import CURVES_CSV

PACKAGES = ("saeeval", "torch", "transformers", "sae-lens", "numpy")


def build_report(
    results_dir: str | Path, out_dir: str | Path | None = None, baseline: str | None = None
) -> Path:
    """Write the report folder; returns DIR/report.md (index.html lies beside it)."""
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir else results_dir / "report"
    unreadable: list[tuple[Path, str]] = []
    results = read_results(results_dir, unreadable)
    if not results:
        found = f" (unreadable: {'; '.join(why for _, why in unreadable)})" if unreadable else ""
        raise SaeevalError(f"{results_dir} holds no *_eval_results.json files to report on{found}")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest, problems = {}, [why for _, why in unreadable]
    manifest_path = results_dir / MANIFEST_NAME
    if manifest_path.is_file():
        try:
            manifest = read_json_object(manifest_path)
        except SaeevalError as exc:  # the results still report; the provenance lines are missing
            problems.append(str(exc))

    frame = table(results)
    comparison = None
    if baseline is not None:
        comparison = compare([results_dir], baseline)
        write_comparison(comparison, out_dir)
    baselines = [baseline] if baseline and baseline in set(frame.sae_id) else []

    sections = []  # (title, table, figure files)
    figures = saebench_view(frame, out_dir, "architecture", baselines)
    figures += saebench_view(frame, out_dir, "d_sae", baselines)
    if figures:
        sections.append(("SAEBench view: L0 against every metric", None, figures))
    details = detail_views(results, out_dir)
    if curves := _training_curves(results_dir, set(frame.sae_id)):
        sections.append(("Training", None, training_curves(curves, out_dir)))
    for eval_type_id in sorted(frame.eval_type_id.unique()):
        shown = eval_table(frame, eval_type_id)
        shown.to_latex(out_dir / f"{eval_type_id}_table.tex", index=False, escape=True)
        sections.append((eval_type_id, shown, details.get(eval_type_id, [])))

    provenance = _provenance(frame, manifest)
    warnings = {"Warnings": _warnings(manifest), "Files left out": problems}
    atomic_write_text(
        out_dir / "index.html", _html(provenance, sections, comparison, warnings, baseline)
    )
    report = out_dir / "report.md"
    atomic_write_text(report, _markdown(provenance, sections, comparison, warnings, baseline))
    return report


def eval_table(frame: pd.DataFrame, eval_type_id: str) -> pd.DataFrame:
    """One row per SAE: its size and each headline metric as `value [low, high]`, followed by
    `sd S over N seeds` where the result records a spread over seeds."""
    rows = frame[frame.eval_type_id == eval_type_id]
    out = rows.drop_duplicates("sae_id")[["sae_id", "d_sae", "architecture"]].rename(
        columns={"sae_id": "SAE"}
    )
    for title, metric_rows in rows.groupby("title", sort=False):
        cells = {r.sae_id: _cell(r) for r in metric_rows.itertuples(index=False)}
        out[title] = out.SAE.map(cells)
    return out.reset_index(drop=True)


def _cell(row) -> str:
    text = f"{row.value:.4g}"
    if not pd.isna(row.ci_low):
        text += f" [{row.ci_low:.4g}, {row.ci_high:.4g}]"
    if not pd.isna(row.seed_sd):
        text += f" sd {row.seed_sd:.2g} over {int(row.n_seeds)} seeds"
    return text


def _training_curves(results_dir: Path, sae_ids: set[str]) -> dict[str, pd.DataFrame]:
    """The training curves of the reported SAEs that a training run made: found through each
    manifest's record of the SAE folder (the curves lie beside it, in the run's folder)."""
    curves = {}
    for path in sorted(results_dir.rglob(MANIFEST_NAME)):
        try:
            entries = read_json_object(path).get("results") or {}
        except SaeevalError:
            continue  # reported under "Files left out" when it is the folder's own manifest
        for entry in entries.values():
            sae_id, sae_path = entry.get("sae_id"), entry.get("sae_path")
            if sae_id not in sae_ids or sae_id in curves or not sae_path:
                continue
            csv = Path(sae_path).parent / CURVES_CSV
            if csv.is_file():
                rows = pd.read_csv(csv)
                if "tokens" in rows and len(rows):
                    curves[sae_id] = rows
    return curves


def _provenance(frame: pd.DataFrame, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    def values(column: str) -> str:
        return ", ".join(sorted(map(str, frame[column].dropna().unique()))) or "not recorded"

    lines = [
        ("model", values("model")),
        ("hook", values("hook")),
        ("data source", values("data_source")),
        ("size preset", values("size_preset")),
    ]
    if frame["ablation"].notna().any():  # only SCR and TPP results have one
        lines.append(("SCR/TPP ablation", values("ablation")))
    lines.append(("produced by", values("produced_by")))
    for name, info in manifest.get("models", {}).items():
        what = f"{info['description']}; " if info.get("description") else ""
        lines.append(
            ("model file", f"{name} ({what}{info.get('fingerprint')}, {info.get('dtype')})")
        )
    for name, info in manifest.get("datasets", {}).items():
        lines.append(("dataset", f"{name} ({info.get('fingerprint')}): {info.get('provenance')}"))
    packages = manifest.get("packages") or {p: _version(p) for p in PACKAGES}
    lines.append(("packages", ", ".join(f"{k} {v}" for k, v in packages.items() if v)))
    if manifest.get("hardware"):
        hw = manifest["hardware"]
        lines.append(("hardware", f"{hw.get('device')}, {hw.get('cpu_count')} CPU cores"))
    lines.append(("intervals", "95%, percentile bootstrap over each eval's units"))
    if frame.seed_sd.notna().any():
        lines.append(("seed spread", "sample standard deviation over the runs of --seeds N"))
    return lines


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _warnings(manifest: dict[str, Any]) -> list[str]:
    entries = manifest.get("results", {})
    out = [f"{key}: {m}" for key, e in entries.items() for m in e.get("diagnostics", [])]
    out += [
        f"{key} failed: {e['failed']}"
        for key, e in entries.items()
        if e.get("failed") and e.get("result") is None
    ]
    return out


def _markdown(provenance, sections, comparison, warnings, baseline) -> str:
    lines = ["# saeeval report", ""]
    lines += [f"- {name}: {value}" for name, value in provenance] + [""]
    if comparison is not None:
        lines += [f"## Against {baseline}", ""]
        lines += [display_table(comparison).to_markdown(index=False, floatfmt=".4g"), ""]
        lines += [FOOTNOTE, ""]
    for title, shown, files in sections:
        lines += [f"## {title}", ""]
        if shown is not None:
            lines += [shown.to_markdown(index=False), ""]
        lines += [f"![{p.stem}]({p.name})" for p in files if p.suffix == ".png"] + [""]
    for heading, items in warnings.items():
        if items:
            lines += [f"## {heading}", ""] + [f"- {w}" for w in items] + [""]
    return "\n".join(lines)


def _html(provenance, sections, comparison, warnings, baseline) -> str:
    esc = html.escape
    body = ["<h1>saeeval report</h1>", "<h2>Provenance</h2>", "<dl>"]
    body += [f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in provenance]
    body.append("</dl>")
    for heading, items in warnings.items():
        if items:
            body += [f"<h2>{esc(heading)}</h2>", "<ul>"] + [f"<li>{esc(w)}</li>" for w in items]
            body.append("</ul>")
    if comparison is not None:
        body += [f"<h2>Against {esc(str(baseline))}</h2>"]
        body.append(display_table(comparison).to_html(index=False, float_format="%.4g"))
        body.append(f"<p>{esc(FOOTNOTE)}</p>")
    for title, shown, files in sections:
        body.append(f"<h2>{esc(title)}</h2>")
        if shown is not None:
            body.append(shown.to_html(index=False, na_rep=""))
        for path in files:
            if path.suffix == ".png":
                raw = path.read_bytes()
                data = base64.b64encode(raw).decode("ascii")
                # Shown at about its printed size: PNG width (IHDR) / dpi, at 100 px per inch.
                width = int.from_bytes(raw[16:20], "big") * 100 // PNG_DPI
                body.append(
                    f'<figure><img alt="{esc(path.stem)}" width="{width}" '
                    f'src="data:image/png;base64,{data}">'
                    f"<figcaption>{esc(path.stem)}</figcaption></figure>"
                )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>saeeval report</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "dt{font-weight:bold;float:left;clear:left;width:9em}dd{margin-left:10em}"
        "img{max-width:100%}figure{margin:1em 0}"
        "</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
