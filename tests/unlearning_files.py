"""Local files shaped like the unlearning eval's hub datasets: the same configs (declared in a
README's metadata, as on the hub), splits, file layout and columns, so `datasets.load_dataset`
reads them through the code path it takes for the hub repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _readme(folder: Path, configs: dict[str, list[str]]) -> None:
    lines = ["---", "configs:"]
    for config, splits in configs.items():
        lines += [f"- config_name: {config}", "  data_files:"]
        for split in splits:
            lines += [f"  - split: {split}", f"    path: {config}/{split}-*"]
    (folder / "README.md").write_text("\n".join(lines + ["---", ""]))


def _write(folder: Path, config: str, split: str, frame: pd.DataFrame) -> None:
    (folder / config).mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / config / f"{split}-00000-of-00001.parquet", index=False)


def questions(prefix: str, n: int, subject: str | None = None) -> pd.DataFrame:
    """`n` four-choice questions: WMDP's columns, and MMLU's `subject` when given."""
    rows = [
        {
            "question": f"{prefix} question {i}: which of these is right?",
            "choices": [f"{prefix} choice {i}.{j}" for j in range(4)],
            "answer": (i * 7) % 4,
        }
        for i in range(n)
    ]
    frame = pd.DataFrame(rows)
    if subject is not None:
        frame.insert(1, "subject", subject)
    return frame


def write_wmdp(folder: Path, n: int) -> Path:
    """cais/wmdp: configs wmdp-bio, wmdp-chem, wmdp-cyber, each one test split."""
    for config in ("wmdp-bio", "wmdp-chem", "wmdp-cyber"):
        _write(folder, config, "test", questions(config, n if config == "wmdp-bio" else 2))
    _readme(folder, {c: ["test"] for c in ("wmdp-bio", "wmdp-chem", "wmdp-cyber")})
    return folder


def write_mmlu(folder: Path, subjects: dict[str, int]) -> Path:
    """cais/mmlu: one config per subject with test, validation and dev splits."""
    for subject, n in subjects.items():
        for split, count in (("test", n), ("validation", 3), ("dev", 5)):
            _write(folder, subject, split, questions(f"{subject} {split}", count, subject))
    _readme(folder, {s: ["test", "validation", "dev"] for s in subjects})
    return folder


def write_wikitext(folder: Path, lines: list[str]) -> Path:
    """wikitext: config wikitext-2-raw-v1 with train, validation and test splits of lines."""
    config = "wikitext-2-raw-v1"
    for split in ("train", "validation", "test"):
        text = lines if split == "test" else lines[:3]
        _write(folder, config, split, pd.DataFrame({"text": text}))
    _readme(folder, {config: ["train", "validation", "test"]})
    return folder


def write_forget_corpus(path: Path, texts: list[str]) -> Path:
    """WMDP's bio forget corpus: jsonl (SAEBench's copy) or parquet (the hub's), with a title
    and an abstract beside the text."""
    rows = [{"title": f"paper {i}", "abstract": t[:40], "text": t} for i, t in enumerate(texts)]
    if path.suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
