"""Machine description for the benchmark record: cores, numpy's BLAS and its threads.

No host names, paths or timestamps: the record must be comparable across machines.
"""

from __future__ import annotations

import os
import platform

import numpy as np
import scipy
from threadpoolctl import threadpool_info

__all__ = ["describe_machine"]

_BLAS_KEYS = (
    "user_api",
    "internal_api",
    "version",
    "num_threads",
    "threading_layer",
    "architecture",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "blas": [{k: info.get(k) for k in _BLAS_KEYS} for info in threadpool_info()],
        "env": {
            k: os.environ[k]
            for k in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
                "MKL_NUM_THREADS",
            )
            if k in os.environ
        },
    }
