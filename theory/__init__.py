"""Exact mathematics for Ahn et al. (NeurIPS 2023): sympy derivations and mpmath numerics.

This package never imports :mod:`verify`; the NumPy side imports it only to evaluate
closed forms.
"""
