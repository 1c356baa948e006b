"""The `saeeval` command line: run, evals, fit-pca, report, demo."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from saeeval.errors import SaeevalError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Evaluate sparse autoencoders with SAEBench's evals, offline by default.",
)
console = Console(stderr=True)

DEFAULT_HOOK = "blocks.6.hook_resid_post"


@contextmanager
def _user_errors() -> Iterator[None]:
    """Show user errors as one line and a non-zero exit, not a traceback."""
    try:
        yield
    except SaeevalError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every result finished so far is kept[/]")
        raise typer.Exit(130) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _log(message: str) -> None:
    style = "yellow" if message.startswith("warning") else "dim"
    console.print(f"[{style}]{message}[/]", highlight=False, soft_wrap=True)


def _quiet_library_progress_bars() -> None:
    """Our own progress bars cover model loading and data work; silence the libraries' ones."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()


def _summary(results: list[dict]) -> None:
    from reports.tables import headline_table

    for eval_type_id in sorted({r["eval_type_id"] for r in results}):
        frame = headline_table(results, eval_type_id)
        if frame.empty:
            continue
        table = Table(title=f"{eval_type_id} results")
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
        out = Console()
        if not out.is_terminal:  # logs and pipes: do not squeeze the table into 80 columns
            out = Console(width=200)
        out.print(table)


@app.command()
def run(
    sae: Annotated[list[str], typer.Option("--sae", help="SAE folder (repeat for several SAEs)")],
    evals: Annotated[
        str, typer.Option(help="comma-separated eval names (see `saeeval evals`)")
    ] = "core",
    out: Annotated[Path, typer.Option(help="results folder")] = Path("results"),
    model: Annotated[
        str | None,
        typer.Option(
            help="model name, hub id or folder; default: the SAE's own model, else smollm2-135m"
        ),
    ] = None,
    hook: Annotated[str | None, typer.Option(help="override the SAE config's hook")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto")] = "auto",
    dtype: Annotated[str, typer.Option(help="float32, bfloat16 or float16")] = "float32",
    force: Annotated[bool, typer.Option(help="rerun (SAE, eval) pairs that have results")] = False,
    format: Annotated[
        str | None,
        typer.Option(help="SAE folder format: saelens or dictionary_learning (default: detected)"),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="text dataset: 'offline' (built-in), a hub id, or a local .txt/.jsonl/.parquet"
        ),
    ] = None,
    text_column: Annotated[str, typer.Option(help="text column of --dataset")] = "text",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="eval config override EVAL.FIELD=VALUE, e.g. core.n_eval_reconstruction_batches=8",
        ),
    ] = None,
    feature_details: Annotated[bool, typer.Option(help="save per-latent details (core)")] = False,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
) -> None:
    """Run evals on one or more SAEs and write SAEBench-schema results to OUT."""
    from saeeval.results import read_result
    from saeeval.runner import RunRequest, parse_overrides
    from saeeval.runner import run as run_evals

    with _user_errors():
        overrides = parse_overrides(set_ or [])
        eval_names = [e.strip() for e in evals.split(",") if e.strip()]
        if feature_details and "core" in eval_names:
            overrides.setdefault("core", {})["save_feature_details"] = True
        request = RunRequest(
            saes=sae,
            evals=eval_names,
            out=out,
            model=model,
            hook=hook,
            device=device,
            dtype=dtype,
            force=force,
            format=format,
            dataset=dataset,
            text_column=text_column,
            overrides=overrides,
            seed=seed,
        )
        with _progress() as progress:
            outcome = run_evals(
                request, progress=progress, log=_log, command=" ".join(["saeeval", *sys.argv[1:]])
            )
        for eval_name, sae_id, path in outcome.skipped:
            _log(f"skipped {eval_name} for {sae_id}: {path} exists (use --force to rerun)")
        _summary(outcome.results + [read_result(path) for _, _, path in outcome.skipped])
        console.print(f"wrote {len(outcome.written)} result file(s) under {out}")


