"""`python -m benchmarks.tapped_server TAP_FILE [streamlit run arguments]`: the app's server as `streamlit run`
starts it, plus one thread that writes how far each active run has got to TAP_FILE, four times a second.

The watching benchmark (benchmarks/live.py) counts CPU seconds per batch trained. The batches come from the
server's own job registry through this tap, so that no page has to be open to know them: one line per run
and tick, `<time.monotonic()> <job id> <batches trained> <worker pid or 0> <state>`. With $BENCH_CPU_PROFILE
set to a file, a sampling profiler writes where the server's CPU goes there; with $BENCH_SCRIPT_PROFILE, the
script runs' own profile (benchmarks/cpu_sampler.py).
"""
from __future__ import annotations

import os
import sys
import threading
import time

TAP_SECONDS = 0.25


def _registry():
    executors = sys.modules.get("core.runs.executors")
    return getattr(executors, "_registry", None) if executors is not None else None  # made by the first page


def tap(path: str) -> None:
    """Append each active run's progress to `path` every TAP_SECONDS, for as long as the server runs."""
    with open(path, "a", buffering=1) as out:
        while True:
            registry = _registry()
            for job in registry.active() if registry is not None else ():
                steps = job.progress().steps
                out.write(f"{time.monotonic():.3f} {job.id} {steps} {getattr(job, 'worker_pid', None) or 0} "
                          f"{job.state.value}\n")
            time.sleep(TAP_SECONDS)


def read_tap(path: str, job_id: str) -> list[tuple[float, int, int]]:
    """(time, batches, worker pid) of `job_id`, in the order written."""
    rows = []
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return rows
    for line in lines:
        parts = line.split()
        if len(parts) == 5 and parts[1] == job_id:
            rows.append((float(parts[0]), int(parts[2]), int(parts[3])))
    return rows


def batches_at(rows: list[tuple[float, int, int]], when: float) -> float:
    """Batches trained at time `when`, interpolated between the tap's lines around it."""
    before = [r for r in rows if r[0] <= when]
    after = [r for r in rows if r[0] >= when]
    if not before or not after:
        raise ValueError("the tap has no line on both sides of that time")
    (t0, b0, _), (t1, b1, _) = before[-1], after[0]
    return float(b0) if t1 == t0 else b0 + (b1 - b0) * (when - t0) / (t1 - t0)


def main() -> None:
    path, arguments = sys.argv[1], sys.argv[2:]
    threading.Thread(target=tap, args=(path,), name="progress-tap", daemon=True).start()
    if os.environ.get("BENCH_CPU_PROFILE"):  # where the server's CPU goes (benchmarks/cpu_sampler.py)
        from benchmarks import cpu_sampler

        cpu_sampler.start(os.environ["BENCH_CPU_PROFILE"])
    if os.environ.get("BENCH_SCRIPT_PROFILE"):  # every script run under cProfile (benchmarks/cpu_sampler.py)
        from benchmarks import cpu_sampler

        cpu_sampler.profile_script_runs(os.environ["BENCH_SCRIPT_PROFILE"])
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *arguments]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
