"""Markdown that a CommonMark + GFM renderer (GitHub's rules) shows as written.

The one place that escapes text and builds tables, shared by the CLI's ``--format markdown``
(:meth:`verify.checks.Verdict.to_markdown`) and the reports (:mod:`verify.report.render`):

* :func:`escape_text` escapes what a renderer would read as markup (emphasis, HTML, inline
  math, table pipes, code);
* :func:`escape_cell` also folds newlines, so a value cannot end its table row;
* :func:`table` builds a GFM table and refuses a row whose cell count differs from the
  header's (GFM silently drops extra cells and pads missing ones);
* :func:`fmt_number` prints a float at a stated number of significant digits.

Cells that are deliberately marked up (``**FAILED**``, a link) are passed as :class:`Markup`:
only their table-breaking characters (``|``, newlines) are escaped.
"""

from __future__ import annotations

import math
import re

__all__ = ["Markup", "code_span", "escape_cell", "escape_text", "fmt_number", "table"]


class Markup(str):
    """Text that is already Markdown (emphasis, links): a table escapes only its pipes."""


#: Characters escaped everywhere: backslash, emphasis, HTML, table pipes, code, inline math.
_ALWAYS = re.compile(r"([\\*<>|`$])")
#: ``_`` can open or close emphasis only at a word boundary (``A_l`` is safe, ``_x`` is not).
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9{])")
#: ``~`` strikes through (GitHub accepts a single tilde) only when it touches non-space text.
_TILDE = re.compile(r"~(?=\S)|(?<=\S)~")
#: ``[`` opens a link only when ``](`` or ``][`` follows; escaping every ``[`` would make
#: the paper's block matrices ``[[0,0],[0,1]]`` unreadable in the source.
_LINK = re.compile(r"\[(?=[^\[\]]*\][\[(])")


def escape_text(s) -> str:
    """Plain text safe as Markdown inline content (a paragraph, a list item, a cell)."""
    s = _ALWAYS.sub(r"\\\1", str(s))
    s = _UNDERSCORE.sub(r"\\_", s)
    s = _TILDE.sub(r"\\~", s)
    return _LINK.sub(r"\\[", s)


def escape_cell(s) -> str:
    """A GFM table cell: escaped text (or :class:`Markup` with its pipes escaped), one line."""
    if isinstance(s, Markup):
        s = re.sub(r"(?<!\\)\|", r"\\|", str(s))
    else:
        s = escape_text(s)
    return " ".join(s.splitlines()).strip() or " "


def code_span(s) -> str:
    """``s`` as an inline code span, fenced by more backticks than any run inside it.

    Inside a table a ``|`` must still be escaped (GFM splits cells before parsing code), so
    pass the span to :func:`table` as :class:`Markup`.
    """
    s = " ".join(str(s).splitlines())
    longest = max((len(r) for r in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return Markup(f"{fence}{pad}{s}{pad}{fence}")


def table(headers, rows, align=None) -> list:
    """Lines of a GFM table.  ``rows``: sequences of cells, each as long as ``headers``.

    ``align``: one of ``"left"``, ``"right"``, ``"center"`` or ``None`` per column.
    Raises ValueError on a row of the wrong length (a renderer would silently drop or pad).
    """
    headers = list(headers)
    if not headers:
        raise ValueError("a table needs at least one column; got no headers")
    marks = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}
    align = list(align) if align is not None else [None] * len(headers)
    if len(align) != len(headers) or any(a not in marks for a in align):
        raise ValueError(
            f"align must give one of {sorted(k for k in marks if k)} or None for each of "
            f"the {len(headers)} columns; got {align!r}"
        )
    out = [
        "| " + " | ".join(escape_cell(h) for h in headers) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(headers):
            raise ValueError(
                f"table row {i} has {len(row)} cells; the header has {len(headers)}: {row!r}"
            )
        out.append("| " + " | ".join(escape_cell(c) for c in row) + " |")
    return out


def fmt_number(x, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits: fixed point in [1e-3, 1e4), else scientific."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.{digits}g}"
    return f"{x:.{digits - 1}e}"
