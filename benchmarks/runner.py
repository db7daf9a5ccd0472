"""``python -m benchmarks``: run every benchmark, print the table, write docs/benchmarks/.

Sections (each a list of JSON-ready rows): machine, verdict (time to verdict per claim),
trainers (paper protocol vs fast trainer, Theorems 1 and 3), moments (exact E tr W^k vs Wick
enumeration), critical (critical points per L), throughput (training-step prompts/s vs the
matmul bound, over d, n, L), sweep (seeds in parallel through an Executor), and targets (each
target of issue 5 with the measured figure; reported, never asserted).

Configurations: ``FULL`` (about 10 minutes on 2 cores; writes docs/benchmarks/) and ``TINY``
(seconds; used by the tests; writes to a new temporary directory, never to docs/benchmarks/).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from concurrent.futures import Executor
from pathlib import Path

from . import (
    calibration,
    critical,
    moments,
    report,
    sweep,
    throughput,
    trainers,
    verdict,
)
from .machine import describe_machine

__all__ = ["FULL", "TINY", "DOCS", "run", "write", "main", "output_dir"]

#: Where the committed results of the full run live.
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"

FULL = {
    "verdict": {"claims": None, "timeout": 180.0},  # None: every registered claim
    "trainers": {
        "theorem1": {"tol": 0.02, "max_steps": 30000, "max_seconds": 180.0, "batch": 20000},
        "theorem3": {"tol": 0.03, "max_steps": 30000, "max_seconds": 180.0, "batch": 20000},
    },
    "moments": {"engine_k": [8, 16, 24, 32], "wick_k": [2, 3, 4, 5, 6, 7], "timeout": 120.0},
    "critical": {
        "cases": [["8", L, {}] for L in (1, 2, 3, 4, 5, 6)] + [["11", L, {}] for L in (1, 2, 3)],
        "n": 20,
        "d": 5,
        "timeout": 300.0,
    },
    "throughput": {
        "batch": 20000,
        "min_seconds": 0.5,
        "matmul_size": 2048,
        "model": [
            [5, 20, 1],
            [5, 20, 2],
            [5, 20, 3],
            [2, 20, 2],
            [10, 20, 2],
            [5, 10, 2],
            [5, 40, 2],
        ],
        "family8": [[5, 20, 1], [5, 20, 3], [10, 20, 3], [5, 20, 4]],
        "paper_step": {"B": 20000, "rounds": 7, "matmul_size": 2048, "reference_rounds": 2},
    },
    "sweep": {"claim": "1", "seeds": [0, 1, 2, 3], "options": {}},
}

TINY = {
    "verdict": {"claims": ["lemma1"], "timeout": 60.0},
    "trainers": {
        "theorem1": {
            "tol": 0.2,
            "max_steps": 300,
            "max_seconds": 1.0,
            "batch": 500,
            "record_every": 50,
            "fast_start": 500,
            "fast_max": 20000,
        },
        "theorem3": {
            "tol": 0.3,
            "max_steps": 20,
            "max_seconds": 1.0,
            "batch": 200,
            "record_every": 10,
            "fast_start": 500,
            "fast_max": 4000,
        },
    },
    "moments": {"engine_k": [8], "wick_k": [2, 3, 4], "timeout": 60.0},
    "critical": {"cases": [["8", 1, {}]], "n": 20, "d": 5, "timeout": 60.0},
    "throughput": {
        "batch": 500,
        "min_seconds": 0.02,
        "matmul_size": 256,
        "model": [[3, 10, 1], [3, 10, 2]],
        "family8": [[3, 10, 2]],
        "paper_step": {
            "B": 500,
            "rounds": 2,
            "matmul_size": 256,
            "reference_rounds": 1,
            "steps_per_round": 3,
        },
    },
    "sweep": {"claim": "lemma1", "seeds": [0, 1], "options": {"quick": True}},
}

SECTIONS = ("verdict", "trainers", "moments", "critical", "throughput", "sweep")
#: Run only on request (``--only calibration``): about 15 minutes with --jobs 2; it writes its
#: own files (calibration.md, calibration.json) and leaves README.md / results.json alone.
CALIBRATION = {"counts": calibration.COUNTS, "seed": 0}
CALIBRATION_TINY = {"counts": {"1": 1, "5": 1}, "seed": 0, "options": {"d": 2, "n": 4}}


def run_calibration(cfg, jobs: int, executor: Executor | None = None, on_progress=None) -> dict:
    """The calibration sweep of :mod:`benchmarks.calibration` through an Executor."""
    grid = calibration.settings(cfg["counts"], cfg["seed"])
    for g in grid:  # the tiny configuration pins small problems
        g["options"].update({k: v for k, v in cfg.get("options", {}).items()})
        if "spectrum" in g["options"]:
            g["options"]["spectrum"] = g["options"]["spectrum"][: g["options"]["d"]] or [1.0]
    _log(f"[calibration] {len(grid)} settings")
    return calibration.run_calibration(grid, executor=executor, jobs=jobs, on_progress=on_progress)


def write_calibration(result: dict, out_dir: Path) -> None:
    """calibration.json (sorted keys) and calibration.md into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "calibration.json").write_text(
        json.dumps(result, indent=1, sort_keys=True, default=float) + "\n"
    )
    (out_dir / "calibration.md").write_text(calibration.markdown(result))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_verdict(cfg) -> list:
    claims = cfg["claims"]
    if claims is None:
        from verify.claims import CLAIMS

        claims = list(CLAIMS)
    rows = []
    for c in claims:
        _log(f"[verdict] verify-theorem {c}")
        rows.append(verdict.time_to_verdict(c, timeout=cfg["timeout"]))
    return rows


