"""Reports render right (issue 12): parsed by a CommonMark + GFM parser, as GitHub would.

Every committed report (docs/*.md), a report rendered from each claim's real verdict, and
every claim's ``--format markdown`` output is parsed by markdown-it-py (CommonMark with GFM
tables) and its structure checked: the derivation is one numbered list whose math blocks
stay inside their items, every table row has as many cells as its header, no Python repr of
a dict or list, no prose inside a math block, and every image file exists.  The checker is
shown to fail on today's broken report (tests/data/broken_report_1.md, a copy of docs/1.md
before the fix) and on a table with an unescaped ``|``.

Cost: one cheap verdict per claim (d = 2, n = 6, L = 2, --quick; about 25 CPU-seconds in
all), computed once per session.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from verify.api import _setting, verify_theorem
from verify.claims import CLAIMS, get_claim
from verify.cli import main
from verify.markdown import table
from verify.report import claim_derivations
from verify.report.render import DERIVATION_BEGIN, DERIVATION_END, render_report

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BROKEN = Path(__file__).resolve().parent / "data" / "broken_report_1.md"

#: CommonMark plus GFM tables and strikethrough: the rules GitHub renders docs/ with.
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# --- the structure checker -------------------------------------------------------------

#: Python reprs: a dict (``{'a': ``), a list of dicts or strings, a float list at full repr
#: precision (``[0.42240853392858``), numpy reprs.
_REPR = re.compile(r"\{'[^'\n]*'\s*:|\[\{|\['|\[-?\d+\.\d{9,}|\barray\(|np\.float64\(")
#: Four English words in a row (outside \text{...}) inside a math block is prose.
_TEXT_COMMAND = re.compile(r"\\(?:text|mathrm|operatorname|textrm|mbox|textbf|textit)\{[^{}]*\}")
_PROSE = re.compile(r"(?<![\\\w])[A-Za-z]{2,}[,.;:]?(?: [A-Za-z]{2,}[,.;:]?){3,}")


def _gfm_cells(line: str) -> int:
    """Cells of a GFM table row as GitHub splits it: on every ``|`` not escaped by ``\\``."""
    s = line.strip()
    cuts, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "|":
            cuts.append(i)
        i += 1
    n = len(cuts) + 1
    if cuts and cuts[0] == 0:
        n -= 1
    if cuts and cuts[-1] == len(s) - 1:
        n -= 1
    return n


def _section(tokens, title: str):
    """Indices [start, end) of the tokens under the level-2 heading ``title``."""
    start = None
    for i, t in enumerate(tokens):
        if t.type == "heading_open" and t.tag == "h2":
            if start is not None:
                return start, i
            if tokens[i + 1].content.strip() == title:
                start = i + 3
    return (start, len(tokens)) if start is not None else None


def _derivation_problems(tokens) -> list:
    """The derivation is one numbered list (numbered on across its subsections) whose items
    hold their formulas: after a subsection's list starts, only a heading may follow at the top
    level, and no list restarts its numbering."""
    span = _section(tokens, "Derivation")
    if span is None:
        return []
    out, expected, state = [], 1, "before"
    for t in tokens[span[0] : span[1]]:
        if t.level != 0 or t.type.endswith("_close") or t.type == "inline":
            if t.type == "list_item_open" and t.level == 1 and t.info:
                number = int(t.info)
                if number != expected:
                    out.append(
                        f"line {t.map[0] + 1}: derivation step {number} where {expected} was due"
                    )
                expected = number + 1
            continue
        if t.type == "heading_open":
            state = "before"
        elif t.type == "html_block" and t.content.lstrip().startswith("<!--"):
            continue  # the generated-section markers render as nothing
        elif t.type == "ordered_list_open":
            if state != "before":
                out.append(
                    f"line {t.map[0] + 1}: the derivation list restarts (at {t.attrs.get('start', 1)}) "
                    "inside a subsection: a step's blocks left its list item"
                )
            state = "list"
        elif state == "list" or state == "after":
            what = "math block" if t.type == "fence" and t.info.strip() == "math" else t.type
            out.append(
                f"line {t.map[0] + 1}: {what} outside the derivation's numbered list "
                f"(after step {expected - 1})"
            )
            state = "after"
    return out


def _table_problems(tokens, lines) -> list:
    out = []
    for t in tokens:
        if t.type != "table_open":
            continue
        start, end = t.map
        counts = [_gfm_cells(lines[i]) for i in range(start, end)]
        for i, c in zip(range(start, end), counts):
            if c != counts[0]:
                out.append(
                    f"line {i + 1}: table row has {c} cells, its header {counts[0]}: {lines[i][:80]!r}"
                )
    return out


def _inline_texts(tokens):
    for t in tokens:
        if (
            t.type == "inline"
            or t.type in ("fence", "code_block")
            and t.info.strip() not in ("math", "latex")
        ):
            yield t.map, t.content


def _images(tokens):
    for t in tokens:
        for child in t.children or ():
            if child.type == "image":
                yield t.map, child.attrs.get("src", "")


def structure_problems(text: str, base: Path | None = None) -> list:
    """Everything in ``text`` a GFM renderer would show other than intended (empty if none).

    ``base``: the directory images are resolved against (None: image files not checked).
    """
    tokens = _MD.parse(text)
    lines = text.splitlines()
    out = _derivation_problems(tokens) + _table_problems(tokens, lines)
    for t in tokens:
        if (
            t.type == "fence"
            and t.info.strip() == "math"
            and _PROSE.search(_TEXT_COMMAND.sub(" ", t.content))
        ):
            out.append(
                f"line {t.map[0] + 1}: prose inside a math block: "
                f"{_PROSE.search(_TEXT_COMMAND.sub(' ', t.content)).group(0)!r}"
            )
    for where, content in _inline_texts(tokens):
        m = _REPR.search(content)
        if m:
            out.append(
                f"line {where[0] + 1 if where else '?'}: Python repr {content[m.start() : m.start() + 40]!r}"
            )
    if base is not None:
        for where, src in _images(tokens):
            if not re.match(r"^[a-z]+://", src) and not (base / src).is_file():
                out.append(f"line {where[0] + 1}: image {src!r} does not exist in {base.name}/")
    return out


# --- the checker fails when it should ---------------------------------------------------


def test_checker_flags_the_broken_list_of_the_pre_fix_report_1():
    problems = structure_problems(BROKEN.read_text())
    assert any("restarts" in p for p in problems), problems
    assert sum("math block outside the derivation" in p for p in problems) >= 20, problems
    assert any("step 11 where" in p or "restarts (at 11)" in p for p in problems), problems


def test_checker_flags_a_table_with_an_unescaped_pipe():
    broken = "| check | value |\n|---|---|\n| max ||A_eff|| over layers | 1 |\n"
    assert any("6 cells, its header 2" in p for p in structure_problems(broken))
    fixed = "\n".join(table(["check", "value"], [("max ||A_eff|| over layers", 1)])) + "\n"
    assert structure_problems(fixed) == []


def test_checker_flags_a_dict_repr_prose_in_math_and_a_missing_image(tmp_path):
    text = (
        "- critical_points: [{'a': [0.42240853392858, 0.5], 'kind': 'minimum'}]\n\n"
        "```math\nattained at the computed critical points, so the infimum is reached\n```\n\n"
        "![heat maps](missing.png)\n"
    )
    problems = structure_problems(text, tmp_path)
    assert any("Python repr" in p for p in problems)
    assert any("prose inside a math block" in p for p in problems)
    assert any("missing.png" in p for p in problems)


def test_checker_accepts_a_long_derivation_with_two_subsections():
    from theory.derivation import Step

    class Der:
        def __init__(self, title, n):
            self.title, self.source = title, "Theorem 0"
            self.steps = tuple(
                Step(
                    f"step {i}",
                    r"\frac{1}{n} = \frac{1}{n}",
                    "exact simplification",
                    True,
                    "a remark on the step",
                )
                for i in range(n)
            )

    from verify.report.render import render_derivations

    text = render_derivations([Der("first", 4), Der("second", 9)])
    assert structure_problems(text) == []
    assert "10. **step 5**\n\n    ```math" in text  # a 4-wide marker indents its blocks by 4


# --- committed reports --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in DOCS.glob("*.md")) or ["(none)"])
def test_committed_report_renders_as_intended(name):
    path = DOCS / name
    if not path.exists():
        pytest.skip("docs/ not generated: run `verify-theorem all --report docs/`")
    assert structure_problems(path.read_text(), DOCS) == []


# --- every claim's Markdown, from a real (cheap) verdict ---------------------------------


def _options(cid: str) -> dict:
    """Cheap settings that keep every claim's code path (about 25 CPU-seconds for all claims)."""
    return {"d": 2, "n": 6, "quick": True} | (
        {"layers": 2} if "layers" in get_claim(cid).options else {}
    )


