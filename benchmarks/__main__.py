import sys

from verify.training.kernels import prefer_wide_vectors

# the benchmarks measure the compiled step with 512-bit vectors where the CPU has them (an
# explicit opt-in, before anything loads numba: verify.training.kernels.prefer_wide_vectors)
prefer_wide_vectors()

from .runner import main  # noqa: E402

sys.exit(main())