def run_trainers(cfg) -> list:
    _log("[trainers] Theorem 1: paper protocol vs fit_gd_layer")
    r1 = trainers.theorem1_race(**cfg["theorem1"])
    _log("[trainers] Theorem 3, L = 3: paper protocol vs train_family")
    r3 = trainers.theorem3_race(**cfg["theorem3"])
    return [r1, r3]


def run_moments(cfg) -> dict:
    _log("[moments] exact engine and Wick enumeration")
    engine = [moments.time_engine(k, cfg["timeout"]) for k in cfg["engine_k"]]
    wick = moments.time_wick(cfg["wick_k"])
    # Wick cost is proportional to the number of matchings: extrapolate from the largest k run.
    last = wick[-1]
    per = last["seconds"] / last["matchings"]
    for row in engine:
        m = moments.double_factorial(2 * row["k"] - 1)
        row["wick_matchings"] = m
        row["wick_seconds_extrapolated"] = per * m
    return {"engine": engine, "wick": wick}


def run_critical(cfg) -> list:
    rows = []
    for family, L, kw in cfg["cases"]:
        _log(f"[critical] family ({family}), L = {L}")
        rows.append(
            critical.time_critical_points(family, L, cfg["n"], cfg["d"], cfg["timeout"], **kw)
        )
    return rows


def run_throughput(cfg) -> dict:
    _log("[throughput] matmul bound and training steps")
    size = cfg["matmul_size"]
    peak = throughput.matmul_gflops(size)
    peak1 = throughput.matmul_gflops(size, threads=1)
    B, t = cfg["batch"], cfg["min_seconds"]
    rows = [throughput.time_model_step(d, n, L, B, peak, t) for d, n, L in cfg["model"]]
    rows += [throughput.time_family8_step(d, n, L, B, peak, t) for d, n, L in cfg["family8"]]
    out = {
        "matmul_gflops": peak,
        "matmul_gflops_1_thread": peak1,
        "matmul_size": size,
        "rows": rows,
    }
    if "paper_step" in cfg:
        _log(
            "[throughput] the paper protocol's step (verify.training.kernels) vs the GPU figure and the matmul bound"
        )
        out["paper_step"] = throughput.paper_step(**cfg["paper_step"])
    return out


def run_sweep(cfg, jobs: int, executor: Executor | None) -> dict:
    _log(f"[sweep] claim {cfg['claim']}, {len(cfg['seeds'])} seeds")
    return sweep.run_sweep(cfg["claim"], cfg["seeds"], cfg["options"], executor=executor, jobs=jobs)


def run(
    config: dict = FULL,
    jobs: int | None = None,
    executor: Executor | None = None,
    sections=SECTIONS,
) -> dict:
    """Run the selected sections of ``config``; returns the results dict (see module docstring).

    ``jobs``/``executor`` drive the sweep section (``executor`` overrides ``jobs``).
    """
    jobs = jobs or os.cpu_count() or 1
    out = {"machine": describe_machine(), "config": config}
    runners = {
        "verdict": run_verdict,
        "trainers": run_trainers,
        "moments": run_moments,
        "critical": run_critical,
        "throughput": run_throughput,
        "sweep": lambda cfg: run_sweep(cfg, jobs, executor),
    }
    for name in sections:
        out[name] = runners[name](config[name])
    out["targets"] = report.targets(out)
    return out


def write(results: dict, out_dir: Path) -> None:
    """results.json (sorted keys) and README.md (tables) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=1, sort_keys=True, default=float) + "\n"
    )
    (out_dir / "README.md").write_text(report.markdown(results))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument(
        "--jobs", type=int, default=None, help="parallel workers for the sweep (default: cores)"
    )
    p.add_argument(
        "--tiny", action="store_true", help="the seconds-long configuration of the tests"
    )
    p.add_argument(
        "--only",
        nargs="+",
        choices=(*SECTIONS, "calibration"),
        default=list(SECTIONS),
        help="sections to run (calibration only on request)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output directory (default {DOCS}; with --tiny a new temporary directory)",
    )
    a = p.parse_args(argv)
    if a.jobs is not None and a.jobs < 1:
        p.error(f"--jobs must be >= 1; got {a.jobs}")
    out = output_dir(a.out, a.tiny)
    if "calibration" in a.only:

        def checkpoint(partial):  # a long sweep leaves usable (marked partial) output
            write_calibration(partial, out)
            _log(f"[calibration] {len(partial['rows'])}/{partial['planned']} settings done")

        cal = run_calibration(
            CALIBRATION_TINY if a.tiny else CALIBRATION,
            a.jobs or os.cpu_count() or 1,
            on_progress=checkpoint,
        )
        write_calibration(cal, out)
        print(calibration.markdown(cal))
    sections = [x for x in a.only if x != "calibration"]
    if sections:
        results = run(TINY if a.tiny else FULL, jobs=a.jobs, sections=sections)
        write(results, out)
        print(report.summary_table(results))
    print(f"results written to {out}", file=sys.stderr)
    return 0


def output_dir(out: Path | None, tiny: bool) -> Path:
    """Where results go: ``out``, else docs/benchmarks/ for the full run and a fresh temporary
    directory for ``--tiny``, whose seconds-long numbers must never replace the committed ones."""
    if tiny:
        if out is not None and out.resolve() == DOCS.resolve():
            raise SystemExit(
                f"python -m benchmarks: error: --tiny results are not benchmarks; they are "
                f"never written to {DOCS} (choose another --out)"
            )
        return out if out is not None else Path(tempfile.mkdtemp(prefix="benchmarks-tiny-"))
    return out if out is not None else DOCS
