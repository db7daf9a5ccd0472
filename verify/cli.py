"""verify-theorem CLAIM [options]: print a verdict table; exit 0 iff every check passed.

CLAIM may be ``all`` (every registered claim).  ``--report DIR`` writes a Markdown report per
claim (and, for ``all``, the index DIR/README.md) with figures beside it; the negative controls
are always run for a report.  Everything that can be checked before the run (options, limits,
the claims' hypotheses, the report directory, standard output) is checked first.

Exit codes (:data:`EXIT_CODES`): 0 every check passed, 1 some check did not pass, 2 bad usage
or a violated assumption (one line on stderr, no traceback), 3 standard output closed or its
reader gone, 130 interrupted (SIGINT, Ctrl-C), 143 terminated (SIGTERM).  The signal handlers
are installed first thing in :func:`main`, before any heavy import, so a signal at any moment
gives one line and the exit code, never a traceback or death by the signal; with the
environment variable ``VERIFY_THEOREM_READY_FD=N`` the CLI writes ``ready`` to file descriptor
N once they are installed (for tests that must not guess a delay).
"""

from __future__ import annotations

import os
import signal
import sys

ALL = "all"
WIDTH = 100  # CLI text lines stay within this many characters
#: Exit code when standard output is closed, or its reader left before the verdict was written.
EXIT_NO_STDOUT = 3
#: Exit codes of the signals handled like Ctrl-C (128 + the signal's number, as shells report).
SIGNAL_EXITS = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}
#: Environment variable naming a file descriptor that receives ``ready`` once the handlers are in.
READY_FD_ENV = "VERIFY_THEOREM_READY_FD"

EXIT_CODES = (
    ("0", "every check passed"),
    ("1", "some check did not pass (failed or inconclusive)"),
    ("2", "bad usage, a violated assumption or an unwritable report: one line on stderr"),
    ("3", "standard output is closed or its reader left: the verdict could not be written"),
    ("130", "interrupted (SIGINT, Ctrl-C)"),
    ("143", "terminated (SIGTERM); handled like Ctrl-C"),
)


class _Usage(Exception):
    """argparse's complaint, re-raised so that main prints it on one line."""


class _NoStdout(Exception):
    """Standard output is closed (checked before any work) or its reader left."""


def _int(name):
    """Parse an integer option; its range is the Setting's to check (:mod:`verify.setting`)."""

    def parse(text):
        try:
            return int(text)
        except ValueError:
            raise _type_error(f"--{name} must be an integer; got {text!r}") from None

    return parse


def _float(name, what="a number"):
    def parse(text):
        try:
            return float(text)
        except ValueError:
            raise _type_error(f"--{name} must be {what}; got {text!r}") from None

    return parse


def _type_error(message):
    import argparse

    return argparse.ArgumentTypeError(message)


def _spectrum(text):
    from .setting import parse_spectrum

    try:
        return parse_spectrum(text)
    except ValueError as exc:
        raise _type_error(str(exc)) from None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("icl-verify")
    except Exception:  # noqa: BLE001  (not installed, run from a checkout: no metadata to read)
        return "unknown (not installed)"


def _wrap(text: str, indent: int = 2) -> str:
    import textwrap

    return textwrap.fill(
        text, WIDTH - 1, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2)
    )


def _epilog() -> str:
    from .candidate import DEFAULT_TIMEOUT, MAX_TIMEOUT
    from .claims import CLAIMS
    from .limits import LIMITS_TEXT

    lines = ["claims:"]
    lines += [_wrap(f"{cid:7} {c.title}") for cid, c in CLAIMS.items()]
    lines += [
        "",
        "claims that take --candidate MODULE:FUNCTION: "
        + ", ".join(cid for cid, c in CLAIMS.items() if c.takes_candidate),
        _wrap(
            "FUNCTION(sigma=<d x d ndarray>, n=<int>) returns the claimed d x d preconditioner "
            "(the negated top-left block of Q_0 in convention (8)); it must be a finite real "
            "array. It runs in a child process (its own process group, killed when the run "
            f"ends) with a time limit per call (--candidate-timeout, default {DEFAULT_TIMEOUT:g} "
            f"s, at most {MAX_TIMEOUT:g} s); its printed output is captured and shown as a note."
        ),
        "",
        _wrap(
            "--layers: claims "
            + ", ".join(
                f"{cid} (L <= {c.max_layers})"
                for cid, c in CLAIMS.items()
                if "layers" in c.options and c.max_layers
            )
            + "; default 3. Claim 2 is L = 2; the other claims have one layer (Lemma 1: "
            "L = 1..4 at once).",
            indent=0,
        ),
        "",
        "limits (checked before any work):",
        _wrap(LIMITS_TEXT),
        _wrap(
            "and each claim's own, where its checks lose their power: "
            + "; ".join(
                f"{cid}: {h.text.split(',')[0]}"
                for cid, c in CLAIMS.items()
                for h in c.hypotheses
                if "a limit of th" in h.text
            )
        ),
        "",
        "exit codes:",
    ]
    lines += [f"  {code:>3}  {text}" for code, text in EXIT_CODES]
    return "\n".join(lines)


