"""Results on disk: SAEBench's layout, atomic writes, the run manifest and readers."""

from saeeval.files import atomic_write_json, atomic_write_text
from saeeval.results.manifest import Manifest
from saeeval.results.paths import RESULT_SUFFIX, result_path
from saeeval.results.reader import read_result, read_results

__all__ = [
    "RESULT_SUFFIX",
    "Manifest",
    "atomic_write_json",
    "atomic_write_text",
    "read_result",
    "read_results",
    "result_path",
]
