"""Hostile or careless input (issue 8, item 4): refused before any work, one line, right exit code.

Every case here must fail fast: claim runs are replaced by a function that fails the test if it
is ever called (``no_work``), so a refusal that came only after the work would be caught.
"""

import dataclasses
import fractions
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import verify
from verify.candidate import CandidateCall, as_preconditioner, call_candidate
from verify.checks import Verdict, check_at_most
from verify.claims import CLAIMS
from verify.cli import main
from verify.errors import CandidateError, UsageError
from verify.report.io import (
    PREFIX,
    atomic_write_text,
    check_report_dir,
    clean_stale_staging,
)

ROOT = Path(__file__).resolve().parents[1]


def _no_work(*args, **kwargs):
    raise AssertionError("a claim's run started although the input should have been refused first")


@pytest.fixture
def no_work(monkeypatch):
    """Every claim's run fails the test if called (Claim.run is verify.claims.base.run_claim)."""
    monkeypatch.setattr("verify.claims.base.run_claim", _no_work)


@pytest.fixture
def fake_claim5(monkeypatch):
    """Claim 5 with a run that only evaluates the candidate (no training): exercises the CLI and
    the candidate plumbing in milliseconds."""

    def run_claim(claim, s, with_controls=False, candidate=None, progress=None):
        assert claim.id == "5", claim.id
        C = candidate(sigma=np.eye(s.d), n=s.n)
        check = check_at_most(
            "candidate is the identity (fake claim)",
            "exact",
            float(np.abs(C - np.eye(s.d)).max()),
            0.0,
            "exact",
        )
        return Verdict("5", s.describe(np.eye(s.d)), {"candidate": C}, [check])

    monkeypatch.setattr("verify.claims.base.run_claim", run_claim)


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("verify-theorem: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


# -- candidates ------------------------------------------------------------------------------

BAD_RETURNS = [
    (np.eye(3) + 0j, "complex"),  # zero imaginary part: still refused (documented)
    ([[1 + 1j, 0, 0], [0, 1, 0], [0, 0, 1]], "complex"),
    ({"A": np.eye(3)}, "dict"),
    ([[1.0, 2.0], [3.0]], "rectangular"),
    (np.eye(2), "shape (2, 2)"),
    (np.ones(9), "shape (9,)"),
    (np.diag([1.0, np.nan, 1.0]), "non-finite"),
    (np.diag([1.0, np.inf, 1.0]), "non-finite"),
    (None, "NoneType"),
    ("eye(3)", "str"),
    (np.array([["1", "0", "0"]] * 3), "dtype"),
    (np.eye(3, dtype=bool), "dtype bool"),
    (np.array([[object()] * 3] * 3), "dtype object"),
]


@pytest.mark.parametrize("value, needle", BAD_RETURNS)
def test_a_candidate_must_return_a_finite_real_d_by_d_array(value, needle):
    with pytest.raises(CandidateError, match="finite real 3 x 3 array") as info:
        as_preconditioner(value, 3)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        np.eye(3, dtype=int),
        np.eye(3).tolist(),
        np.array([[fractions.Fraction(1, k + 1)] * 3 for k in range(3)], dtype=object),
    ],
)
def test_a_candidate_may_return_any_real_array_like(value):
    M = as_preconditioner(value, 3)
    assert M.dtype == float and M.shape == (3, 3)


@pytest.mark.parametrize(
    "exc",
    [
        SystemExit(0),
        SystemExit(3),
        KeyboardInterrupt(),
        GeneratorExit(),
        ValueError("multi\nline"),
        MemoryError(),
    ],
)
def test_anything_a_candidate_raises_becomes_a_candidate_error(exc):
    def candidate(sigma, n):
        raise exc

    with pytest.raises(CandidateError, match=f"candidate raised {type(exc).__name__}") as info:
        call_candidate(candidate, np.eye(2), 5, 2)
    assert "\n" not in str(info.value)


