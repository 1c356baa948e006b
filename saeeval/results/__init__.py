"""Results on disk: SAEBench's layout, atomic writes, the saeeval stamp, the run manifest and
readers."""

from saeeval.files import atomic_write_json, atomic_write_text
from saeeval.results.manifest import Manifest
from saeeval.results.paths import RESULT_SUFFIX, result_path
from saeeval.results.reader import read_result, read_results
from saeeval.results.stamp import STAMP_KEY, mismatch, non_finite_metrics, write_result
from saeeval.results.table import load, load_results, read_final_info

__all__ = [
    "RESULT_SUFFIX",
    "STAMP_KEY",
    "Manifest",
    "atomic_write_json",
    "atomic_write_text",
    "load",
    "load_results",
    "mismatch",
    "non_finite_metrics",
    "read_final_info",
    "read_result",
    "read_results",
    "result_path",
    "write_result",
]
