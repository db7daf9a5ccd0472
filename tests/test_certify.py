"""Certificates (theory/certify.py) and the exact real solver (theory/polysys.py) can fail."""

from __future__ import annotations

import mpmath
import pytest
from flint import arb_mat, fmpq, fmpq_mpoly_ctx

from theory.certify import (
    MpolyEvaluator,
    eigenvalue_bounds,
    inertia_kind,
    krawczyk,
    to_fmpq,
)
from theory.critical import certified_critical_points, certify_point
from theory.polysys import solve_real

CTX1 = fmpq_mpoly_ctx.get(("x",), "lex")
(X,) = CTX1.gens()


def _kraw(poly, center, radius):
    F = MpolyEvaluator([poly])
    J = MpolyEvaluator([poly.derivative("x")])
    return krawczyk(F, J, [center], radius)[0]


def test_krawczyk_certifies_the_single_root_of_x2_minus_2():
    cert = _kraw(X**2 - 2, mpmath.sqrt(2), 1e-10)
    assert cert.certified and cert.enclosure_radius < 1e-10


def test_krawczyk_fails_on_a_box_with_two_zeros():
    # x^2 - 1e-6 has the zeros +-1e-3, both inside [-0.01, 0.01]: uniqueness must not be claimed.
    cert = _kraw(X**2 - fmpq(1, 10**6), 0, 0.01)
    assert not cert.certified


def test_krawczyk_fails_on_a_box_without_zeros():
    assert not _kraw(X**2 + 1, 0, 0.1).certified
    assert not _kraw(X**2 - 2, mpmath.mpf("1.5"), 0.01).certified  # sqrt 2 = 1.414 lies outside


def test_eigenvalue_bounds_handle_repeated_eigenvalues_and_refuse_a_zero():
    b = eigenvalue_bounds(arb_mat([[2, 0, 0], [0, 2, 0], [0, 0, -1]]))
    assert [s for *_, s in b] == [-1, 1, 1] and inertia_kind(b) == "saddle"
    assert (
        inertia_kind(eigenvalue_bounds(arb_mat([[1, 1], [1, 1]]))) == "undetermined"
    )  # eigenvalue 0


def test_to_fmpq_is_exact_and_keeps_signs():
    assert to_fmpq(mpmath.mpf(-0.375)) == fmpq(-3, 8) and to_fmpq("0.5") == fmpq(1, 2)
    with pytest.raises(ValueError, match="finite"):
        to_fmpq(mpmath.inf)


def test_solve_real_finds_every_real_solution_and_refuses_a_curve():
    c = fmpq_mpoly_ctx.get(("x", "y"), "lex")
    x, y = c.gens()
    sol = solve_real([x**2 + y**2 - 1, x - y**3])
    assert sol.complete and len(sol.solutions) == 2  # the curves meet twice (odd symmetry)
    with pytest.raises(ValueError, match="vanishes identically"):
        solve_real([x * y - 1, 2 * x * y - 2])  # a whole curve of solutions


def test_a_point_off_the_critical_set_fails_certification():
    # The global minimiser of family (8), L = 2, moved by 1e-6 and NOT re-polished.
    best = certified_critical_points("8", 2, 20, 5).points[0]
    moved = [x + mpmath.mpf("1e-6") for x in best.a]
    res = certify_point("8", 2, 20, 5, moved, polish=False)
    assert not res["certified"] and not res["certificate"]["existence_uniqueness"]
    # positive control: the same start, polished by Newton, is certified
    assert certify_point("8", 2, 20, 5, moved)["certified"]


def test_records_are_strict_json_and_flat_rows():
    import json

    cs = certified_critical_points("11", 2, 20, 5)
    text = json.dumps(cs.closed_form(), allow_nan=False)  # no inf / nan anywhere
    assert '"complete": true' in text
    rows = cs.to_rows()
    assert len(rows) == 7 and all(
        isinstance(v, (str, bool, float, int, type(None))) for r in rows for v in r.values()
    )
    # an uncertified point's record is strict JSON too
    best = cs.points[0]
    res = certify_point(
        "11",
        2,
        20,
        5,
        [x + mpmath.mpf("1e-6") for x in list(best.a) + list(best.b[:1])],
        polish=False,
    )
    json.dumps(res["certificate"], allow_nan=False)
