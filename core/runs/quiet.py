"""Keep TensorFlow's native log lines (absl "I0000 ..." notices, cuInit errors) off the user's terminal.

TensorFlow 2.21 writes them from C++ straight to file descriptor 2 before any Python
setting can act (TF_CPP_MIN_LOG_LEVEL does not silence them), so fd 2 is routed through
a pipe and every other line is passed on unchanged.
"""
from __future__ import annotations

import os
import re
import sys
import threading

NATIVE_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\])")


def _forward(read_fd: int, write_fd: int) -> None:
    with os.fdopen(read_fd, "rb") as source:
        for line in source:
            if not NATIVE_LOG_LINE.match(line):
                os.write(write_fd, line)


def filter_native_logs():
    """Filter fd 2 from now on; returns a function that restores it and flushes what is pending."""
    sys.stderr.flush()
    real = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_forward, args=(read_fd, real), daemon=True, name="native-log-filter")
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(real, 2)          # the pipe's last writer closes: the forwarder reads to the end and stops
        thread.join(timeout=2)
        os.close(real)

    return restore
