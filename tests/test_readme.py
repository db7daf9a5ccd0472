"""The README's commands and snippets run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_the_api_snippet():
    assert any("verify.verify_theorem" in b and "check_candidate" in b for b in _python_blocks())


@pytest.mark.slow
def test_the_api_snippet_runs_as_written(capsys):
    # two quick verifications of claim 1 (about half a CPU-minute)
    block = next(b for b in _python_blocks() if "verify.verify_theorem" in b)
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.rstrip().endswith("True")