def test_a_candidate_cannot_mutate_the_runs_sigma():
    sigma = np.eye(2)

    def vandal(sigma, n):
        sigma[:] = 7.0
        return np.eye(2)

    call_candidate(vandal, sigma, 5, 2)
    assert np.array_equal(sigma, np.eye(2))


def test_a_candidates_output_is_captured_from_python_and_from_file_descriptor_1(capfd):
    def chatty(sigma, n):
        print("python print")
        os.write(1, b"raw write to fd 1\n")
        return np.eye(2)

    call = CandidateCall(chatty, 2)
    call(np.eye(2), 5)
    assert capfd.readouterr().out == ""
    assert "python print" in call.printed and "raw write to fd 1" in call.printed
    assert "python print" in call.note()


@pytest.mark.parametrize(
    "body, needle",
    [
        ("raise SystemExit(0)", "candidate raised SystemExit: 0"),
        ("raise KeyboardInterrupt", "candidate raised KeyboardInterrupt"),
        ("return np.eye(sigma.shape[0]) + 0j", "complex"),
        ("return {'A': 1}", "got dict"),
        ("return [[1, 2], [3]]", "rectangular"),
        ("return np.full((sigma.shape[0],) * 2, np.nan)", "non-finite"),
        ("return np.eye(sigma.shape[0] + 1)", "shape (6, 6)"),
        # what a candidate does to its process stays in its child process (issue 21, item 1)
        ("os._exit(0)", "candidate process exited with code 0"),
        ("sys.exit(0)", "candidate raised SystemExit: 0"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "candidate process was ended by SIGKILL"),
        ("ctypes.string_at(0)", "candidate process was ended by SIGSEGV"),
        ("raise type('E', (Exception,), {'__str__': lambda self: 1 / 0})()", "__str__ raised"),
        ("raise type('E', (Exception,), {'__str__': lambda self: 5})()", "returned int, not str"),
        ("time.sleep(1000)", "did not answer within 0.5 s"),
    ],
)
def test_cli_refuses_a_bad_candidate_with_exit_2_and_one_line(
    body, needle, tmp_path, monkeypatch, capsys, fake_claim5
):
    (tmp_path / "hostile_cand.py").write_text(
        f"import ctypes, os, signal, sys, time\nimport numpy as np\ndef f(sigma, n):\n    {body}\n"
    )
    monkeypatch.chdir(tmp_path)
    argv = ["5", "--quick", "--candidate", "hostile_cand:f"]
    if "sleep" in body:  # a call that never returns: stopped at its limit (import: the default)
        argv += ["--candidate-timeout", "0.5"]
    assert main(argv) == 2
    _one_line_error(capsys, needle)


def _pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (polled: it was killed, its reaping is the system's)."""
    for _ in range(2000):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ")[-1].startswith("Z"):
                    return True  # a zombie runs no code
        except FileNotFoundError:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_candidate_that_forks_or_leaves_a_printing_thread_cannot_touch_the_output(
    tmp_path, monkeypatch, capfd, fake_claim5
):
    (tmp_path / "forking_cand.py").write_text(
        textwrap.dedent(f"""
        import os, sys, threading, time
        import numpy as np
        def _chatter():
            while True:
                print("late output", flush=True)
                os.write(1, b"late raw output\\n")
                time.sleep(0.001)
        def f(sigma, n):
            if os.fork() == 0:  # a process that lingers and one that returns too
                if os.fork() == 0:
                    with open({str(tmp_path / "pid.tmp")!r}, "w") as fh:
                        fh.write(str(os.getpid()))
                    os.rename({str(tmp_path / "pid.tmp")!r}, {str(tmp_path / "pid")!r})
                    time.sleep(1000)
            # readiness, not a delay: return only once the lingering process has named itself
            # (written whole, then renamed), so the kill below is always of a known pid
            while not os.path.exists({str(tmp_path / "pid")!r}):
                time.sleep(0.001)
            threading.Thread(target=_chatter, daemon=True).start()
            return np.eye(sigma.shape[0])
    """)
    )
    monkeypatch.chdir(tmp_path)
    assert main(["5", "--format", "json", "--candidate", "forking_cand:f"]) == 0
    out = capfd.readouterr().out
    assert json.loads(out)["verdict"] == "passed"  # one JSON document, nothing else on stdout
    assert _pid_gone(int((tmp_path / "pid").read_text()))  # the process group was killed


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["5", "--candidate", "m:f", "--candidate-timeout", "0"], "in (0, 3600]"),
        (["5", "--candidate", "m:f", "--candidate-timeout", "1e9"], "in (0, 3600]"),
        (["5", "--candidate", "m:f", "--candidate-timeout", "nan"], "in (0, 3600]"),
        (["5", "--candidate", "m:f", "--candidate-timeout", "soon"], "number of seconds"),
        (["5", "--candidate-timeout", "5"], "only with --candidate"),
    ],
)
def test_a_bad_candidate_time_limit_is_refused_before_any_work(argv, needle, capsys, no_work):
    assert main(argv) == 2
    _one_line_error(capsys, needle)


