"""verify-theorem CLAIM [options]: print a verdict table; exit 0 iff every check passed.

CLAIM may be ``all`` (every registered claim).  ``--report DIR`` writes a Markdown report per
claim (and, for ``all``, the index DIR/README.md) with figures beside it; the negative controls
are always run for a report.  Everything that can be checked before the run (options, limits,
the claims' hypotheses, the report directory) is checked first.

Exit codes: 0 every check passed, 1 some check did not pass, 2 bad usage or a violated
assumption (one line on stderr, no traceback), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap

_CANDIDATE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
ALL = "all"
WIDTH = 100  # CLI text lines stay within this many characters

EXIT_CODES = (
    ("0", "every check passed"),
    ("1", "some check did not pass (failed or inconclusive)"),
    ("2", "bad usage, a violated assumption or an unwritable report: one line on stderr"),
    ("130", "interrupted (Ctrl-C)"),
)


class _Usage(Exception):
    """argparse's complaint, re-raised so that main prints it on one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise _Usage(message)


def _positive_int(name):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be an integer; got {text!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"--{name} must be >= 1; got {v}")
        return v

    return parse


def _nonneg_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seed must be a non-negative integer; got {text!r}"
        ) from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--seed must be >= 0; got {v}")
    return v


def _variance(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--noise must be a number (a variance); got {text!r}"
        ) from None
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(
            f"--noise is a variance and must be finite and >= 0; got {text!r}"
        )
    return v


