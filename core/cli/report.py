"""`python -m core report NAME --out run.html` (one model) or `python -m core report --sweep ID --out sweep.html`:
a report to share, one self-contained HTML file (every picture inside it, no script, nothing fetched)."""
from __future__ import annotations

from pathlib import Path

from core.cli.common import UsageError


def add_parser(sub) -> None:
    report = sub.add_parser("report", help="write a model's or a sweep's report as one self-contained HTML file")
    report.add_argument("name", nargs="?", help="the model (see `models`)")
    report.add_argument("--sweep", type=int, help="a sweep's number instead of a model")
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--mistakes", type=int, default=24, help="how many mistakes to show (0: none; default 24)")


def run(args) -> int:
    from core.store import ModelStore, validate_name

    if (args.name is None) == (args.sweep is None):
        raise UsageError("give a model's name or --sweep ID (one of them)")
    if not 0 <= args.mistakes <= 200:
        raise UsageError(f"--mistakes must be from 0 to 200 (got {args.mistakes})")
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name such as run.html")
    store = ModelStore()
    if args.sweep is not None:
        from core.reports.sweep_report import sweep_report
        from core.sweeps.records import SweepBook, SweepRecordError

        try:
            record = SweepBook().get(args.sweep)
        except SweepRecordError as exc:
            raise UsageError(str(exc)) from None
        if record is None:
            raise UsageError(f"no sweep {args.sweep} (see the Compare page, or `python -m core sweep`)")
        text = sweep_report(record, store)
    else:
        from core.reports.model_report import model_report

        validate_name(args.name)
        text = model_report(store, args.name, mistakes=args.mistakes)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({len(text.encode()) / 1024:,.0f} KB)")
    return 0
