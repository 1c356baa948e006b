"""Sweeps and many-SAE runs as work units on an executor: in this process, on Ray, on SLURM.

One driver (`driver.py`) plans the units, reads the result files to tell what is finished and
submits the rest; the executors (`executors.py`) only run units. A unit (`units.py`) calls the
same library functions as a local run, so every executor gives the same numbers.
"""

from saeeval.distributed.executors import EXECUTORS, Executor, LocalExecutor, make_executor

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "make_executor"]