@app.command("evals")
def list_evals() -> None:
    """List the registered evals."""
    from saeeval.evals import REGISTRY

    for name, eval_ in sorted(REGISTRY.items()):
        doc = (sys.modules[type(eval_).__module__].__doc__ or "").strip().splitlines()[0]
        typer.echo(f"{name:16s} {eval_.eval_type_id:28s} {doc}")


def _fit_pca(
    model_name: str, hook: str, k: int, n_contexts: int, device: str, dataset, out: Path, progress
):
    from saeeval.activations import ActivationCache
    from saeeval.evals import EvalContext
    from saeeval.models import load_model
    from saeeval.saes import save_sae
    from trainers.pca import TRAIN_CONTEXT_OFFSET, fit_pca_sae

    model = load_model(model_name, device)
    cache = ActivationCache()
    context = EvalContext(model=model, cache=cache, dataset_spec=dataset, progress=progress)
    contexts = context.contexts(128, TRAIN_CONTEXT_OFFSET + n_contexts)
    sae = fit_pca_sae(model, contexts, hook, cache, k=k, n_contexts=n_contexts, progress=progress)
    save_sae(sae, out)
    return model, cache


@app.command("fit-pca")
def fit_pca(
    out: Annotated[Path, typer.Option(help="folder for the SAE (SAELens format)")],
    model: Annotated[str, typer.Option(help="model name, hub id or folder")] = "smollm2-135m",
    hook: Annotated[str, typer.Option(help="hook point")] = DEFAULT_HOOK,
    k: Annotated[int, typer.Option(help="active latents per token")] = 32,
    contexts: Annotated[int, typer.Option(help="128-token contexts to fit on")] = 256,
    device: Annotated[str, typer.Option()] = "auto",
    dataset: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Fit a PCA TopK baseline SAE in seconds (no training)."""
    with _user_errors(), _progress() as progress:
        _fit_pca(model, hook, k, contexts, device, dataset, out, progress)
    console.print(f"saved PCA baseline SAE to {out}")


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="results folder written by `saeeval run`")],
    out: Annotated[Path | None, typer.Option(help="report folder (default RESULTS/report)")] = None,
) -> None:
    """Write a Markdown report with tables and figures for a results folder."""
    from reports import build_report

    with _user_errors():
        path = build_report(results, out)
    console.print(f"wrote {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the SAE, results and report")] = Path(
        "saeeval-demo"
    ),
    device: Annotated[str, typer.Option()] = "auto",
    force: Annotated[bool, typer.Option(help="recompute results that exist")] = False,
) -> None:
    """The main job on the embedded default: an SAE on SmolLM2, every eval, a report."""
    from reports import build_report
    from saeeval.evals import REGISTRY
    from saeeval.results import read_result
    from saeeval.runner import RunRequest
    from saeeval.runner import run as run_evals

    with _user_errors():
        sae_dir = out / "saes" / "pca-topk32"
        with _progress() as progress:
            _log(f"fitting a PCA TopK baseline SAE at {DEFAULT_HOOK} of smollm2-135m")
            model, cache = _fit_pca(
                "smollm2-135m", DEFAULT_HOOK, 32, 256, device, None, sae_dir, progress
            )
            request = RunRequest(
                saes=[str(sae_dir)],
                evals=sorted(REGISTRY),
                out=out / "results",
                device=device,
                force=force,
            )
            outcome = run_evals(
                request,
                progress=progress,
                log=_log,
                model_loader=lambda *_: model,
                cache=cache,
                command="saeeval demo",
            )
        report_path = build_report(out / "results", out / "report")
        _summary(outcome.results + [read_result(path) for _, _, path in outcome.skipped])
        console.print(f"results in {out / 'results'}, report at {report_path}")


def main() -> None:
    _quiet_library_progress_bars()
    app()


if __name__ == "__main__":
    main()
