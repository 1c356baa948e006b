"""Several processes at once: two runs filing results into one manifest, and two processes
converting the embedded model into one cache. Both with real, concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Each writer waits until every writer has opened the manifest, so that their work overlaps: a
# manifest that one process read before another wrote would lose the other's entries.
MANIFEST_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    from saeeval.results import Manifest

    out, name, writers, entries = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    manifest = Manifest(out, log=print)
    manifest.start_run(f"writer {name}", 0, torch.device("cpu"))
    (out / f"ready-{name}").touch()
    while len(list(out.glob("ready-*"))) < writers:
        time.sleep(0.01)
    for i in range(entries):
        manifest.record_result("core", f"{name}-{i}", {"result": f"{name}-{i}.json"})
    manifest.finish_run(1.0, [])
    """
)


def test_runs_writing_into_one_folder_keep_every_entry(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    writers, entries = 3, 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MANIFEST_WRITER, str(out), f"w{n}", str(writers), str(entries)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    expected = {f"core/w{n}-{i}" for n in range(writers) for i in range(entries)}
    assert set(manifest["results"]) == expected
    runs = manifest["runs"]
    assert sorted(run["command"] for run in runs) == [f"writer w{n}" for n in range(writers)]
    assert all(run["wall_time_s"] == 1.0 for run in runs)  # each run finished its own entry
    assert not list(out.glob("*.tmp"))


# Counts the conversions it does: the lock must let exactly one of the processes convert.
CONVERTER = textwrap.dedent(
    """
    import saeeval.models.embedded as embedded

    convert = embedded._convert

    def counted(source, target):
        print("converting", flush=True)
        return convert(source, target)

    embedded._convert = counted
    folder, fingerprint = embedded.ensure_converted()
    print(folder, fingerprint, flush=True)
    """
)


@pytest.mark.embedded
def test_two_processes_convert_the_embedded_model_once(tmp_path, embedded_model):
    env = {**os.environ, "SAEEVAL_CACHE_DIR": str(tmp_path / "fresh-cache")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONVERTER],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outputs.append(out.splitlines())
    assert sum(lines.count("converting") for lines in outputs) == 1
    finals = {lines[-1] for lines in outputs}
    assert len(finals) == 1  # the same folder and fingerprint for both
    folder, fingerprint = finals.pop().split()
    assert fingerprint.startswith("gguf-sha256:")
    assert embedded_model.fingerprint.startswith(fingerprint)  # the model's adds its dtype
    assert (Path(folder) / "model.safetensors").stat().st_size > 500e6
    assert not [p for p in Path(folder).parent.iterdir() if p.name.startswith(".convert-")]