def build_parser():
    """The argparse parser (options are parsed here, validated once by the Setting)."""
    import argparse

    from .claims import CLAIMS

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one line, exit 2, no usage dump
            raise _Usage(message)

    p = Parser(
        prog="verify-theorem",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Verify a claim of Ahn, Cheng, Daneshmand & Sra (NeurIPS 2023) by exact "
        "mathematics\nand trained NumPy linear transformers; print a verdict table.",
        epilog=_epilog(),
    )
    p.add_argument("claim", help=f"claim id: {', '.join(CLAIMS)}, or all")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--d", type=_int("d"), help="covariate dimension (default 5)")
    p.add_argument("--n", type=_int("n"), help="context examples per prompt (default 20)")
    p.add_argument(
        "--spectrum",
        type=_spectrum,
        help="eigenvalues of Sigma, l1,...,ld "
        "(default the paper's 1,1,0.25,0.0625,1; all ones for claims 2 and 5)",
    )
    p.add_argument("--no-rotation", action="store_true", help="Sigma diagonal instead of U^T D U")
    p.add_argument(
        "--prior",
        choices=("identity", "inverse"),
        help="w* ~ N(0, I) or N(0, Sigma^-1) (default: what the claim assumes)",
    )
    p.add_argument(
        "--noise",
        type=_float("noise", "a number (a variance)"),
        help="variance of the context-label noise (default 0)",
    )
    p.add_argument(
        "--layers",
        type=_int("layers"),
        help="number of layers (claims 3, 4, lemma4; default 3)",
    )
    p.add_argument("--seed", type=_int("seed"), default=0, help="random seed (default 0)")
    p.add_argument("--quick", action="store_true", help="smaller samples (wider tolerances)")
    p.add_argument(
        "--resolution",
        type=_float("resolution"),
        metavar="R",
        help="claims 1 and 5: grow the work until the run rejects every relative deviation >= R "
        "from the closed form (the verdict says what it cost)",
    )
    p.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="output format (default text)",
    )
    p.add_argument("--controls", action="store_true", help="also run the negative controls")
    p.add_argument(
        "--candidate", metavar="MODULE:FUNCTION", help="check your own closed form (claims 1 and 5)"
    )
    p.add_argument(
        "--candidate-timeout",
        type=_float("candidate-timeout", "a number of seconds"),
        metavar="SECONDS",
        help="with --candidate: time limit per call of the candidate (see below)",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="write Markdown reports and figures to DIR "
        "(negative controls on; with claim 'all' also DIR/README.md)",
    )
    p.add_argument(
        "--no-figures",
        action="store_true",
        help="with --report: skip the figures (no training runs)",
    )
    p.add_argument(
        "--scale",
        choices=("default", "paper"),
        default="default",
        help="with --report: training behind the figures at the default CPU size or the paper's "
        "protocol (30000-100000 Adam steps on minibatches of 20000; hours)",
    )
    return p


def _options(args) -> dict:
    options = {
        "d": args.d,
        "n": args.n,
        "spectrum": args.spectrum,
        "prior": args.prior,
        "noise": args.noise,
        "seed": args.seed,
        "quick": args.quick,
        "layers": args.layers,
        "controls": args.controls,
        "resolution": args.resolution,
    }
    if args.no_rotation:
        options["rotate"] = False
    return options