def test_ctrl_c_while_the_candidate_runs_exits_130_and_kills_it(tmp_path):
    fifo = tmp_path / "called"
    os.mkfifo(fifo)
    (tmp_path / "sleepy_cand.py").write_text(
        textwrap.dedent(f"""
        import os, time
        def f(sigma, n):
            with open({str(fifo)!r}, "w") as fh:  # readiness: the test sends SIGINT after this
                fh.write(str(os.getpid()))
            time.sleep(1000)
    """)
    )
    proc = _start_cli(["5", "--quick", "--candidate", "sleepy_cand:f"], cwd=tmp_path)
    with open(fifo) as fh:
        pid = int(fh.read())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err == "verify-theorem: interrupted\n" and out == ""
    assert _pid_gone(pid)


def test_a_candidate_module_that_exits_on_import_is_a_usage_error(
    tmp_path, monkeypatch, capsys, no_work
):
    (tmp_path / "exits_on_import.py").write_text("print('noise')\nraise SystemExit(0)\n")
    monkeypatch.chdir(tmp_path)
    assert main(["5", "--candidate", "exits_on_import:f"]) == 2
    _one_line_error(capsys, "raised SystemExit")


def test_a_printing_candidate_cannot_corrupt_json_output(tmp_path, monkeypatch, capfd, fake_claim5):
    (tmp_path / "printing_cand.py").write_text(
        textwrap.dedent("""
        import os
        import numpy as np
        print("at import")
        def f(sigma, n):
            print("{not json")
            os.write(1, b"raw bytes on fd 1\\n")
            return np.eye(sigma.shape[0])
    """)
    )
    monkeypatch.chdir(tmp_path)
    assert main(["5", "--format", "json", "--candidate", "printing_cand:f"]) == 0
    out = capfd.readouterr().out
    data = json.loads(out)  # the whole of stdout is one JSON document
    assert any("{not json" in n and "raw bytes on fd 1" in n for n in data["notes"])


def test_api_candidate_errors_are_documented_value_errors(fake_claim5):
    assert issubclass(verify.CandidateError, ValueError)
    with pytest.raises(verify.CandidateError, match="callable"):
        verify.check_candidate("5", "not a function")
    with pytest.raises(verify.CandidateError, match="SystemExit"):
        verify.check_candidate("5", lambda sigma, n: sys.exit(0))
    with pytest.raises(verify.UsageError, match="takes no candidate"):
        verify.check_candidate("lemma1", lambda sigma, n: sigma)


