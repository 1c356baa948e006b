"""The `saeeval` command line: run, config, evals, cache, train, sweep, report, compare, demo."""

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

from saeeval.defaults import DEFAULT_HOOK, DEMO_D_SAE, DEMO_TOKENS
from saeeval.errors import SaeevalError

PRESET_HELP = (
    "size preset: saebench (SAEBench's published settings; the default on hub data) or offline "
    "(small CPU sizes; the default on the built-in data)"
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Evaluate sparse autoencoders with SAEBench's evals, offline by default.",
)
console = Console(stderr=True)


# Exit codes: 0 done; 1 the job ran, but some (SAE, eval) pairs failed (each named at the end and
# in the manifest); 2 a usage error stopped it before or during the work; 130 interrupted.
EXIT_FAILURES = 1
EXIT_USAGE = 2


@contextmanager
def _user_errors() -> Iterator[None]:
    """Show user errors as one line and a non-zero exit, not a traceback."""
    try:
        yield
    except SaeevalError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None
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


def _exit_if_failed(failed: list[tuple[str, ...]], where: str) -> None:
    """After a job that went on past failures: name each failed pair, then exit 1."""
    if not failed:
        return
    console.print(f"[bold red]{len(failed)} (SAE, eval) pair(s) failed[/] (details in {where}):")
    for *names, reason in failed:
        console.print(f"  {' / '.join(names)}: {reason}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_FAILURES)


def _names(comma_separated: str) -> list[str]:
    return [name.strip() for name in comma_separated.split(",") if name.strip()]


def _quiet_library_progress_bars() -> None:
    """Our own progress bars cover model loading and data work; silence the libraries' ones."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()


def _summary(results: list[dict]) -> None:
    from saeeval.reports.tables import headline_table

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


# The executor options `run` and `sweep` share, declared once.
ExecutorOption = Annotated[
    str,
    typer.Option(
        help="where work units run: local (this process), ray (Ray tasks), slurm (a SLURM job "
        "array); a rerun of the same command resumes"
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join: auto or HOST:PORT (default: start a local one)"),
]
GpusOption = Annotated[
    float | None,
    typer.Option(help="GPUs each Ray unit asks for (default: 1 with --device cuda, else 0)"),
]
CpusOption = Annotated[
    float, typer.Option(help="CPUs each Ray unit asks for; it computes with as many threads")
]
SlurmPartitionOption = Annotated[str | None, typer.Option(help="SLURM partition")]
SlurmGpusOption = Annotated[int, typer.Option(help="GPUs per SLURM task")]
SlurmTimeOption = Annotated[
    int,
    typer.Option(
        help="time limit of each SLURM job, in minutes (requeued from its files at the limit)"
    ),
]


def _executor(
    name,
    device,
    out,
    progress,
    ray_address,
    gpus_per_unit,
    cpus_per_unit,
    partition,
    slurm_gpus,
    minutes,
):
    from saeeval.distributed import make_executor

    if gpus_per_unit is None:
        gpus_per_unit = 1 if device.startswith("cuda") else 0

    return make_executor(
        name,
        out=out,
        progress=progress,
        log=_log,
        ray_address=ray_address,
        gpus_per_unit=gpus_per_unit,
        cpus_per_unit=cpus_per_unit,
        slurm_partition=partition,
        slurm_gpus_per_task=slurm_gpus,
        slurm_time_min=minutes,
    )


@app.command()
def run(
    sae: Annotated[
        list[str],
        typer.Option(
            "--sae", help="SAE folder, or RELEASE/SAE_ID of SAELens' pretrained SAEs (repeat)"
        ),
    ],
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
    force: Annotated[
        bool, typer.Option(help="recompute pairs whose results were computed for this request")
    ] = False,
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
    preset: Annotated[str | None, typer.Option(help=PRESET_HELP)] = None,
    seeds: Annotated[
        int,
        typer.Option(
            help="run each eval that draws at random under N seeds (its random_seed, +1, ...) "
            "and record each metric's spread; the extra runs go to OUT/seed_runs/"
        ),
    ] = 1,
    executor: ExecutorOption = "local",
    chunk_size: Annotated[
        int | None,
        typer.Option(help="SAEs per eval unit (default: all here; 4 on ray and slurm)", min=1),
    ] = None,
    ray_address: RayAddressOption = None,
    gpus_per_unit: GpusOption = None,
    cpus_per_unit: CpusOption = 1,
    slurm_partition: SlurmPartitionOption = None,
    slurm_gpus_per_task: SlurmGpusOption = 0,
    slurm_time: SlurmTimeOption = 240,
) -> None:
    """Run evals on one or more SAEs and write SAEBench-schema results to OUT."""
    from saeeval.distributed.driver import run_many
    from saeeval.results import read_result
    from saeeval.runner import RunRequest, parse_overrides

    with _user_errors():
        overrides = parse_overrides(set_ or [])
        eval_names = _names(evals)
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
            preset=preset,
            seeds=seeds,
        )
        with (
            _progress() as progress,
            _executor(
                executor,
                device,
                out,
                progress,
                ray_address,
                gpus_per_unit,
                cpus_per_unit,
                slurm_partition,
                slurm_gpus_per_task,
                slurm_time,
            ) as chosen,
        ):
            outcome = run_many(
                request, chosen, chunk_size, _log, command=" ".join(["saeeval", *sys.argv[1:]])
            )
        for eval_name, sae_id, path in outcome.skipped:
            _log(
                f"kept {eval_name} for {sae_id}: {path} was computed for this same request "
                f"(use --force to rerun)"
            )
        _summary(outcome.results + [read_result(path) for _, _, path in outcome.skipped])
        console.print(f"wrote {len(outcome.written)} result file(s) under {out}")
    _exit_if_failed(
        [(sae_id, eval_name, reason) for eval_name, sae_id, reason in outcome.failed],
        out / "manifest.json",
    )


@app.command("config")
def show_config(
    eval_name: Annotated[
        str, typer.Argument(metavar="EVAL", help="eval name (see `saeeval evals`)")
    ],
    dataset: Annotated[
        str | None, typer.Option(help="text dataset as for `run` (default: the built-in data)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="model as for `run`")] = None,
    dtype: Annotated[str, typer.Option(help="float32, bfloat16 or float16")] = "float32",
    preset: Annotated[str | None, typer.Option(help=PRESET_HELP)] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override EVAL.FIELD=VALUE, as for `run`")
    ] = None,
) -> None:
    """Print, as JSON, the config `saeeval run` would use for EVAL; nothing is loaded or run."""
    import json

    from saeeval.runner import effective_config, parse_overrides

    with _user_errors():
        overrides = parse_overrides(set_ or [])
        for name in overrides:
            if name != eval_name:
                raise SaeevalError(
                    f"--set names eval {name!r}, but the config shown is {eval_name!r}"
                )
        config = effective_config(
            eval_name, model, dtype, dataset, preset, overrides.get(eval_name, {})
        )
    typer.echo(json.dumps(config, indent=2))


@app.command("cache")
def cache(
    clear: Annotated[bool, typer.Option("--clear", help="remove the entries listed")] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option(help="only this kind of entry, as listed (repeatable; a prefix covers all)"),
    ] = None,
) -> None:
    """Show what the cache holds (models, tokenised data, activations, probes), or clear it."""
    from saeeval.cache_dir import cache_root, cache_usage, clear_cache, kind_matches

    with _user_errors():
        root = cache_root()
        if clear:
            removed, freed = clear_cache(kind, root)
            typer.echo(
                f"removed {removed} entr{'y' if removed == 1 else 'ies'}, "
                f"{freed / 2**30:.2f} GiB, from {root}"
            )
            return
        usage = cache_usage(root)
        if kind:
            usage = {k: v for k, v in usage.items() if any(kind_matches(k, p) for p in kind)}
        table = Table(title=f"saeeval cache: {root}")
        for column in ("kind", "entries", "GiB"):
            table.add_column(column, justify="left" if column == "kind" else "right")
        for name, (count, size) in sorted(usage.items()):
            table.add_row(name, str(count), f"{size / 2**30:.2f}")
        total = sum(size for _, size in usage.values())
        table.add_row("total", str(sum(c for c, _ in usage.values())), f"{total / 2**30:.2f}")
        Console().print(table)


@app.command("evals")
def list_evals(
    fields: Annotated[
        str | None,
        typer.Option(help="list this eval's config fields (for --set) with defaults and meanings"),
    ] = None,
) -> None:
    """List the registered evals, or one eval's config fields."""
    from saeeval.evals import all_evals, get_eval

    with _user_errors():
        if fields is not None:
            _print_fields(get_eval(fields))
            return
        for eval_ in all_evals():
            doc = type(eval_).__doc__ or sys.modules[type(eval_).__module__].__doc__ or ""
            summary = doc.strip().splitlines()[0] if doc.strip() else ""
            typer.echo(f"{eval_.name:16s} {eval_.eval_type_id:28s} {summary}".rstrip())


def _print_fields(eval_) -> None:
    table = Table(title=f"{eval_.name} config fields (set with --set {eval_.name}.FIELD=VALUE)")
    for column in ("field", "type", "default", "description"):
        table.add_column(column, overflow="fold")
    for name, info in eval_.config_class.model_fields.items():
        default = info.get_default(call_default_factory=True)
        annotation = getattr(info.annotation, "__name__", None) or str(info.annotation)
        table.add_row(
            name, annotation.replace("typing.", ""), repr(default), info.description or ""
        )
    Console(width=max(Console().width, 140)).print(table)


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
    from saeeval.workflows import fit_pca as fit

    with _user_errors(), _progress() as progress:
        fit(out, model, hook, k, contexts, device, dataset, progress)
    console.print(f"saved PCA baseline SAE to {out}")


@app.command()
def train(
    trainer: Annotated[
        str, typer.Option(help="native trainer (see `saeeval trainers`) or path/to/file.py:Class")
    ],
    out: Annotated[Path, typer.Option(help="run folder: sae/, training record, checkpoints")],
    model: Annotated[str, typer.Option(help="model name, hub id or folder")] = "smollm2-135m",
    hook: Annotated[str, typer.Option(help="hook point")] = DEFAULT_HOOK,
    d_sae: Annotated[int, typer.Option(help="number of latents")] = 4608,
    tokens: Annotated[int, typer.Option(help="training tokens")] = 1_000_000,
    batch_size: Annotated[int, typer.Option(help="tokens per optimisation step")] = 1024,
    k: Annotated[int | None, typer.Option(help="active latents (TopK, BatchTopK)")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    sparsity_penalty: Annotated[
        float | None, typer.Option(help="sparsity coefficient (L1 or L0, by trainer)")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="any trainer hyperparameter NAME=VALUE, e.g. tau_end=0.1"),
    ] = None,
    eval: Annotated[str, typer.Option(help="comma-separated evals to run on the result")] = "",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="eval config override EVAL.FIELD=VALUE (as in `run`)"),
    ] = None,
    device: Annotated[str, typer.Option()] = "auto",
    dataset: Annotated[str | None, typer.Option(help="training text (default: offline)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="steps between checkpoints")] = 250,
    dtype: Annotated[
        str, typer.Option(help="the model's dtype for activations: float32, bfloat16, float16")
    ] = "float32",
) -> None:
    """Train an SAE, save it in SAELens format with a training record, optionally evaluate it."""
    from saeeval.results import read_results
    from saeeval.runner import parse_overrides
    from saeeval.trainers.loop import TrainingPlan
    from saeeval.workflows import EVAL_FOLDER, hyperparameters, train_run

    with _user_errors():
        plan = TrainingPlan(
            trainer=trainer,
            d_sae=d_sae,
            tokens=tokens,
            batch_size=batch_size,
            hyperparameters=hyperparameters(k, lr, sparsity_penalty, param),
            seed=seed,
            checkpoint_every=checkpoint_every,
        )
        evals = _names(eval)
        overrides = parse_overrides(set_ or [])
        with _progress() as progress:
            row, outcome = train_run(
                plan, out, model, hook, device, dataset, evals, overrides, progress, _log, dtype
            )
        if evals:
            _summary(read_results(out / EVAL_FOLDER, []))
        console.print(
            f"trained in {row['train_wall_time_s']} s "
            f"({row['train_tokens_per_s']} tokens/s); SAE in {out / 'sae'}"
        )
    if outcome is not None:
        _exit_if_failed(
            [(sae_id, name, reason) for name, sae_id, reason in outcome.failed],
            out / EVAL_FOLDER / "manifest.json",
        )


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(help="sweep YAML (see trainers/sweep.py)")],
    out: Annotated[Path, typer.Option(help="folder for every run and the summary")],
    device: Annotated[str, typer.Option()] = "auto",
    executor: ExecutorOption = "local",
    chunk_size: Annotated[
        int | None,
        typer.Option(help="runs per eval unit (default: all here; 4 on ray and slurm)", min=1),
    ] = None,
    ray_address: RayAddressOption = None,
    gpus_per_unit: GpusOption = None,
    cpus_per_unit: CpusOption = 1,
    slurm_partition: SlurmPartitionOption = None,
    slurm_gpus_per_task: SlurmGpusOption = 0,
    slurm_time: SlurmTimeOption = 240,
) -> None:
    """Train and evaluate a grid of trainers and hyperparameters; one summary table at the end."""
    from saeeval.distributed.driver import sweep as run_sweep

    with _user_errors():
        with (
            _progress() as progress,
            _executor(
                executor,
                device,
                out,
                progress,
                ray_address,
                gpus_per_unit,
                cpus_per_unit,
                slurm_partition,
                slurm_gpus_per_task,
                slurm_time,
            ) as chosen,
        ):
            outcome = run_sweep(file, out, device, progress, _log, chosen, chunk_size)
        console.print(outcome.md_path.read_text())
        console.print(f"summary in {outcome.csv_path} and {outcome.md_path}")
    _exit_if_failed(outcome.failed, "each run's eval/manifest.json")


