"""``verify-theorem CLAIM [options]``: print a verdict table; exit 0 iff every check passed.

``CLAIM`` may be ``all`` (every registered claim).  ``--report DIR`` writes a Markdown report
per claim (and, for ``all``, the index ``DIR/README.md``) with figures beside it; the
negative controls are always run for a report.

Exit codes: 0 all checks passed, 1 some check failed, 2 bad usage or a violated assumption
(one-line message on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

from .api import check_candidate, verify_theorem
from .claims import CLAIMS
from .progress import Progress
from .setting import parse_spectrum

_CANDIDATE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(message)


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
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer; got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--seed must be >= 0; got {v}")
    return v


def _variance(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--noise must be a number (a variance); got {text!r}") from None
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"--noise is a variance and must be finite and >= 0; got {text!r}")
    return v


def _spectrum(text):
    try:
        return parse_spectrum(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="verify-theorem", description=__doc__.splitlines()[0])
    p.add_argument("claim", help=f"claim id: {', '.join(CLAIMS)}, or all")
    p.add_argument("--d", type=_positive_int("d"), help="covariate dimension (default 5)")
    p.add_argument("--n", type=_positive_int("n"), help="context examples per prompt (default 20)")
    p.add_argument("--spectrum", type=_spectrum, help="eigenvalues of Sigma, l1,...,ld "
                   "(default the paper's 1,1,0.25,0.0625,1; all ones for claim 5)")
    p.add_argument("--no-rotation", action="store_true", help="Sigma diagonal instead of U^T D U")
    p.add_argument("--prior", choices=("identity", "inverse"), help="w* ~ N(0, I) or N(0, Sigma^-1)")
    p.add_argument("--noise", type=_variance, help="variance of the context-label noise (default 0)")
    p.add_argument("--layers", type=_positive_int("layers"), help="number of layers (multi-layer claims)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")
    p.add_argument("--quick", action="store_true", help="smaller samples (wider tolerances)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--controls", action="store_true", help="also run the negative controls")
    p.add_argument("--candidate", metavar="MODULE:FUNCTION",
                   help="check your own closed form: FUNCTION(sigma=..., n=...) -> d x d preconditioner")
    p.add_argument("--report", metavar="DIR", help="write Markdown reports and figures to DIR "
                   "(negative controls on; with claim 'all' also DIR/README.md)")
    p.add_argument("--no-figures", action="store_true", help="with --report: skip the figures (no training runs)")
    return p


def load_candidate(spec: str):
    """Import ``package.module:function`` (no eval); ValueError if it cannot be found."""
    if not _CANDIDATE.match(spec):
        raise ValueError(f"--candidate must look like package.module:function; got {spec!r}")
    mod_name, fn_name = spec.split(":")
    sys.path.insert(0, "")  # allow modules in the current directory, like `python -m`
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"--candidate: cannot import module {mod_name!r}: {exc}") from None
    finally:
        sys.path.pop(0)
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise ValueError(f"--candidate: {mod_name!r} has no callable {fn_name!r}")
    return fn


ALL = "all"


def _claim_ids(claim: str) -> list:
    from .claims import get_claim
    return list(CLAIMS) if claim.strip().lower() == ALL else [get_claim(claim).id]


def _report(args, options) -> int:
    from .report import write_reports
    if args.candidate:
        raise UsageError("--report writes the reports of the paper's closed forms; it cannot be combined with --candidate")
    ids = _claim_ids(args.claim)
    options.pop("progress").done()
    verdicts = write_reports(ids, args.report, index=args.claim.strip().lower() == ALL,
                             figures=not args.no_figures,
                             progress_factory=lambda cid: Progress(sys.stderr, f"claim {cid} "), **options)
    for cid, v in zip(ids, verdicts):
        ok = sum(c.passed for c in v.checks)
        print(f"claim {cid}: {'PASSED' if v.passed else 'FAILED'} ({ok}/{len(v.checks)} checks) -> {cid}.md")
    return 0 if all(v.passed for v in verdicts) else 1


def _all(args, options) -> int:
    if args.candidate:
        raise UsageError("--candidate checks one claim's closed form; name the claim instead of 'all'")
    verdicts = []
    for cid in list(CLAIMS):
        options["progress"] = Progress(sys.stderr, f"claim {cid} ")
        verdicts.append(verify_theorem(cid, **options))
        options["progress"].done()
    print("\n\n".join(v.render(args.format) for v in verdicts))
    return 0 if all(v.passed for v in verdicts) else 1


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        options = {"d": args.d, "n": args.n, "spectrum": args.spectrum, "prior": args.prior,
                   "noise": args.noise, "seed": args.seed, "quick": args.quick, "layers": args.layers,
                   "controls": args.controls, "progress": Progress(sys.stderr, f"claim {args.claim} ")}
        if args.no_rotation:
            options["rotate"] = False
        if args.no_figures and args.report is None:
            raise UsageError("--no-figures applies only with --report DIR")
        if args.report is not None:
            return _report(args, options)
        if args.claim.strip().lower() == ALL:
            return _all(args, options)
        if args.candidate:
            verdict = check_candidate(args.claim, load_candidate(args.candidate), **options)
        else:
            verdict = verify_theorem(args.claim, **options)
        options["progress"].done()
    except (UsageError, ValueError) as exc:
        print(f"verify-theorem: error: {exc}", file=sys.stderr)
        return 2
    print(verdict.render(args.format))
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
