"""The `daf` command line. Snakemake rules call these subcommands; so can users.

Each module of this package holds a few commands: a handler parses its flags, calls the
library, and prints; `add_parsers` declares its flags. User errors (bad names, bad config,
missing files) print one line `daf: error: ...` and exit with status 2; no traceback, no
partial output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from daf.errors import UserError


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user error
        self.exit(2, f"daf: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from daf.cli import compare, evaluate, info, ops, population, report, sweep, train

    parser = Parser(prog="daf", description="DAF: train, evaluate, compare and report on CoGames missions.")
    parser.add_argument("--version", action="version", version=f"daf {_version()}")
    parser.add_argument(
        "--log-json", metavar="FILE", help="append structured JSON-lines records of this command to FILE"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (info, evaluate, train, compare, population, report, sweep, ops):
        module.add_parsers(sub, Parser)
    return parser


def _version() -> str:
    from daf.versions import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    from daf.logs import EventLog

    args = build_parser().parse_args(argv)
    command = " ".join(filter(None, [args.command, getattr(args, "action", None)]))
    log = EventLog(args.log_json or os.environ.get("DAF_LOG_JSON"), command)
    rank = {"rank": int(os.environ["RANK"])} if "RANK" in os.environ else {}  # torchrun ranks share the file
    log.event("start", argv=list(sys.argv[1:] if argv is None else argv), **rank)
    started = time.perf_counter()

    def finish(status: str, **fields) -> None:
        log.event("end", status=status, duration_s=round(time.perf_counter() - started, 3), **rank, **fields)

    try:
        metrics = args.func(args)
    except UserError as exc:  # bad input (2), or a run that failed for a known reason (1)
        # a wrapped exception (e.g. a policy's own code) keeps its traceback for the log and DAF_DEBUG=1
        trace = "".join(traceback.format_exception(exc)) if exc.__cause__ is not None else None
        finish("error", error=str(exc), **({"traceback": trace} if trace else {}))
        if trace and os.environ.get("DAF_DEBUG") == "1":
            print(trace, file=sys.stderr, end="")
        print(f"daf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        finish("ok", metrics={})
        return 0
    except SystemExit as exc:
        finish("ok" if not exc.code else "failed", exit_code=exc.code)
        raise
    except BaseException as exc:  # a crash or an interrupt: record it, then let it propagate
        finish("crash", error=f"{type(exc).__name__}: {exc}")
        raise
    finish("ok", metrics=metrics if isinstance(metrics, dict) else {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
