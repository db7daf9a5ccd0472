"""Benchmarks of icl-verify (issue 5): time to verdict, trainer efficiency, exact engines,
step throughput against the matmul bound, and parallel sweeps.  Run ``python -m benchmarks``.
"""
