"""`saeeval report` on a results folder with every eval in it: figures in three formats, tables,
a self-contained HTML page rendered by headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from helpers import marker_pixels, random_sae, saved
from test_probing_evals import SMALL as PROBING_SMALL

from saeeval.activations import ActivationCache
from saeeval.reports import build_report
from saeeval.runner import RunRequest, run

HOOK = "blocks.6.hook_resid_post"
SMALL = {
    "core": {
        "batch_size_prompts": 4,
        "n_eval_reconstruction_batches": 2,
        "n_eval_sparsity_variance_batches": 4,
    },
    "absorption": {"max_words_per_letter": 60},  # fewer leave too few letters measurable
    **PROBING_SMALL,
    "unlearning": {
        "max_questions": 40,
        "dataset_size": 8,
        "seq_len": 128,
        "n_features_list": [5],
        "multipliers": [50, 200],
    },
}
FIGURES = [
    "all_saebench_view",
    "all_saebench_view_by_d_sae",
    "sparse_probing_accuracy_vs_k",
    "scr_vs_n",
    "tpp_vs_n",
    "absorption_first_letter_per_letter",
    "unlearning_sweep",
]


def _tool(command: str, package: str) -> str:
    """A Debian tool, installed here if missing (the test setup's part, as CI runs it)."""
    found = shutil.which(command)
    if found is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", package],
            check=True,
            capture_output=True,
            timeout=900,
        )
        found = shutil.which(command)
    assert found, f"{command} is not installed and apt-get could not install {package}"
    return found


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, embedded_model):
    root = tmp_path_factory.mktemp("report")
    saes = [
        saved(
            random_sae(arch, 576, width, HOOK, seed=i, model_name="smollm2-135m", k=k),
            root / "saes" / name,
        )
        for i, (name, arch, width, k) in enumerate(
            [
                ("topk-16", "topk", 1152, 16),
                ("topk-64", "topk", 1152, 64),
                ("relu", "standard", 2304, 8),
            ]
        )
    ]
    outcome = run(
        RunRequest(
            saes=[str(s) for s in saes],
            evals=["core", "absorption", "sparse_probing", "scr", "tpp", "unlearning"],
            out=root / "results",
            device="cpu",
            overrides=SMALL,
        ),
        log=lambda m: None,
        model_loader=lambda *_: embedded_model,
        cache=ActivationCache(root / "cache"),
    )
    assert not outcome.failed, outcome.failed
    assert len({e for e, _, _ in outcome.written}) == 6
    build_report(root / "results", root / "report", baseline="relu")
    return root / "report"


@pytest.mark.embedded
def test_every_figure_in_three_formats_with_embedded_fonts(report_dir):
    for name in FIGURES:
        for fmt in ("png", "pdf", "svg"):
            assert (report_dir / f"{name}.{fmt}").stat().st_size > 1000, (name, fmt)
        ET.parse(report_dir / f"{name}.svg")  # well-formed SVG
        fonts = subprocess.run(
            [_tool("pdffonts", "poppler-utils"), str(report_dir / f"{name}.pdf")],
            capture_output=True,
            text=True,
            check=True,
        )
        rows = fonts.stdout.splitlines()[2:]  # name type encoding emb sub uni object-id
        assert rows and all(row.split()[-5] == "yes" for row in rows), fonts.stdout


@pytest.mark.embedded
def test_the_saebench_view_draws_each_architecture_with_baseline_and_intervals(report_dir):
    from matplotlib.image import imread

    image = imread(report_dir / "all_saebench_view.png")
    # TopK (two SAEs joined by L0) in the first colour; the ReLU SAE is the baseline: a dashed
    # line in the colour after the one architecture shown.
    assert marker_pixels(image, 0) > 500
    assert marker_pixels(image, 1) > 200
    assert marker_pixels(image, 2) == 0


@pytest.mark.embedded
def test_tables_markdown_latex_and_comparison(report_dir):
    text = (report_dir / "report.md").read_text()
    for eval_type_id in ("core", "absorption_first_letter", "sparse_probing", "scr", "tpp"):
        assert f"## {eval_type_id}" in text
        assert (report_dir / f"{eval_type_id}_table.tex").read_text().startswith("\\begin{tabular}")
    assert re.search(r"\| topk-16\s*\|\s*1152\s*\|\s*topk\s*\|\s*[\d.]+ \[[\d.]+, [\d.]+\]", text)
    assert "## Against relu" in text
    assert "- size preset: offline\n- SCR/TPP ablation: saebench\n" in text
    comparison = (report_dir / "comparison.csv").read_text().splitlines()
    assert comparison[0].startswith("sae_id,baseline_id,eval_type_id,metric,value,baseline_value")
    assert any(line.startswith("topk-16,relu,core,explained_variance,") for line in comparison)


@pytest.mark.embedded
def test_html_is_self_contained_and_renders_in_chromium(report_dir, tmp_path):
    from matplotlib.image import imread

    page = (report_dir / "index.html").read_text()
    assert page.index("Provenance") < page.index("<h2>core</h2>")
    for expected in ("smollm2-135m", HOOK, "builtin", "offline", "saeeval 0.", "torch"):
        assert expected in page, expected
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) >= len(FIGURES)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page
    base64.b64decode(sources[0].split(",", 1)[1], validate=True)
    # Moved away from its folder it is still whole.
    moved = tmp_path / "elsewhere.html"
    moved.write_text(page)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            _tool("chromium", "chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,9000",
            f"--screenshot={shot}",
            moved.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = imread(shot)
    assert image.shape[0] == 9000 and image.shape[1] == 1200
    # The page drew text and the figures: not blank, and the palette's colours are on screen.
    assert (image[..., :3] < 0.5).any(axis=-1).mean() > 0.005
    assert marker_pixels(image, 0) > 100
    shutil.copy(shot, report_dir / "screenshot.png")  # for a person to look at