@app.command("trainers")
def list_trainers() -> None:
    """List the native trainers."""
    from saeeval.trainers import TRAINERS

    width = max(len(name) for name in TRAINERS)
    for name, cls in sorted(TRAINERS.items()):
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        typer.echo(f"{name:{width}s}  {doc}")


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="results folder written by `saeeval run`")],
    out: Annotated[Path | None, typer.Option(help="report folder (default RESULTS/report)")] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="compare against this SAE id or folder of results (as `compare`)"),
    ] = None,
) -> None:
    """Write a report folder: index.html, report.md, LaTeX tables and figures (PNG, PDF, SVG)."""
    from saeeval.reports import build_report

    with _user_errors():
        path = build_report(results, out, baseline)
    console.print(f"wrote {path.parent / 'index.html'} and {path}")


@app.command()
def compare(
    results: Annotated[list[Path], typer.Argument(help="results folders of the SAEs to compare")],
    baseline: Annotated[
        str,
        typer.Option(
            help="an SAE id in the results, or a folder of baseline results (one SAE, or one "
            "architecture at one width over several L0s, compared at matched L0)"
        ),
    ],
    out: Annotated[Path, typer.Option(help="folder for comparison.csv, .md and .tex")] = Path(
        "comparison"
    ),
    allow_mismatch: Annotated[
        bool, typer.Option(help="compare results of different models, hooks, data or presets")
    ] = False,
) -> None:
    """Each SAE's headline metrics against a baseline, with 95% intervals of the differences."""
    import pandas as pd

    from saeeval.comparison import compare as run_compare
    from saeeval.comparison import write_comparison

    with _user_errors():
        frame = run_compare(results, baseline, allow_mismatch)
        paths = write_comparison(frame, out)
    table = Table("SAE", "baseline", "eval", "metric", "value", "baseline", "delta", "95% CI")
    for row in frame.itertuples(index=False):
        if pd.isna(row.delta):
            cells = ["", "", row.note]
        else:
            interval = "" if pd.isna(row.ci_low) else f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]"
            delta = f"{row.delta:+.4f}"
            if row.significant:
                delta, interval = f"[bold]{delta}[/bold]", f"[bold]{interval} *[/bold]"
            cells = [f"{row.baseline_value:.4f}", delta, interval]
        table.add_row(
            row.sae_id, row.baseline_id, row.eval_type_id, row.metric, f"{row.value:.4f}", *cells
        )
    console.print(table)
    console.print("* the 95% interval of the difference excludes 0")
    console.print(f"wrote {', '.join(str(p) for p in paths)}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the SAE, results and report")] = Path(
        "saeeval-demo"
    ),
    device: Annotated[str, typer.Option()] = "auto",
    force: Annotated[bool, typer.Option(help="recompute results that exist")] = False,
    d_sae: Annotated[int, typer.Option(help="latents of the trained SAE")] = DEMO_D_SAE,
    tokens: Annotated[int, typer.Option(help="training tokens")] = DEMO_TOKENS,
) -> None:
    """The main job on the embedded default: train an SAE on SmolLM2, run every eval, report.

    Trains a TopK SAE at blocks.6.hook_resid_post, fits the PCA baseline beside it, evaluates
    both with every registered eval, and writes OUT/report/report.md.
    """
    from saeeval.workflows import demo as run_demo

    with _user_errors():
        with _progress() as progress:
            outcome = run_demo(out, device, force, d_sae, tokens, progress, _log)
        _summary(outcome.results)
        console.print(f"results in {out / 'results'}, report at {outcome.report}")
    _exit_if_failed(
        [(sae_id, name, reason) for name, sae_id, reason in outcome.run.failed],
        out / "results" / "manifest.json",
    )


def main() -> None:
    _quiet_library_progress_bars()
    app()


if __name__ == "__main__":
    main()
