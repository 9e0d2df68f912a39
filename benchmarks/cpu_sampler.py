"""Where a server's CPU goes, every thread of it: a sampling profiler for benchmarks/tapped_server.py.

Every few milliseconds it reads each thread's CPU ticks (/proc/self/task/<tid>/stat) and, for the threads that
used CPU since the last look, counts the functions on their Python stack (each once per stack), weighted by
the ticks used. Idle threads (the event loop waiting, a script thread between runs) count nothing, so the
figures are shares of CPU, not of wall time. `python -m benchmarks.tapped_server` starts it when
$BENCH_CPU_PROFILE names a file: the report is rewritten there every few seconds; creating that file's name
plus ".reset" starts the count again.
"""
from __future__ import annotations

import collections
import os
import sys
import threading
import time
from pathlib import Path

CLOCK = os.sysconf("SC_CLK_TCK")


def _thread_ticks() -> dict[int, int]:
    ticks = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[int(task.name)] = int(fields[11]) + int(fields[12])
    return ticks


class CpuSampler:
    """Counts, per function (file:name), the CPU ticks of the threads that had it on their stack."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.inclusive: collections.Counter = collections.Counter()
        self.own: collections.Counter = collections.Counter()
        self.by_thread: collections.Counter = collections.Counter()
        self.total = 0

    def sample_forever(self, report: str, every: float = 5.0) -> None:
        me, last, written = threading.get_native_id(), _thread_ticks(), time.monotonic()
        while True:
            time.sleep(self.interval)
            now = _thread_ticks()
            native = {t.native_id: t for t in threading.enumerate()}
            frames = sys._current_frames()
            for tid, ticks in now.items():
                used = ticks - last.get(tid, ticks)
                if used <= 0 or tid == me:
                    continue
                thread = native.get(tid)
                self.total += used
                self.by_thread[thread.name if thread else f"native-{tid}"] += used
                frame = frames.get(thread.ident) if thread else None
                seen, top = set(), True
                while frame is not None:
                    code = frame.f_code
                    key = f"{_short(code.co_filename)}:{code.co_name}"
                    if top:
                        self.own[key] += used
                        top = False
                    if key not in seen:
                        self.inclusive[key] += used
                        seen.add(key)
                    frame = frame.f_back
                if thread is None or thread.ident not in frames:
                    self.own["<no Python frame>"] += used
            last = now
            reset = Path(report + ".reset")
            if reset.exists():  # a benchmark asks to count from now on
                self.inclusive.clear(), self.own.clear(), self.by_thread.clear()
                self.total = 0
                reset.unlink(missing_ok=True)
            if time.monotonic() - written > every:
                Path(report).write_text(self.text())
                written = time.monotonic()

    def text(self, lines: int = 80) -> str:
        total = max(1, self.total)
        out = [f"CPU seconds sampled: {self.total / CLOCK:.1f}", "", "by thread:"]
        out += [f"{100 * v / total:6.1f}% {k}" for k, v in self.by_thread.most_common(12)]
        out += ["", "inclusive (the function or what it called):"]
        out += [f"{100 * v / total:6.1f}% {k}" for k, v in self.inclusive.most_common(lines)]
        out += ["", "own (the function itself, at the top of the stack):"]
        out += [f"{100 * v / total:6.1f}% {k}" for k, v in self.own.most_common(lines // 2)]
        return "\n".join(out) + "\n"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.relpath(filename) if filename.startswith("/") else filename


def start(report: str) -> CpuSampler:
    sampler = CpuSampler()
    threading.Thread(target=sampler.sample_forever, args=(report,), name="cpu-sampler", daemon=True).start()
    return sampler


def profile_script_runs(report: str, every: float = 5.0) -> None:
    """cProfile every script and fragment run of this server on its thread's CPU clock, the figures added up
    and written to `report` (pstats, sorted by cumulative time) every few seconds; `report` + ".reset" starts
    the count again. Exact where the sampler guesses, but only for the script threads (not the event loop)."""
    import cProfile
    import io
    import pstats

    from streamlit.runtime.scriptrunner import script_runner

    lock, totals = threading.Lock(), {"stats": None}
    original = script_runner.ScriptRunner._run_script

    def profiled(self, *args, **kwargs):
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            return original(self, *args, **kwargs)
        finally:
            profile.disable()
            with lock:
                if totals["stats"] is None:
                    totals["stats"] = pstats.Stats(profile)
                else:
                    totals["stats"].add(profile)

    def write_forever():
        while True:
            time.sleep(every)
            reset = Path(report + ".reset")
            with lock:
                if reset.exists():
                    totals["stats"] = None
                    reset.unlink(missing_ok=True)
                    continue
                if totals["stats"] is None:
                    continue
                out = io.StringIO()
                totals["stats"].stream = out
                totals["stats"].sort_stats("cumulative").print_stats(70)
            Path(report).write_text(out.getvalue())

    script_runner.ScriptRunner._run_script = profiled
    threading.Thread(target=write_forever, name="script-profile-writer", daemon=True).start()