def _resolution(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--resolution must be a number; got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(
            f"--resolution is a relative Frobenius deviation and must be in (0, 1); got {text!r}"
        )
    return v


def _spectrum(text):
    from .setting import parse_spectrum

    try:
        return parse_spectrum(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("icl-verify")
    except Exception:  # noqa: BLE001  (not installed, run from a checkout: no metadata to read)
        return "unknown (not installed)"


def _wrap(text: str, indent: int = 2) -> str:
    return textwrap.fill(
        text, WIDTH - 1, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2)
    )


def _epilog() -> str:
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
            "array; its printed output is captured and shown as a note."
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
        "",
        "exit codes:",
    ]
    lines += [f"  {code:>3}  {text}" for code, text in EXIT_CODES]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from .claims import CLAIMS

    p = _Parser(
        prog="verify-theorem",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Verify a claim of Ahn, Cheng, Daneshmand & Sra (NeurIPS 2023) by exact "
        "mathematics\nand trained NumPy linear transformers; print a verdict table.",
        epilog=_epilog(),
    )
    p.add_argument("claim", help=f"claim id: {', '.join(CLAIMS)}, or all")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--d", type=_positive_int("d"), help="covariate dimension (default 5)")
    p.add_argument("--n", type=_positive_int("n"), help="context examples per prompt (default 20)")
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
        "--noise", type=_variance, help="variance of the context-label noise (default 0)"
    )
    p.add_argument(
        "--layers",
        type=_positive_int("layers"),
        help="number of layers (claims 3, 4, lemma4; default 3)",
    )
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")
    p.add_argument("--quick", action="store_true", help="smaller samples (wider tolerances)")
    p.add_argument(
        "--resolution",
        type=_resolution,
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


def load_candidate(spec: str):
    """Import ``package.module:function`` (no eval); ValueError if it cannot be found.

    Importing runs the module's top-level code, so its stdout is captured and any exception
    (SystemExit included) becomes a CandidateError."""
    import importlib

    from .candidate import _captured_stdout, _one_line
    from .errors import CandidateError

    if not _CANDIDATE.match(spec):
        raise CandidateError(f"--candidate must look like package.module:function; got {spec!r}")
    mod_name, fn_name = spec.split(":")
    sys.path.insert(0, "")  # allow modules in the current directory, like `python -m`
    try:
        with _captured_stdout():
            mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise CandidateError(
            f"--candidate: cannot import module {mod_name!r}: {_one_line(exc)}"
        ) from None
    except BaseException as exc:  # noqa: BLE001  (the module's own top-level code failed)
        raise CandidateError(
            f"--candidate: importing {mod_name!r} raised {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    finally:
        sys.path.pop(0)
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise CandidateError(f"--candidate: {mod_name!r} has no callable {fn_name!r}")
    return fn


def _options(args, progress) -> dict:
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
        "progress": progress,
        "resolution": args.resolution,
    }
    if args.no_rotation:
        options["rotate"] = False
    return options


def _claim_ids(claim: str) -> list:
    from .claims import CLAIMS, get_claim

    return list(CLAIMS) if claim.strip().lower() == ALL else [get_claim(claim).id]


def _preflight(args, ids, options) -> None:
    """Everything checkable before work: combinations, report directory, every claim's setting."""
    from .api import prepare
    from .errors import UsageError

    if args.no_figures and args.report is None:
        raise UsageError("--no-figures applies only with --report DIR")
    if args.scale != "default" and args.report is None:
        raise UsageError("--scale applies only with --report DIR")
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
    if args.report is not None:
        from .report.io import check_report_dir

        check_report_dir(
            args.report, [f"{cid}.md" for cid in ids] + (["README.md"] if len(ids) > 1 else [])
        )
    for cid in ids:
        prepare(cid, options, candidate=bool(args.candidate))


def _summary(verdicts, seconds: float) -> str:
    """The closing line of a multi-claim run: claims passed, failed, inconclusive; total time."""
    counts = {
        st: sum(v.status == st for v in verdicts) for st in ("passed", "failed", "inconclusive")
    }
    return (
        f"{len(verdicts)} claims: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['inconclusive']} inconclusive; total time {seconds:.1f} s"
    )


def _run(args, ids, options, new_progress) -> int:
    """Each verdict is written (and flushed) as soon as it is done, also into a pipe; a run of
    several claims ends with :func:`_summary` (on stderr with ``--format json``, whose stdout is
    ONE document: ``{"claims": [...], "summary": {...}}``, the verdicts streamed into the list)."""
    import time

    from .api import check_candidate, verify_theorem

    t0 = time.perf_counter()
    many = len(ids) > 1
    if args.report is not None:
        from .report import write_reports

        options.pop("progress")

        def done(cid, v):
            ok = sum(c.passed for c in v.checks)
            print(
                f"claim {cid}: {v.status.upper()} ({ok}/{len(v.checks)} checks passed) -> {cid}.md",
                flush=True,
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
            print(_summary(verdicts, time.perf_counter() - t0), flush=True)
        return 0 if all(v.passed for v in verdicts) else 1
    if args.candidate:
        fn = load_candidate(args.candidate)
        options["progress"] = new_progress(f"claim {ids[0]} ")
        verdicts = [check_candidate(ids[0], fn, **options)]
        options["progress"].done()
        print(verdicts[0].render(args.format))
        return 0 if verdicts[0].passed else 1
    stream = args.format == "json" and many
    if stream:
        print('{\n  "claims": [', flush=True)
    verdicts = []
    for i, cid in enumerate(ids):
        options["progress"] = new_progress(f"claim {cid} ")
        v = verify_theorem(cid, **options)
        options["progress"].done()
        verdicts.append(v)
        if stream:
            print(("," if i else "") + textwrap.indent(v.to_json(), "    "), flush=True)
        else:
            print(("\n" if i else "") + v.render(args.format), flush=True)
    if many:
        line = _summary(verdicts, time.perf_counter() - t0)
        if stream:
            counts = {
                st: sum(v.status == st for v in verdicts)
                for st in ("passed", "failed", "inconclusive")
            }
            print('  ],\n  "summary": ' + json.dumps(counts) + "\n}", flush=True)
            print(line, file=sys.stderr, flush=True)
        else:
            print(line, flush=True)
    return 0 if all(v.passed for v in verdicts) else 1


def _error(message: str) -> None:
    print(f"verify-theorem: error: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv=None) -> int:
    progresses = []

    def new_progress(label):
        from .progress import Progress

        progresses.append(Progress(sys.stderr, label))
        return progresses[-1]

    def stop_progress():
        for p in progresses:
            p.done()

    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0)
        ids = _claim_ids(args.claim)
        options = _options(args, None)
        _preflight(args, ids, options)
        return _run(args, ids, options, new_progress)
    except KeyboardInterrupt:
        stop_progress()
        print("verify-theorem: interrupted", file=sys.stderr)
        return 130
    except (
        _Usage,
        ValueError,
    ) as exc:  # ValueError covers UsageError, AssumptionError, CandidateError
        stop_progress()
        _error(exc)
        return 2
    except BrokenPipeError:  # e.g. `verify-theorem 1 | head`: the reader left; say nothing more
        stop_progress()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:  # e.g. the disk filled up while a report was written
        stop_progress()
        _error(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))
        return 2
    finally:
        stop_progress()


if __name__ == "__main__":
    sys.exit(main())
