"""The wheel installs one top-level package, `saeeval`, with trainers/ and reports/ inside it.

The repository keeps `trainers/` and `reports/` beside `saeeval/`; `pyproject.toml` maps them to
`saeeval.trainers` and `saeeval.reports`. These tests build the real wheel from the checkout and
install it into a fresh virtual environment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = {"saeeval": "saeeval", "trainers": "saeeval/trainers", "reports": "saeeval/reports"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of what the build reads, so no build/ folder of an earlier build leaks in.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in SOURCE_ROOTS:
        shutil.copytree(
            REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("saeeval-*.whl")
    return path


def _expected_files() -> set[str]:
    """Every source and package-data file of the checkout, named as it must sit in the wheel."""
    expected = set()
    for folder, installed in SOURCE_ROOTS.items():
        for path in (REPO / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            relative = path.relative_to(REPO / folder)
            if folder == "saeeval" and relative.parts[0] in ("trainers", "reports"):
                continue
            expected.add(f"{installed}/{relative.as_posix()}")
    return expected


def test_wheel_holds_only_the_saeeval_namespace_and_every_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"saeeval"}
    missing = _expected_files() - names
    assert not missing, f"files of the checkout missing from the wheel: {sorted(missing)}"


def test_every_package_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for folder, installed in SOURCE_ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            found.add(".".join([*installed.split("/"), *relative]))
    assert found == listed


def test_fresh_venv_imports_the_namespace_and_nothing_else(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q"]
        + [str(wheel)],
        check=True,
        capture_output=True,
    )
    names = ("saeeval", "saeeval.trainers", "saeeval.reports", "trainers", "reports")
    probe = f"import importlib.util as u; print({{n: u.find_spec(n) is not None for n in {names}}})"
    out = subprocess.run(
        [str(python), "-I", "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout
    assert eval(out) == {
        "saeeval": True,
        "saeeval.trainers": True,
        "saeeval.reports": True,
        "trainers": False,
        "reports": False,
    }