def _claim_ids(claim: str) -> list:
    from .claims import CLAIMS, get_claim

    return list(CLAIMS) if claim.strip().lower() == ALL else [get_claim(claim).id]


def _check_stdout() -> None:
    """_NoStdout unless standard output is open for writing (checked before any work)."""
    if sys.stdout is None:  # Python found file descriptor 1 closed at start-up
        raise _NoStdout
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return  # an in-memory stream (a test, an embedding program): nothing to check
    try:
        import fcntl
    except ImportError:  # not POSIX: the first write tells
        return
    try:
        mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    except OSError:
        raise _NoStdout from None
    if mode == os.O_RDONLY:
        raise _NoStdout


def _preflight(args, ids, options) -> dict:
    """Everything checkable before work: combinations, stdout, report directory, every claim's
    setting (built once here and reused by the run).  Returns {claim id: (claim, setting)}."""
    from .api import prepare
    from .errors import UsageError

    if args.no_figures and args.report is None:
        raise UsageError("--no-figures applies only with --report DIR")
    if args.scale != "default" and args.report is None:
        raise UsageError("--scale applies only with --report DIR")
    if args.candidate_timeout is not None and not args.candidate:
        raise UsageError("--candidate-timeout applies only with --candidate MODULE:FUNCTION")
    if args.candidate and len(ids) > 1:
        raise UsageError(
            "--candidate checks one claim's closed form; name the claim instead of 'all'"
        )
    if args.candidate and args.report is not None:
        raise UsageError(
            "--report writes the reports of the paper's closed forms; it cannot be "
            "combined with --candidate"
        )
    if args.report is not None and args.format != "text":
        raise UsageError(
            f"--format {args.format} applies to the verdict printed on stdout; --report "
            "writes Markdown files and prints one summary line per claim"
        )
    if args.candidate:
        from .candidate import check_spec, check_timeout

        check_spec(args.candidate)
        check_timeout(args.candidate_timeout)
    if args.report is not None:
        from .report.io import check_report_dir

        args.report = check_report_dir(
            args.report, [f"{cid}.md" for cid in ids] + (["README.md"] if len(ids) > 1 else [])
        )
    return {cid: prepare(cid, options, candidate=bool(args.candidate)) for cid in ids}