# -- problem sizes and conditioning ----------------------------------------------------------


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["1", "--d", "2000"], "d <= 12"),
        (["1", "--d", "99999999999"], "d <= 12"),  # no d-tuple is built first
        (["lemma1", "--d", "99999999999", "--n", "3"], "d <= 12"),
        (["1", "--noise", "1e308"], "above the limit 1 x the signal variance"),
        (["1", "--noise", "3.5"], "tr(Omega Sigma) = 3.312"),  # the default spectrum's
        (["1", "--noise", "1.1", "--prior", "inverse", "--d", "1"], "here 1"),
        (["1", "--n", "10000000"], "n <= 1000"),
        (["5", "--d", "10", "--n", "200"], "(d+1)(n+1) = 2211"),
        (["lemma1", "--d", "13"], "d <= 12"),
        (["3", "--spectrum", "1,1e-300,1,1,1"], "cond(Sigma) = 1e+300"),
        (["1", "--spectrum", "1,1e-5"], "above the limit 10000"),
        (["lemma1", "--spectrum", "1e-150,1e-150"], "must lie in [1e-08, 1e+08]"),
        (["lemma1", "--spectrum", "1e200,1e200"], "must lie in [1e-08, 1e+08]"),
    ],
)
def test_problem_sizes_over_the_stated_limits_are_refused_before_any_work(
    argv, needle, capsys, no_work
):
    assert main(argv) == 2
    _one_line_error(capsys, needle)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"spectrum": 5}, "sequence of numbers"),
        ({"spectrum": "1,2"}, "sequence of numbers"),
        ({"d": 5.0}, "d must be an integer"),
        ({"d": True}, "d must be an integer"),
        ({"n": "20"}, "n must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"noise": "0.1"}, "noise is a variance"),
        ({"noise": [0.1]}, "noise is a variance"),
        ({"prior": ["identity"]}, "prior must be one of"),
        ({"rotate": "no"}, "rotate must be True or False"),
        ({"quick": 1}, "quick must be True or False"),
        ({"controls": "yes"}, "controls must be True or False"),
        ({"d": 99999999999}, "d <= 12"),  # refused before a d-tuple is built (constant time)
        ({"n": 10**100}, "n <= 1000"),
    ],
)
def test_the_api_refuses_any_bad_type_with_a_documented_value_error(options, needle, no_work):
    with pytest.raises(ValueError, match=None) as info:
        verify.verify_theorem("lemma1", **options)
    assert type(info.value) in (ValueError, UsageError) and needle in str(info.value)


def test_a_huge_problem_is_refused_in_a_real_process_quickly():
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "verify.cli", "1", "--d", "2000", "--n", "10000000"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "limit" in r.stderr
    assert (
        time.perf_counter() - t0 < 120
    )  # interpreter start and imports only (a loaded machine), never the run


# -- report paths and files ------------------------------------------------------------------


def test_report_onto_bad_paths_is_refused_before_the_run(tmp_path, monkeypatch, capsys, no_work):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.chdir(tmp_path)
    for target, needle in (
        (str(afile), "not a directory"),
        (str(afile / "child"), "is a file"),
        ("", "needs a directory name"),
        ("   ", "needs a directory name"),
    ):
        assert main(["lemma1", "--report", target]) == 2
        _one_line_error(capsys, needle)
    assert sorted(os.listdir(tmp_path)) == ["afile"]  # nothing was written anywhere
    (tmp_path / "out" / "lemma1.md").mkdir(parents=True)  # a directory where the report would go
    assert main(["lemma1", "--report", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "is not a file")


def test_an_os_error_while_writing_a_report_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    import verify.report as report

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "lemma1.md"))

    monkeypatch.setattr(report, "write_reports", full_disk)
    assert main(["lemma1", "--report", str(tmp_path)]) == 2
    _one_line_error(capsys, "No space left on device")


def test_report_into_a_read_only_directory_is_refused_before_the_run(
    tmp_path, monkeypatch, capsys, no_work
):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permissions: the file system answers EACCES in ro instead
        real_open = os.open

        def denying_open(path, *args, **kwargs):
            if Path(path).parent == ro:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr("verify.report.io.os.open", denying_open)
    try:
        for target in (ro, ro / "sub" / "dir"):
            assert main(["lemma1", "--report", str(target)]) == 2
            _one_line_error(capsys, "cannot create files", "Permission denied")
    finally:
        ro.chmod(0o755)
    assert os.listdir(ro) == []


