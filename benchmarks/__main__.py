"""`python -m benchmarks [--quick] [--only N ...] [--out PATH]`: run the benchmarks, write docs/benchmarks.md."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import REPORT_PATH, Report, Settings, machine  # noqa: E402

TITLES = {
    1: "1. Best accuracy: cnn-best",
    2: "2. Fast to 99%: cnn-fast against Keras' example convnet",
    3: "3. Every preset on its default settings",
    4: "4. Prediction latency",
    5: "5. Real drawings: the stroke set and the handwriting-font set",
    6: "6. Overhead of the app's machinery: TrainingJob against bare model.fit",
    7: "7. Start-up and memory",
    8: "8. Inside the network: activations and saliency",
    9: "9. Drawing while a run trains: thread against worker process",
    10: "10. Training in worker processes",
    11: "11. Thirty people drawing while a run trains",
    12: "12. Watching a run: CPU per batch with the Train page, its live panel, and drawing beside it",
    13: "13. Your drawings: keeping them from many writers at once",
    14: "14. A short run, phase by phase: a new worker and a reused one",
    15: "15. A class presses Train at once: 10 and 30 visitors",
    16: "16. Sweeps: the machinery's overhead, what pruning saves, TPE against random",
    17: "17. A class on a Ray cluster: warm actors, 10 and 30 visitors",
    18: "18. What the network imagines, and how to fool it",
    19: "19. Every page's first render on a fresh server",
    20: "20. Draw for a room: ten at once on a fresh server, and mouse-up to answer",
    21: "21. Taking the wheel: the richer snapshots, Pause and Step",
}
# Cheap sections first, the long cnn-best runs late (a report is written after every section).
ORDER = (4, 5, 13, 7, 19, 8, 18, 9, 20, 10, 14, 15, 17, 11, 12, 16, 21, 6, 2, 1, 3)


def _previous_sections(path: Path) -> dict[str, str]:
    """Section bodies of an earlier report, by title, so `--only` re-runs some and keeps the rest."""
    if not path.exists():
        return {}
    sections = {}
    for chunk in path.read_text().split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        if title in TITLES.values():
            sections[title] = body.strip() + "\n"
    return sections


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: every section, meaningless figures")
    parser.add_argument("--only", type=int, nargs="+", choices=sorted(TITLES), help="re-run only these sections, keeping the others from the existing report")
    parser.add_argument("--out", type=Path, default=REPORT_PATH)
    args = parser.parse_args(argv)

    from benchmarks import (draw_strokes, draw_while_training, drawings, explain, first_page, imagine, inference, live,
                            load, ray_runs, room, startup, steering, sweeps, training, workers)

    run = {1: training.best_accuracy, 2: training.fast_to_99, 3: training.every_preset, 4: inference.latency,
           5: lambda report: inference.robustness(report, TITLES[5]), 6: training.job_overhead, 7: startup.startup,
           8: explain.inside_latency, 9: draw_while_training.draw_while_training,
           10: lambda report: workers.worker_runs(report, TITLES[10]), 11: lambda report: load.load_test(report, TITLES[11]),
           12: lambda report: live.live_overhead(report, title=TITLES[12]),
           13: lambda report: drawings.drawings_section(report, TITLES[13]),
           14: lambda report: room.short_runs(report, TITLES[14]), 15: lambda report: room.class_runs(report, TITLES[15]),
           16: lambda report: sweeps.sweeps_section(report, TITLES[16]),
           17: lambda report: ray_runs.ray_class(report, TITLES[17]),
           18: lambda report: imagine.imagine_section(report, TITLES[18]),
           19: lambda report: first_page.first_pages(report, TITLES[19]),
           20: lambda report: draw_strokes.draw_for_a_room(report, TITLES[20]),
           21: lambda report: steering.steering_section(report, TITLES[21])}
    report = Report(Settings.for_mode(args.quick), path=args.out, header=machine())
    kept = _previous_sections(args.out) if args.only else {}
    for number in sorted(TITLES):
        report.sections[TITLES[number]] = kept.get(TITLES[number], "_Not run._\n")
    if kept:
        report.note = (f"sections {', '.join(map(str, sorted(args.only)))} re-run with `--only` at "
                       f"{time.strftime('%Y-%m-%d %H:%M')}; the others are kept from the previous report")
    report.write()
    for number in ORDER:
        if args.only and number not in args.only:
            continue
        started = time.perf_counter()
        print(f"== {TITLES[number]}", flush=True)
        try:
            run[number](report)
        except Exception as exc:  # one failed section must not lose the others
            report.add(TITLES[number], f"**Failed:** `{type(exc).__name__}: {exc}`")
            print(f"   FAILED: {exc!r}", flush=True)
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)
    report.write(finished=True)
    print(f"wrote {report.path} in {(time.perf_counter() - report.started) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
