"""Structured values (a verdict's closed form, Sigma) as GFM tables with a stated precision.

Rendering is generic, so a field added to a verdict renders without a change here:

* a numeric matrix -> a table of its entries at a precision tied to its largest entry
  (entries that round to zero print as ``0``; exact zeros and ~1e-46 residues look alike);
* a stack of matrices (one per layer) -> one matrix table per layer;
* a list of records (dicts) -> one table, a row per record, a column per field (nested
  dicts become ``field.key`` columns, equal-length numeric lists become ``field_0, field_1, ...``);
* everything else (numbers, strings, vectors, small dicts) -> one ``quantity | value`` table.

Numbers print at fixed significant digits (stated under each table); nothing prints a
Python ``repr``.
"""

from __future__ import annotations

import math

import numpy as np

from ..markdown import Markup, code_span, escape_text, fmt_number, table

__all__ = [
    "MATRIX_DIGITS",
    "RECORD_DIGITS",
    "SCALAR_DIGITS",
    "critical_points_table",
    "matrix_table",
    "records_table",
    "value_tables",
]

#: Significant digits of a number in a ``quantity | value`` table.
SCALAR_DIGITS = 10
#: Significant digits of a number in a table of records (critical points, controls).
RECORD_DIGITS = 6
#: Significant digits of a matrix's largest entry; the other entries share its decimal places.
MATRIX_DIGITS = 4


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _numeric_array(v):
    """``v`` as a float array if it is a (nested) list/array of plain numbers, else None."""
    if isinstance(v, (str, dict)) or not isinstance(v, (list, tuple, np.ndarray)):
        return None
    try:
        arr = np.asarray(v)
    except ValueError:  # ragged
        return None
    return arr.astype(float) if arr.dtype.kind in "fiu" and arr.size else None


def _is_records(v) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(r, dict) for r in v)


def _inline(v, digits: int) -> str:
    """A value as plain text: numbers at ``digits`` significant digits, no brackets or quotes."""
    if v is None:
        return "none"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if _is_number(v):
        return str(int(v)) if isinstance(v, (int, np.integer)) else fmt_number(v, digits)
    if isinstance(v, dict):
        return "; ".join(f"{k} = {_inline(x, digits)}" for k, x in v.items())
    if isinstance(v, (list, tuple, np.ndarray)):
        sep = "; " if any(isinstance(x, (dict, list, tuple, np.ndarray)) for x in v) else ", "
        return sep.join(_inline(x, digits) for x in v)
    return str(v)