def test_check_report_dir_accepts_a_new_directory_under_a_writable_one(tmp_path):
    assert check_report_dir(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"
    assert os.listdir(tmp_path) == []  # the check creates nothing


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_report_files_get_the_usual_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        p = atomic_write_text(tmp_path / "r.md", "text")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == mode


def test_a_staging_directory_left_by_sigkill_is_cleaned_but_never_a_users_file(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from verify.report.io import atomic_write
        def slow(fh):
            fh.write(b"half a report")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write({str(tmp_path / "r.md")!r}, slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    (stale,) = [p for p in tmp_path.iterdir() if p.name.startswith(f"{PREFIX}{proc.pid}-")]
    proc.kill()
    proc.wait()
    proc.stdout.close()
    assert (stale / "r.md").exists()  # SIGKILL: no chance to clean up
    # look-alikes of temporaries, of a process that is gone too: the user's, never touched
    users = [tmp_path / f".r.md.tmp-{proc.pid}", tmp_path / f"{PREFIX}{proc.pid}-mine"]
    users[0].write_text("my notes")
    users[1].mkdir()
    (users[1] / "keep.txt").write_text("mine")
    atomic_write_text(tmp_path / "r.md", "complete")
    assert not stale.exists() and all(p.exists() for p in users)
    assert (users[1] / "keep.txt").read_text() == "mine"
    assert (tmp_path / "r.md").read_text() == "complete"
    assert clean_stale_staging(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.md"] + [p.name for p in users])


def test_an_interrupted_report_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    """Ctrl-C after the first new figure: the old page and figures stay, nothing new is mixed
    in, and no staging directory remains."""
    import verify.report as report
    import verify.report.gallery as gallery

    old = {"lemma1.md": "old page\n", "lemma1_heatmaps.png": "old figure"}
    for name, text in old.items():
        (tmp_path / name).write_text(text)

    def interrupted_figures(claim, verdict, setting, out_dir, budget):
        from verify.report.io import atomic_write_bytes

        atomic_write_bytes(Path(out_dir) / "lemma1_heatmaps.png", b"new figure")  # as draw() does
        raise KeyboardInterrupt

    def instant_verdict(cid, **options):  # the run itself is not what is tested here
        return Verdict("lemma1", {"d": 2, "n": 3}, {}, [check_at_most("c", "exact", 0.0, 0.0, "")])

    monkeypatch.setattr(gallery, "build_figures", interrupted_figures)
    monkeypatch.setattr(report, "verify_theorem", instant_verdict)
    c = CLAIMS["lemma1"]
    monkeypatch.setitem(CLAIMS, "lemma1", dataclasses.replace(c, derivation=(), errata=()))
    with pytest.raises(KeyboardInterrupt):
        report.write_report("lemma1", tmp_path, d=2, n=3)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == old


def test_a_signal_during_the_move_into_place_waits_until_the_file_set_is_moved(
    tmp_path, monkeypatch
):
    import verify.report.io as rio

    real_replace = os.replace
    sent = []

    def replace_and_interrupt(src, dst):
        if not sent:
            sent.append(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)  # held back until every file has moved
        real_replace(src, dst)

    monkeypatch.setattr(rio.os, "replace", replace_and_interrupt)
    with pytest.raises(KeyboardInterrupt), rio.Staging(tmp_path) as staging:
        for name in ("a_fig.png", "b_fig.png", "page.md"):
            staging.write(name, lambda fh: fh.write(b"new"))
        staging.commit(last="page.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_fig.png", "b_fig.png", "page.md"]


def test_report_paths_through_symlinks_are_resolved_and_checked_up_front(
    tmp_path, monkeypatch, capsys, no_work
):
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    for target in ("loop_a", "loop_a/sub"):
        assert main(["lemma1", "--report", str(tmp_path / target)]) == 2
        _one_line_error(capsys, "loops")
    (tmp_path / "dangling").symlink_to(tmp_path / "made" / "here")
    assert check_report_dir(str(tmp_path / "dangling")) == tmp_path / "made" / "here"
    (tmp_path / "afile").write_text("x")
    (tmp_path / "to_file").symlink_to(tmp_path / "afile" / "sub")
    assert main(["lemma1", "--report", str(tmp_path / "to_file")]) == 2
    _one_line_error(capsys, "is a file")


# -- Ctrl-C and SIGTERM -----------------------------------------------------------------------


def _default_sigint():
    # A job started in the background by a non-interactive shell (``cmd &``) inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler: give the child the
    # default disposition, as a terminal's foreground job has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_cli(argv, cwd=ROOT, **kwargs):
    """The CLI in a real process that writes ``ready`` on a pipe once its signal handlers are
    installed (``VERIFY_THEOREM_READY_FD``): the test waits for that, never for a guessed delay."""
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "verify.cli", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "VERIFY_THEOREM_READY_FD": str(w)},
        pass_fds=(w,),
        preexec_fn=_default_sigint,
        **kwargs,
    )
    os.close(w)
    with os.fdopen(r, "rb") as ready:
        assert ready.readline() == b"ready\n"
    return proc


@pytest.mark.parametrize(
    "signum, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_at_the_earliest_moment_exits_with_one_line_and_no_traceback(signum, code, word):
    """The signal arrives while the CLI is still importing numpy and the claims (the handlers
    are installed first thing in main): one line, 128 + signal number, never death by signal."""
    proc = _start_cli(["1", "--quick"])
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err == f"verify-theorem: {word}\n" and out == ""


# -- the Python API# -- the Python API's exceptions ---------------------------------------------------------------


def test_the_api_exports_its_exception_types():
    for name in ("UsageError", "AssumptionError", "CandidateError"):
        assert name in verify.__all__ and issubclass(getattr(verify, name), ValueError)
    with pytest.raises(UsageError, match="unknown options"):
        verify.verify_theorem("lemma1", dimension=3)
    with pytest.raises(UsageError, match="limit"):
        verify.verify_theorem("1", d=2000)
    with pytest.raises(UsageError, match="progress must have"):
        verify.verify_theorem("lemma1", progress=object())


# -- options a claim does not use, hypotheses up front, settings without power -----------------


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["lemma1", "--layers", "3"], "does not use --layers"),
        (["1", "--layers", "2"], "does not use --layers"),
        (["5", "--layers", "2"], "does not use --layers"),
        (["3", "--candidate", "math:sqrt"], "takes no candidate"),
        (["lemma4", "--candidate", "math:sqrt"], "takes no candidate"),
        (["2", "--candidate", "math:sqrt"], "takes no candidate"),
        (["all", "--candidate", "math:sqrt"], "name the claim"),
        (["1", "--no-figures"], "only with --report"),
        (["lemma1", "--report", "out", "--format", "json"], "--format json applies"),
        (["4", "--layers", "4"], "L <= 3"),
        (["lemma4", "--layers", "4"], "L <= 3"),  # the family (11) contrast is exact for L <= 3
    ],
)
def test_options_a_claim_does_not_use_are_refused_before_any_work(argv, needle, capsys, no_work):
    assert main(argv) == 2
    _one_line_error(capsys, needle)


