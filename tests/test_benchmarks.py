"""The benchmark runner on its tiny configuration: every section runs and the JSON has the
shape docs/benchmarks/results.json promises (timings themselves are not asserted: targets are
reported, never enforced)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.moments import wick_trace_moment
from benchmarks.runner import DOCS, SECTIONS, TINY, output_dir, run, write
from theory.wishart import moment_poly


def test_wick_enumeration_equals_the_stein_recursion_for_k_up_to_5():
    for k in range(1, 6):
        wick = {key: c for key, c in wick_trace_moment(k).items()}
        exact = {tuple(int(e) for e in mon): int(c) for mon, c in moment_poly(k).terms()}
        assert wick == exact, k


def test_tiny_run_writes_json_with_every_section(tmp_path):
    # Any concurrent.futures.Executor may drive the sweep; a thread pool keeps the test light.
    with ThreadPoolExecutor(max_workers=2) as ex:
        res = run(TINY, executor=ex)
    write(res, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(SECTIONS) | {"machine", "config", "targets"} <= set(data)
    assert data["machine"]["usable_cores"] >= 1 and data["machine"]["blas"]
    assert [v["claim"] for v in data["verdict"]] == TINY["verdict"]["claims"]
    assert all(v["status"] == "passed" for v in data["verdict"])
    for t in data["trainers"]:
        for side in ("paper", "fast"):
            assert {"met", "steps", "seconds", "prompts", "final"} <= set(t[side])
        assert {"value", "lower_bound", "valid"} == set(t["ratio_seconds"])
    assert [e["k"] for e in data["moments"]["engine"]] == TINY["moments"]["engine_k"]
    assert all(w["agrees_with_engine"] for w in data["moments"]["wick"])
    assert all(c["status"] == "ok" and c["points"] >= 1 for c in data["critical"])
    rows = data["throughput"]["rows"]
    assert len(rows) == len(TINY["throughput"]["model"]) + len(TINY["throughput"]["family8"])
    assert all(r["prompts_per_second"] > 0 and r["flops_per_prompt"] > 0 for r in rows)
    step = data["throughput"]["paper_step"]
    assert {r["family"] for r in step["rows"]} == {"unconstrained", "gd", "gdpp"}
    assert all(r["ms_per_step"] > 0 and r["times_matmul_bound"] > 0 for r in step["rows"])
    assert data["sweep"]["seeds"] == TINY["sweep"]["seeds"] and data["sweep"]["all_passed"]
    assert all({"name", "target", "measured", "met"} == set(t) for t in data["targets"])
    assert (tmp_path / "README.md").read_text().startswith("# Benchmarks")


def test_tiny_results_never_go_to_the_committed_docs(tmp_path):
    assert output_dir(None, tiny=True).resolve() != DOCS.resolve()
    assert output_dir(tmp_path, tiny=True) == tmp_path and output_dir(None, tiny=False) == DOCS
    with pytest.raises(SystemExit, match="never written"):
        output_dir(DOCS, tiny=True)


def test_trainer_races_need_a_sustained_streak_not_one_lucky_fit():
    from benchmarks.trainers import _fast_race

    sizes = []

    def fit(B):
        sizes.append(B)
        return B

    lucky_once = _fast_race(
        fit, lambda B: (B == 100, {"rel_err": 0.0}), start=100, max_prompts=1600
    )
    assert not lucky_once["met"] and sizes == [100, 200, 400, 800, 1600]
    steady = _fast_race(fit, lambda B: (B >= 200, {"rel_err": 0.0}), start=100, max_prompts=10**6)
    assert steady["met"] and steady["final_sample"] == 200 and steady["prompts"] == 100 + 200
