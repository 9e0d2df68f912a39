"""CPU time of processes from /proc: what a process itself used (utime + stime), whatever else the machine runs.

On a shared machine wall time carries other people's load; a process's own CPU seconds do not (much), so the
benchmarks that must give the same answer twice count CPU seconds.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

CLOCK = os.sysconf("SC_CLK_TCK")


def stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, CPU ticks used, command name) of a live process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), name


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used; 0 once it is gone."""
    info = stat(pid)
    return info[1] / CLOCK if info else 0.0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> dict[int, tuple[int, int, str]]:
    """Every live process under `root`: pid -> (parent, CPU ticks, name)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = stat(int(entry))
            if info:
                table[int(entry)] = info
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, info in table.items():
            if info[0] == parent and pid not in found:
                found[pid] = info
                frontier.append(pid)
    return found


def busy_ticks() -> int:
    """CPU ticks the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4]  # less idle and iowait


class Tally:
    """CPU seconds of this process and every process under it, by kind, from `start()` to `stop()`; and what
    the rest of the machine used meanwhile ("others": other people's work on a shared machine, the noise).

    `kind_of(pid, name)` names each process's kind (server, worker, browser, ...). A process that ends
    between the two moments is not counted: open and close pages outside them."""

    def __init__(self, kind_of):
        self.kind_of = kind_of
        self.kinds: dict[int, str] = {}

    def _now(self) -> dict[int, int]:
        table = {pid: info[1] for pid, info in descendants(os.getpid()).items()}
        own = stat(os.getpid())
        table[os.getpid()] = own[1] if own else 0
        for pid in table:
            if pid not in self.kinds:
                info = stat(pid)
                self.kinds[pid] = self.kind_of(pid, info[2] if info else "")
        return table

    def start(self) -> "Tally":
        self.started, self.busy = time.monotonic(), busy_ticks()
        self.before = self._now()
        return self

    def stop(self) -> "Tally":
        after = self._now()
        self.seconds = time.monotonic() - self.started
        self.used: dict[str, float] = {}
        for pid, ticks in after.items():
            kind = self.kinds[pid]
            self.used[kind] = self.used.get(kind, 0.0) + (ticks - self.before.get(pid, 0)) / CLOCK
        ours = sum(self.used.values())
        self.used["others"] = max(0.0, (busy_ticks() - self.busy) / CLOCK - ours)
        return self

    def share(self, kind: str) -> float:
        """CPU used by `kind` as a share of one core over the interval."""
        return self.used.get(kind, 0.0) / self.seconds