def test_all_checks_every_claims_hypotheses_before_any_work(capsys, no_work):
    assert (
        main(["all", "--prior", "identity"]) == 2
    )  # claims 3, 4, lemma4 assume w* ~ N(0, Sigma^-1)
    _one_line_error(capsys, "assumes", "--prior inverse")
    assert main(["all", "--spectrum", "1,2,1,1,1"]) == 2  # claims 2 and 5 assume Sigma = I
    _one_line_error(capsys, "assumes")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["lemma1", "--d", "1"],
            "d >= 2",
        ),  # every 1 x 1 A_l is symmetric: the erratum checks have no power
        (["lemma4", "--layers", "1"], "L >= 2"),  # one layer has no permutation but the identity
        (
            ["lemma4", "--d", "1"],
            "d >= 2",
        ),  # every 1 x 1 A_l lies on S: the off-S check has no power
        (["3", "--spectrum", "1,1e-300,1,1,1"], "cond(Sigma)"),  # round-off floors swamp the checks
        (["1", "--spectrum", "1,1e-4,1,0.25,1"], "cond(Sigma) <= 100"),  # raw-coordinate spread
    ],
)
def test_settings_where_a_check_has_no_power_are_refused_with_the_reason(
    argv, needle, capsys, no_work
):
    assert main(argv) == 2
    _one_line_error(capsys, needle)


