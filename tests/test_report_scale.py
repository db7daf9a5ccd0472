"""``--scale``: the paper's protocol behind the report figures, and the figures' own honesty
(a run that missed its target says so; Fig. 7's population-loss estimator is checked)."""

import numpy as np
import pytest

from verify.cli import main
from verify.experiments import runs as ex
from verify.experiments.gallery import _unconverged
from verify.experiments.protocol import PAPER_PROTOCOLS, Budget
from verify.families import FAMILY8
from verify.report import write_report
from verify.sampling import PAPER_SPECTRUM, make_sigma


def test_paper_scale_runs_each_figure_with_its_notebooks_protocol():
    b = Budget.paper()
    # the official notebooks' values (../shared/PAPER.md's table), not computed here
    f12, f35 = b.protocol("figs1-2", 1e-2), b.protocol("figs3-5", 1e-2)
    assert (f12.steps, f12.batch, f12.lr, f12.halve_every) == (30000, 20000, 0.02, 2000)
    assert (f35.steps, f35.batch, f35.lr, f35.halve_every) == (100000, 20000, 0.1, 4000)
    assert f35.betas == (0.99, 0.9) and f35.clip == 0.01 and f35.init_std == 1e-4
    assert PAPER_PROTOCOLS["fig6"].betas == (0.99, 0.99) and PAPER_PROTOCOLS["fig7"].steps == 20000
    assert b.scaled(4, 2, 1.6) is b  # the protocols are fixed at the paper's scale
    small = Budget().protocol("figs3-5", 1e-2)  # CPU scale: the budget's sizes, the given init
    assert (small.steps, small.batch, small.init_std) == (1500, 1000, 1e-2) and not small.notebook
    assert "rotation demonstration-Adam" in b.describe(f35, False)


def test_scale_without_report_exits_2_with_one_line(capsys):
    assert main(["1", "--scale", "paper"]) == 2
    err = capsys.readouterr().err
    assert "--scale applies only with --report" in err and err.count("\n") == 1


def test_unknown_scale_is_refused(tmp_path):
    with pytest.raises(ValueError, match="scale must be"):
        write_report("lemma1", tmp_path, scale="huge")


def test_unconverged_note_appears_exactly_when_the_gap_exceeds_the_tolerance():
    assert _unconverged("x", 0.049, 0.05) == ""
    assert "not converged: x" in _unconverged("x", 0.051, 0.05)


def test_population_estimate_reproduces_the_exact_loss_at_the_s_minimiser_and_rejects_a_wrong_point():
    """The Fig. 7 estimator: unbiased at a point whose population loss is known exactly
    (theory.critical), and far from that value at a different point (a check that can fail)."""
    rng = np.random.default_rng(3)
    d, n, L = 5, 20, 2
    sigma = make_sigma(PAPER_SPECTRUM, rng)
    best = FAMILY8.critical_points(L, n, d)[0]
    Sinv = np.linalg.inv(sigma)
    star = np.concatenate([float(a) * Sinv.ravel() for a in best.a])
    est, se = ex.population_loss("gd", L, n, sigma, star, rng, 20000, chunk=4000)
    assert abs(est - float(best.loss)) <= 4 * se  # 4 standard errors: a 6e-5 false-alarm rate
    wrong, wse = ex.population_loss("gd", L, n, sigma, 0.5 * star, rng, 20000, chunk=4000)
    assert abs(wrong - float(best.loss)) > 4 * max(se, wse)


def test_a_notebook_protocol_drives_the_adam_run_deterministically():
    """The paper-scale path (a notebook's protocol, its init N(0, 1e-4^2)) on a short run: the same
    seed gives the same run, bit for bit, and the protocol's schedule is the one used."""
    from dataclasses import replace

    from verify.families import FAMILY11

    short = replace(PAPER_PROTOCOLS["figs3-5"], steps=40, batch=300, halve_every=10)
    sigma = make_sigma(PAPER_SPECTRUM, np.random.default_rng(0))
    b = replace(Budget.quick(), record_every=10, test_prompts=500)

    def run():
        rng = np.random.default_rng(7)
        return ex.trajectory(FAMILY11, 3, 20, sigma, np.linalg.inv(sigma), rng, b, short, False)

    one, two = run(), run()
    assert one.steps == [0, 10, 20, 30, 40] and one.loss == two.loss
    assert np.array_equal(one.theta, two.theta)
    assert np.max(np.abs(one.mats[0]["A"][0])) < 1e-3  # the notebook's N(0, 1e-4^2) start


def test_a_curve_above_the_optimum_says_where_it_settled_and_its_step_size():
    from verify.experiments.gallery import _stall_sentence
    from verify.experiments.runs import Trajectory

    p = PAPER_PROTOCOLS["figs1-2"]
    tr = Trajectory(steps=[0, 2000, 4000, 6000], loss=[5.0, 2.0, 1.01, 1.0])
    text = _stall_sentence(tr, p, 0.5, "its replicas")
    assert "from step 4000 on" in text and "0.005" in text and "its replicas" in text
    assert _stall_sentence(tr, p, 0.99, "r") == ""  # within 5 % of the optimum: nothing to explain