def matrix_table(M, digits: int = MATRIX_DIGITS) -> list:
    """Lines of a table of the matrix ``M`` (rows and columns numbered from 1) and its precision.

    Every entry is rounded to the decimal place of the ``digits``-th significant digit of the
    largest entry; entries that round to zero print as ``0``.
    """
    M = np.atleast_2d(np.asarray(M, dtype=float))
    finite = M[np.isfinite(M)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    if scale == 0.0:
        cells = [[_inline(float(v), digits) if v else "0" for v in row] for row in M]
        note = "All entries are exactly 0." if np.all(M == 0) else "Entries as computed."
    else:
        e = math.floor(math.log10(scale))
        quantum = 10.0 ** (e - digits + 1)  # the last digit kept
        fixed = -3 <= e < 5
        decimals = max(0, digits - 1 - e)

        def cell(v):
            if not math.isfinite(v):
                return str(v)
            r = round(v / quantum) * quantum
            if r == 0:
                return "0"
            return f"{r:.{decimals}f}" if fixed else f"{r:.{digits - 1}e}"

        cells = [[cell(float(v)) for v in row] for row in M]
        unit = f"{decimals} decimal places" if fixed else f"multiples of {quantum:.0e}"
        note = (
            f"Entries rounded to {unit} ({digits} significant digits of the largest entry, "
            f"{fmt_number(scale, digits)}); entries smaller than {0.5 * quantum:.0e} in size are shown as 0."
        )
    headers = [""] + [str(j) for j in range(1, M.shape[1] + 1)]
    rows = [[Markup(f"**{i}**")] + r for i, r in enumerate(cells, 1)]
    return table(headers, rows, align=[None] + ["right"] * M.shape[1]) + ["", note]


def _flatten(record: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in record.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


def records_table(records, digits: int = RECORD_DIGITS) -> list:
    """Lines of a table with one row per record (dict) and one column per field."""
    flat = [_flatten(r) for r in records]
    keys = list(dict.fromkeys(k for r in flat for k in r))
    columns = []  # (header, getter)
    for k in keys:
        vals = [r.get(k) for r in flat]
        arrs = [_numeric_array(v) for v in vals if v is not None]
        lengths = {a.shape for a in arrs if a is not None}
        if arrs and all(a is not None and a.ndim == 1 for a in arrs) and len(lengths) == 1:
            for i in range(next(iter(lengths))[0]):
                columns.append(
                    (f"{k}_{i}", lambda r, k=k, i=i: None if r.get(k) is None else r[k][i])
                )
        else:
            columns.append((k, lambda r, k=k: r.get(k)))
    hidden = max(0, len(columns) - MAX_COLUMNS)
    columns = columns[:MAX_COLUMNS]
    rows = [
        [str(n)] + ["" if get(r) is None else _inline(get(r), digits) for _, get in columns]
        for n, r in enumerate(flat, 1)
    ]
    return table(["#"] + [h for h, _ in columns], rows) + [
        "",
        (
            f"Floating-point numbers to {digits} significant digits; decimal strings as computed; "
            "an empty cell: the record has no such field."
        )
        + (f" {hidden} more fields per record are in the JSON records." if hidden else ""),
    ]


#: Most columns a records table shows; the other fields stay in the JSON records.
MAX_COLUMNS = 10


def _is_critical_points(v) -> bool:
    return _is_records(v) and all({"a", "kind", "loss_float"} <= set(r) for r in v)


def _vector(v, digits: int = RECORD_DIGITS) -> str:
    return ", ".join(fmt_number(float(x), digits) for x in v)


def critical_points_table(records) -> list:
    """Certified critical points, one row each: step sizes, phi, kind, certificate radius, method
    (every other field, e.g. 40-digit values and eigenvalue bounds, is in the JSON records)."""
    has_b = any(r.get("family") == "11" for r in records)
    rows = []
    for i, r in enumerate(records, 1):
        cert = r.get("certificate") or {}
        radius = cert.get("box_radius")
        row = [str(i), _vector(r["a"])]
        if has_b:
            row.append(_vector(r.get("b", [])[:-1]))
        row += [
            fmt_number(float(r["loss_float"]), SCALAR_DIGITS),
            str(r["kind"]),
            "" if radius is None else _inline(radius, 2),
            str(cert.get("method") or ""),
            "yes" if r.get("is_global_minimum_on_S") else "",
        ]
        rows.append(row)
    heads = ["#", "a_l"] + (["b_l (l < L-1)"] if has_b else [])
    heads += ["phi", "kind", "certificate radius", "method", "global minimum on S"]
    return table(heads, rows) + [
        "",
        (
            f"Step sizes to {RECORD_DIGITS} significant digits, phi to {SCALAR_DIGITS}; the full records "
            "(40-digit values, certificates, Hessian bounds, provenance) are in the JSON file linked above."
        ),
    ]


#: What a verdict's closed-form field is, in words (its key is shown beside, as in the JSON).
LABELS = {
    "A0": "closed form A_0",
    "A1": "closed form A_1",
    "Q0_top_left": "top-left block of Q_0",
    "gamma_inverse_eq6": "Gamma^-1 of eq. (6)",
    "preconditioner": "the tested optimum (negated top-left block of Q_0)",
    "candidate": "the candidate under test",
    "critical_point_orbits": "critical points with their layer permutations (Lemma 4)",
    "critical_points": "critical points of phi_L on S",
    "proof_steps": "steps of the completeness proof",
    "complete": "list proved complete",
    "coverage": "what the list covers",
    "dist_identity": "Dist(A_l, I) of the minimiser found",
    "equal_step_saddle": "equal-step saddle",
    "escaping_sequences": "sequences escaping to infinity",
    "found_loss": "lowest loss found by the search",
    "general_search": "search over general (non-symmetric) A_l",
    "global_minimum_proved": "global minimum on S proved",
    "hessian_min_eigenvalue": "smallest Hessian eigenvalue at the minimiser",
    "layer_order_counts": "starts ending in each layer order",
    "offdiag_ratio": "off-diagonal / total (Frobenius) at the minimiser",
    "optimal_loss": "exact loss at the optimum",
    "plain_trained_step_sizes": "step sizes trained on plain samples",
    "trained_step_sizes_mean": "mean trained step sizes",
    "restricted_a_star": "step sizes a* of the restricted optimum (40 digits)",
    "restricted_a_star_float": "step sizes a* of the restricted optimum",
    "restricted_minimum": "restricted minimum phi(a*) (40 digits)",
    "restricted_minimum_exact": "restricted minimum phi(a*), exact",
    "starts": "search starts",
    "starts_reaching_minimum": "starts reaching the minimum",
    "list_source": "how the list was obtained",
}


def label(name: str) -> str:
    """``name`` (a dotted key path) in words, with the key itself for the JSON reader."""
    parts = name.split(".")
    words = [LABELS.get(p, "") for p in parts]
    if not any(words):
        return code_span(name)
    text = ": ".join(w or p.replace("_", " ") for w, p in zip(words, parts))
    return f"{escape_text(text)} ({code_span(name)})"


def _split(value, name: str, scalars: list, blocks: list) -> None:
    """Sort ``value`` into rows of the quantity table and separate (matrix, records) blocks."""
    arr = _numeric_array(value)
    if arr is not None and arr.ndim == 2:
        blocks.append(("Matrix", name, matrix_table(arr)))
    elif arr is not None and arr.ndim == 3:
        for i, M in enumerate(arr):
            blocks.append(("Matrix", f"{name}[{i}]", matrix_table(M)))
    elif _is_critical_points(value):
        blocks.append(
            (
                f"{len(value)} certified",
                name,
                critical_points_table(value),
            )
        )
    elif _is_records(value):
        blocks.append(
            (
                f"{len(value)} {'record' if len(value) == 1 else 'records'} of",
                name,
                records_table(value),
            )
        )
    elif isinstance(value, dict) and value:
        for k, v in value.items():
            _split(v, f"{name}.{k}", scalars, blocks)
    else:
        scalars.append((Markup(label(name)), _inline(value, SCALAR_DIGITS)))


def value_tables(values: dict) -> list:
    """Lines rendering the mapping ``values`` (name -> value) as tables (see the module doc),
    in the mapping's order: consecutive plain values share one ``quantity | value`` table."""
    out, scalars = [], []

    def flush():
        if scalars:
            out.extend(
                table(["quantity", "value"], scalars)
                + [
                    "",
                    f"Floating-point numbers to {SCALAR_DIGITS} significant digits; decimal strings as computed.",
                    "",
                ]
            )
            scalars.clear()

    for k, v in values.items():
        blocks = []
        _split(v, str(k), scalars, blocks)
        if blocks:
            flush()
        for kind, name, lines in blocks:
            out += [f"{kind} {label(name)}:", ""] + lines + [""]
    flush()
    return out