def _print(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:  # e.g. `verify-theorem 1 | head`: the reader left
        raise _NoStdout from None
    except OSError as exc:
        import errno

        if exc.errno in (errno.EBADF, errno.EPIPE):
            raise _NoStdout from None
        raise


def _summary(verdicts, seconds: float) -> str:
    """The closing line of a multi-claim run: claims passed, failed, inconclusive; total time."""
    counts = {
        st: sum(v.status == st for v in verdicts) for st in ("passed", "failed", "inconclusive")
    }
    return (
        f"{len(verdicts)} claims: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['inconclusive']} inconclusive; total time {seconds:.1f} s"
    )


def _run(args, prepared, options, new_progress) -> int:
    """Each verdict is written (and flushed) as soon as it is done, also into a pipe; a run of
    several claims ends with :func:`_summary` (on stderr with ``--format json``, whose stdout is
    ONE document: ``{"claims": [...], "summary": {...}}``, the verdicts streamed into the list)."""
    import json
    import textwrap
    import time

    from .api import run_prepared

    t0 = time.perf_counter()
    ids = list(prepared)
    many = len(ids) > 1
    if args.report is not None:
        from .report import write_reports

        def done(cid, v):
            ok = sum(c.passed for c in v.checks)
            _print(
                f"claim {cid}: {v.status.upper()} ({ok}/{len(v.checks)} checks passed) -> {cid}.md"
            )

        verdicts = write_reports(
            ids,
            args.report,
            index=many or args.claim.strip().lower() == ALL,
            figures=not args.no_figures,
            scale=args.scale,
            progress_factory=lambda cid: new_progress(f"claim {cid} "),
            on_done=done,
            **options,
        )
        if many:
            _print(_summary(verdicts, time.perf_counter() - t0))
        return 0 if all(v.passed for v in verdicts) else 1
    stream = args.format == "json" and many
    if stream:
        _print('{\n  "claims": [')
    verdicts = []
    for i, (cid, (claim, setting)) in enumerate(prepared.items()):
        progress = new_progress(f"claim {cid} ")
        v = run_prepared(
            claim,
            setting,
            controls=args.controls,
            progress=progress,
            candidate=args.candidate,
            timeout=args.candidate_timeout,
        )
        progress.done()
        verdicts.append(v)
        if stream:
            _print(("," if i else "") + textwrap.indent(v.to_json(), "    "))
        else:
            _print(("\n" if i else "") + v.render(args.format))
    if many:
        line = _summary(verdicts, time.perf_counter() - t0)
        if stream:
            counts = {
                st: sum(v.status == st for v in verdicts)
                for st in ("passed", "failed", "inconclusive")
            }
            _print('  ],\n  "summary": ' + json.dumps(counts) + "\n}")
            print(line, file=sys.stderr, flush=True)
        else:
            _print(line)
    return 0 if all(v.passed for v in verdicts) else 1


class _Signals:
    """SIGINT and SIGTERM handled like Ctrl-C: the FIRST one raises KeyboardInterrupt (so
    cleanup runs: progress line, candidate process, report staging), later ones are ignored;
    once ``closing`` is set nothing raises any more, and the exit path reports the signal."""

    def __init__(self):
        self.signum = None
        self.closing = False
        self.saved = {}

    def install(self) -> None:
        try:
            for signum in SIGNAL_EXITS:
                self.saved[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread: signals are the host program's business
            self.saved.clear()

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            if not self.closing:
                raise KeyboardInterrupt

    def restore(self) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)


_STATE = None  # the _Signals of the running main() (the one-line error is dropped once interrupted)


def _ready() -> None:
    fd = os.environ.get(READY_FD_ENV)
    if fd:
        try:
            os.write(int(fd), b"ready\n")
            os.close(int(fd))
        except (OSError, ValueError):
            pass


def _error(message: str) -> None:
    if _STATE is not None and _STATE.signum is not None:
        return  # the interruption's line says what happened
    print(f"verify-theorem: error: {' '.join(str(message).split())}", file=sys.stderr)


def _main(argv) -> int:
    """The CLI's work; KeyboardInterrupt propagates to :func:`main`."""
    progresses = []

    def new_progress(label):
        from .progress import Progress

        progresses.append(Progress(sys.stderr, label))
        return progresses[-1]

    try:
        _check_stdout()  # before the parser imports the claims: nothing is done for no reader
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0)
        ids = _claim_ids(args.claim)
        options = _options(args)
        prepared = _preflight(args, ids, options)
        return _run(args, prepared, options, new_progress)
    except (_Usage, ValueError) as exc:  # ValueError: UsageError, AssumptionError, CandidateError
        _error(exc)
        return 2
    except _NoStdout:
        _error("standard output is closed or its reader left; nothing more is written")
        with_devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(with_devnull, 1)  # the interpreter's final flush must not fail again
        os.close(with_devnull)
        return EXIT_NO_STDOUT
    except OSError as exc:  # e.g. the disk filled up while a report was written
        _error(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))
        return 2
    finally:
        for p in progresses:
            p.done()


def _entry(argv, restore: bool) -> int:
    global _STATE
    state = _STATE = _Signals()
    code = None
    try:
        try:
            state.install()  # first: a signal from here on gives one line and 130/143
            _ready()
            code = _main(argv)
        finally:
            state.closing = True  # nothing raises after this line
    except KeyboardInterrupt:
        pass
    except BaseException:  # noqa: BLE001  e.g. numpy turns a KeyboardInterrupt mid-import into
        if state.signum is None:  # ImportError: after a signal, the signal is what happened
            raise
    if state.signum is not None or code is None:
        signum = state.signum if state.signum is not None else signal.SIGINT
        code, word = SIGNAL_EXITS[signum]
        try:
            os.write(2, f"verify-theorem: {word}\n".encode())
        except OSError:
            pass
    if restore:
        state.restore()
    _STATE = None
    return code


def main(argv=None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit code.  The signal
    handlers are restored on return (for callers inside a bigger program, e.g. tests)."""
    return _entry(argv, restore=True)


def console() -> None:
    """The ``verify-theorem`` entry point: :func:`main`, keeping its signal handlers to the end
    (a signal while the interpreter exits still gives one line and 130/143)."""
    sys.exit(_entry(None, restore=False))


if __name__ == "__main__":
    console()
