"""The verify-theorem command line: exit codes, one-line errors, JSON shape, determinism."""

import io
import json
import subprocess
import sys
import textwrap
import time

import pytest

from verify.cli import main
from verify.progress import Progress


@pytest.mark.parametrize(
    "argv, message",
    [
        (["7"], "unknown claim"),
        (["1", "--spectrum", "1,-1,2,1,1"], "> 0"),
        (["1", "--spectrum", "1,0,2,1,1"], "> 0"),
        (["1", "--spectrum", "1,x,2"], "numbers"),
        (["1", "--spectrum", "1,,2"], "comma-separated"),
        (["1", "--d", "3", "--spectrum", "1,2"], "d = 3"),
        (["1", "--n", "0"], ">= 1"),
        (["1", "--n", "2.5"], "integer"),
        (["1", "--d", "-1"], ">= 1"),
        (["1", "--noise", "-0.1"], "variance"),
        (["1", "--noise", "nan"], "variance"),
        (["1", "--seed", "-3"], ">= 0"),
        (["1", "--prior", "flat"], "invalid choice"),
        (["5", "--spectrum", "1,2,1,1,1"], "Theorem 5 assumes"),
        (["5", "--noise", "0.5"], "Theorem 5 assumes"),
        (["lemma1", "--candidate", "math:sqrt"], "takes no candidate"),
        (["1", "--candidate", "os;rm -rf"], "package.module:function"),
        (["1", "--candidate", "no_such_module_xyz:f"], "cannot import"),
        (["1", "--candidate", "math:no_such_fn"], "no callable"),
        (["1", "--candidate", "math:sqrt"], "candidate raised"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_input_from_a_real_process_has_no_traceback():
    r = subprocess.run(
        [sys.executable, "-m", "verify.cli", "1", "--spectrum", "1,-2"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""


def test_json_output_has_the_documented_keys_and_is_byte_identical_for_a_seed(capsys):
    assert main(["lemma1", "--format", "json", "--seed", "4"]) == 0
    first = capsys.readouterr().out
    assert main(["lemma1", "--format", "json", "--seed", "4"]) == 0
    assert capsys.readouterr().out == first
    data = json.loads(first)
    assert set(data) >= {"claim", "setting", "closed_form", "checks", "verdict"}
    assert data["setting"]["seed"] == 4 and len(data["setting"]["sigma"]) == 5
    for c in data["checks"]:
        assert set(c) == {
            "name",
            "kind",
            "observed",
            "tolerance",
            "basis",
            "status",
            "reason",
            "sense",
            "margin",
        }
    assert data["verdict"] == "passed"


def test_theorem5_json_is_deterministic_and_names_the_preconditioner(capsys):
    argv = ["5", "--quick", "--d", "3", "--format", "json", "--seed", "2"]  # d = 3: suite budget
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first
    pre = json.loads(first)["closed_form"]["preconditioner"]
    assert len(pre) == 3 and pre[0][0] > 0 and pre[0][1] == 0


def test_user_candidate_module_is_imported_and_judged(tmp_path, monkeypatch, capsys):
    (tmp_path / "mycand.py").write_text(
        textwrap.dedent("""
        import numpy as np
        def right(sigma, n):
            return 2 * n / (n - 1 + 2 * (sigma.shape[0] + 2)) * np.eye(sigma.shape[0])
        def wrong(sigma, n):
            return n / (n + sigma.shape[0] + 1) * np.eye(sigma.shape[0])
    """)
    )
    monkeypatch.chdir(tmp_path)
    assert main(["5", "--quick", "--d", "3", "--candidate", "mycand:right"]) == 0
    assert main(["5", "--quick", "--d", "3", "--candidate", "mycand:wrong"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out


def test_theorem1_json_is_byte_identical_across_processes_for_a_seed():
    # two separate processes (fresh RNG and BLAS state); a small quick setting keeps it cheap
    cmd = [sys.executable, "-m", "verify.cli", "1", "--quick", "--d", "3", "--n", "8"]
    cmd += ["--format", "json", "--seed", "3"]
    # both processes at once (two cores): half the wall time, the same test
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    (a_out, _), (b_out, _) = (p.communicate(timeout=300) for p in procs)
    assert [p.returncode for p in procs] == [0, 0] and a_out == b_out
    assert "preconditioner" in json.loads(a_out)["closed_form"]


def test_help_is_plain_text_with_exit_codes_layers_default_candidates_and_limits(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out
    for needle in (
        "exit codes:",
        "130",
        "interrupted",
        "--layers",
        "default 3",
        "claims that take --candidate MODULE:FUNCTION: 1, 5",
        "limits",
        "cond(Sigma)",
        "--version",
    ):
        assert needle in out, needle
    assert max(len(line) for line in out.splitlines()) <= 100


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("verify-theorem ") and out.count("\n") == 1


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_redraws_elapsed_time_on_a_timer_only_on_a_terminal():
    tty = _FakeTTY()
    p = Progress(tty, "claim 1 ", interval=0.02)
    p.update("a long step")
    time.sleep(0.3)
    p.done()
    frames = tty.getvalue().split("\r\033[K")
    assert sum("a long step" in f for f in frames) >= 3  # redrawn without a new message
    assert frames[-1] == ""  # the line is cleared at the end
    after = tty.getvalue()
    time.sleep(0.1)
    assert tty.getvalue() == after  # the timer stopped
    pipe = io.StringIO()
    q = Progress(pipe, "claim 1 ", interval=0.02)
    q.update("step")
    time.sleep(0.1)
    q.done()
    assert pipe.getvalue() == ""


def test_text_output_lines_are_at_most_100_characters(capsys):
    assert main(["lemma1", "--controls", "--d", "3", "--n", "6"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "basis: floating point" in out  # the basis is wrapped under its check, not dropped
