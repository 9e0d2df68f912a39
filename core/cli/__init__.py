"""Command line: `python -m core archs | train | lr-find | sweep | report | evaluate | predict | models | export |
drawings | imagine | attack | robustness | graph`, one module per command (each with `add_parser(sub)` and `run(args)`).

The same functions the pages call; bad arguments print one line and exit 2.
"""
from __future__ import annotations

import sys

from core.cli import (archs, attack, drawings, evaluate, export, graph, imagine, lr_find, models, predict, report,
                      robustness, sweep, train)
from core.cli.common import Parser, UsageError

COMMANDS = {"archs": archs, "train": train, "lr-find": lr_find, "evaluate": evaluate, "predict": predict,
            "models": models, "export": export, "drawings": drawings, "sweep": sweep, "report": report,
            "imagine": imagine, "attack": attack, "robustness": robustness, "graph": graph}


def parser() -> Parser:
    """The whole command line, each command adding its own arguments."""
    top = Parser(prog="python -m core", description="Digit Studio: train and use MNIST digit networks.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    from core.data.datasets import DatasetError
    from core.explain import ExplainError
    from core.fit.config import ConfigError
    from core.runs.quiet import filter_native_logs
    from core.store import StoreError

    restore = filter_native_logs()
    try:
        args = parser().parse_args(argv)
        return COMMANDS[args.command].run(args)
    except (UsageError, ConfigError, StoreError, DatasetError, ExplainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        restore()