@functools.cache
def _verdict(cid: str):
    """The claim's verdict at cheap settings, negative controls on; once per session."""
    return verify_theorem(cid, controls=True, **_options(cid))


@pytest.mark.parametrize("cid", list(CLAIMS))
def test_cli_markdown_renders_as_intended(cid):
    text = _verdict(cid).render("markdown")
    assert structure_problems(text) == []
    assert "| status | check |" in text and "Verdict:" in text


@pytest.mark.parametrize("cid", list(CLAIMS))
def test_report_from_the_claims_verdict_renders_as_intended(cid):
    verdict = _verdict(cid)
    claim = get_claim(cid)
    setting = _setting(claim, _options(cid))
    text = render_report(
        claim,
        verdict,
        claim_derivations(cid, setting),
        hypotheses=claim.hypothesis_texts(),
        errata=claim.errata_for(verdict),
        figures=(),
        command=f"verify-theorem {cid}",
    )
    assert DERIVATION_BEGIN in text and DERIVATION_END in text
    assert structure_problems(text) == []
    if verdict.closed_form:
        assert (
            "## Closed form under test\n\n" in text
            and "\n| " in text.split("## Closed form under test")[1]
        )


def test_cli_prints_the_verdicts_markdown(capsys):
    assert main(["lemma1", "--quick", "--controls", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert structure_problems(out) == [] and "| negative control |" in out


# --- the shared routines ------------------------------------------------------------------


def test_closed_form_values_render_as_tables_at_a_stated_precision():
    from verify.report.tables import value_tables

    noise = 5e-46  # the size of the off-diagonal residues of claim 2's exact closed form
    closed = {
        "A0": [[0.5154, noise], [-noise, 0.5154]],
        "critical_points": [
            {
                "a": [0.4224085339285802, 0.6891260874046372],
                "loss": "0.13360842938318330847",
                "kind": "minimum",
                "certified": True,
                "certificate": {"radius": 1e-40, "method": "Krawczyk | interval Newton"},
            },
            {
                "a": [0.5238222354539289, 0.5238222354539289],
                "loss": "0.15442679178714034",
                "kind": "saddle",
            },
        ],
        "equal_step_saddle": {"a": 0.742518141255809, "loss": 0.49900738800725614},
        "layer_order_counts": {"a*_0 < a*_1": 36, "swapped": 4},
    }
    text = "\n".join(value_tables(closed))
    assert structure_problems(text) == []
    assert "e-46" not in text and "| **1** | 0.5154 | 0 |" in text and "shown as 0" in text
    assert (
        "| # | a_0 | a_1 | loss | kind | certified | certificate.radius | certificate.method |"
        in text
    )
    assert "Krawczyk \\| interval Newton" in text and "0.422409" in text  # 6 significant digits
    assert "significant digits" in text


def test_a_table_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="row 0 has 3 cells; the header has 2"):
        table(["a", "b"], [(1, 2, 3)])


def test_the_index_renders_as_intended():
    from verify.report.render import render_index, summary_line

    rows = [
        (get_claim(cid), _verdict(cid), summary_line(get_claim(cid), _verdict(cid), 0))
        for cid in ("lemma1", "5")
    ]
    assert structure_problems(render_index(rows)) == []


def test_the_index_states_each_claims_precision_and_links_the_figures_page():
    from verify.report.render import render_index, summary_line

    rows = [
        (get_claim(cid), _verdict(cid), summary_line(get_claim(cid), _verdict(cid), 0))
        for cid in ("lemma1", "4")
    ]
    text = render_index(rows)
    assert structure_problems(text) == []
    assert "| claim | what is compared | how | resolution | verdict |" in text
    assert "exact (round-off)" in text and "(figures.md)" in text
    assert f"{_verdict('4').resolution:.2g}"[:3] in text  # claim 4's resolution, in step sizes


def test_certified_points_render_as_a_concise_table_with_the_records_linked():
    verdict, claim = _verdict("4"), get_claim("4")
    text = render_report(claim, verdict, [], records="4.json")
    assert structure_problems(text) == [] and "[4.json](4.json)" in text
    block = text.split("certified critical points of phi_L on S")[1].split("\n\n")[
        1
    ]  # the table after its heading
    header = block.splitlines()[0]
    assert header.count("|") - 1 <= 10 and "certificate radius" in header
    assert "eigenvalue_bounds" not in text and "Resolution:" in text


def test_the_figures_page_maps_the_papers_figures_and_renders_as_intended():
    from verify.report.render import render_figures_page

    fig = lambda name, paper: {  # noqa: E731
        "filename": name,
        "heading": "h",
        "paper_figure": paper,
        "protocol": "Adam",
        "paper_values": "-0.38 I",
        "ours": "-0.379 I",
    }
    entries = [
        {"claim": "4", "scale": "paper", "verdict": {"verdict": "passed"},
         "figures": [fig("4_heatmaps.png", "Figs. 4-5"), fig("4_loss.png", "Fig. 3")]},
        {"claim": "1", "verdict": {"verdict": "passed"}, "figures": [fig("1_loss.png", "")]},
    ]  # fmt: skip
    text = render_figures_page(entries)
    assert structure_problems(text) == []
    for k in range(1, 8):
        assert f"| Fig. {k} |" in text
    assert text.count("[4_heatmaps.png](4_heatmaps.png)") == 2  # Figs. 4 and 5
    assert "not generated in this directory" in text and "without a counterpart" in text


@pytest.mark.parametrize("name", sorted(p.name for p in DOCS.glob("*.json")) or ["(none)"])
def test_committed_records_are_one_json_document_agreeing_with_their_page(name):
    import json

    path = DOCS / name
    if not path.exists():
        pytest.skip("docs/ not generated: run `verify-theorem all --report docs/`")
    rec = json.loads(path.read_text())  # one document
    page = (DOCS / f"{rec['claim']}.md").read_text()
    assert f"[{name}]({name})" in page
    assert f"**Verdict: {rec['verdict']['verdict'].upper()}**" in page
    res = rec["verdict"].get("resolution")
    assert ("**Resolution:" in page) == (res is not None)
    for fig in rec["figures"]:
        assert (DOCS / fig["filename"]).is_file() and f"]({fig['filename']})" in page
