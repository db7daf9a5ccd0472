import mpmath
import pytest


@pytest.fixture(autouse=True)
def _restore_mpmath_precision():
    """No test may leave a changed global mpmath precision behind."""
    dps = mpmath.mp.dps
    yield
    mpmath.mp.dps = dps


@pytest.fixture(autouse=True, scope="session")
def _private_search_cache(tmp_path_factory):
    """On-demand critical-point searches (verify.critical_sets.search_table) write to a
    temporary cache, never to the user's."""
    import os

    old = os.environ.get("ICL_VERIFY_CACHE")
    os.environ["ICL_VERIFY_CACHE"] = str(tmp_path_factory.mktemp("icl-verify-cache"))
    yield
    if old is None:
        os.environ.pop("ICL_VERIFY_CACHE", None)
    else:
        os.environ["ICL_VERIFY_CACHE"] = old