class _HostileArrayLike:
    def __array__(self, *args, **kwargs):
        raise SystemExit(0)


class _HostileNumber(fractions.Fraction):
    def __float__(self):
        raise KeyboardInterrupt


def test_foreign_conversion_code_in_a_return_value_is_contained():
    with pytest.raises(CandidateError, match="SystemExit"):
        as_preconditioner(_HostileArrayLike(), 2)
    with pytest.raises(CandidateError, match="convert to float"):
        as_preconditioner(np.array([[_HostileNumber(1)] * 2] * 2, dtype=object), 2)


def test_a_reader_that_leaves_early_gets_no_traceback():
    """``verify-theorem lemma1 | head -1``: the closed pipe is not an error worth a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "verify.cli", "lemma1", "--d", "2", "--n", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    proc.stdout.close()  # the reader is gone before anything is printed
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 3  # its own exit code (cli.EXIT_NO_STDOUT), not a failed check
    assert err.count("\n") == 1 and "standard output" in err and "Traceback" not in err


def test_a_closed_stdout_is_refused_before_any_work_with_its_own_exit_code():
    r = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -m verify.cli lemma1 --d 2 --n 3 >&-'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "standard output" in r.stderr


# -- scale: Sigma = c I is decided like Sigma = I -------------------------------------------------


@pytest.mark.parametrize("k", [28])  # Sigma = 2^56 I ~ 7e16 I (1e-8 I: the calibration sweep)
def test_the_all_pq_fit_is_scale_equivariant(k):
    """Tokens and targets scaled by 2^k: the fit runs in normalised units (an exact power-of-two
    change), so A_eff comes back scaled by 2^(-2k) (as Sigma^-1) up to the stopping rule's error,
    with the same diagnosis; before the change of units, 0 of 10 replicas of claim 1 converged
    at Sigma = 1e8 I (the small random start and the absolute gtol are not scale-free)."""
    from theory.single_layer_reduction import effective_preconditioner
    from verify.model import Prompts
    from verify.sampling import sample_prompts
    from verify.training.one_layer import OneLayerStats, fit_unconstrained_multistart

    base = sample_prompts(500, 6, np.eye(2), np.random.default_rng(5))
    scaled = Prompts(base.Z0 * 2.0**k, base.target * 2.0**k)
    fits = [
        fit_unconstrained_multistart(OneLayerStats.from_prompts(p), np.random.default_rng(1), 2)
        for p in (base, scaled)
    ]
    A0, A1 = (effective_preconditioner(P, Q) for P, Q, _ in fits)
    # basis: quadratic convergence, the Newton step not taken bounds each fit's remaining error
    tol = 10 * max(f[2]["step_rel"] for f in fits)
    assert np.linalg.norm(A1 * 2.0 ** (2 * k) - A0) <= tol * np.linalg.norm(A0)
    assert fits[1][2]["units"][0] == 2.0**k and fits[1][2]["at_best"] == fits[0][2]["at_best"]
