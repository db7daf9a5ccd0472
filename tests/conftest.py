import mpmath
import pytest


@pytest.fixture(autouse=True)
def _restore_mpmath_precision():
    """No test may leave a changed global mpmath precision behind."""
    dps = mpmath.mp.dps
    yield
    mpmath.mp.dps = dps
