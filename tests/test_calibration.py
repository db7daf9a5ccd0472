"""The calibration sweep (benchmarks.calibration) on real executors: a Dask
``distributed.LocalCluster`` (the README promises Dask) and a process pool.  Two tiny
settings (d = 2, n = 4, --quick), one per executor: the sweep's plumbing and records, not its
statistics."""

from concurrent.futures import ProcessPoolExecutor

import pytest

from benchmarks.calibration import markdown, run_calibration, settings, summarise
from benchmarks.runner import CALIBRATION_TINY
from benchmarks.runner import run_calibration as runner_calibration


def _grid(claims=("1", "5")):
    grid = settings({c: 1 for c in claims}, seed=0)
    for g in grid:
        g["options"].update(d=2, n=4)
        if "spectrum" in g["options"]:
            g["options"]["spectrum"] = g["options"]["spectrum"][:2] + [1.0] * (
                2 - len(g["options"]["spectrum"])
            )
    return grid


def _assert_rows(res, claims=("1", "5")):
    rows = res["rows"]
    assert [r["claim"] for r in rows] == list(claims)
    for r in rows:
        assert r["status"] in ("passed", "failed", "inconclusive")
        assert r["resolution"] > 0 and r["controls"] >= 5 and r["near_miss"]
        assert r["worst_margin"] is not None
    s = res["summary"]
    assert set(s) == set(claims) and all(v["settings"] == 1 for v in s.values())
    assert markdown(res).startswith("# Calibration sweep")


def test_grid_is_reproducible_and_covers_the_ranges():
    g = settings(seed=0)
    assert g == settings(seed=0) and len(g) >= 200
    ds = {x["options"]["d"] for x in g}
    ns = [x["options"]["n"] for x in g]
    assert ds == set(range(1, 7)) and min(ns) >= 2 and max(ns) <= 100
    assert all(x["options"]["n"] >= x["options"]["d"] + 1 for x in g)
    one = [x["options"] for x in g if x["claim"] == "1"]
    assert {o["prior"] for o in one} == {"identity", "inverse"} and any(o["noise"] > 0 for o in one)


@pytest.mark.slow  # fresh worker processes re-derive the sympy steps
def test_small_sweep_on_a_process_pool():
    # one claim each (suite budget): claim 5 here, claim 1 on the Dask cluster below
    with ProcessPoolExecutor(max_workers=1) as ex:
        _assert_rows(run_calibration(_grid(("5",)), executor=ex), ("5",))


@pytest.mark.slow  # as above, plus the cluster's start-up
def test_small_sweep_on_a_dask_local_cluster():
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        _assert_rows(run_calibration(_grid(("1",)), executor=client.get_executor()), ("1",))


def test_summary_counts_false_failures_and_near_misses_per_n():
    rows = [
        {
            "claim": "1",
            "options": {"n": 4},
            "status": "failed",
            "worst_margin": 1.3,
            "worst_check": "x",
            "resolution": 0.1,
            "near_miss": [{"rejected": True}, {"rejected": False}],
        },
        {
            "claim": "1",
            "options": {"n": 60},
            "status": "passed",
            "worst_margin": 0.2,
            "worst_check": "y",
            "resolution": 0.01,
            "near_miss": [{"rejected": True}, {"rejected": True}],
        },
    ]
    s = summarise(rows)["1"]
    assert s["false_failures"] == 1 and s["worst_margin"] == 1.3 and s["worst_margin_check"] == "x"
    assert s["near_miss_by_n"]["2-5"] == {"rejected": 1, "of": 2, "rate": 0.5}
    assert s["near_miss_by_n"]["51-100"]["rate"] == 1.0


def test_runner_tiny_calibration_config_is_small():
    assert sum(CALIBRATION_TINY["counts"].values()) == 2 and callable(runner_calibration)


def test_claim4_joins_the_grid_without_moving_the_other_claims():
    from benchmarks.calibration import CLAIM4_MAX_N, COUNTS, claim4_settings

    full = settings(seed=0)
    others = settings({k: v for k, v in COUNTS.items() if k != "4"}, seed=0)
    assert [g for g in full if g["claim"] != "4"] == others
    four = [g["options"] for g in full if g["claim"] == "4"]
    assert len(four) >= 40 and four == [g["options"] for g in claim4_settings(len(four), 0)]
    assert {o["d"] for o in four} == set(range(1, 7)) and {o["layers"] for o in four} == {2, 3}
    assert all(o["d"] + 1 <= o["n"] <= CLAIM4_MAX_N and len(o["spectrum"]) == o["d"] for o in four)
