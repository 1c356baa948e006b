"""Results: SAEBench-schema records, atomic writes, the run manifest and readers."""

from saeeval.results.io import atomic_write_json, atomic_write_text
from saeeval.results.manifest import Manifest
from saeeval.results.reader import read_result, read_results
from saeeval.results.records import build_result, result_path

__all__ = [
    "Manifest",
    "atomic_write_json",
    "atomic_write_text",
    "build_result",
    "read_result",
    "read_results",
    "result_path",
]
