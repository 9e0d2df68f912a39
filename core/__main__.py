"""`python -m core ...`: the command line (core.cli)."""
import atexit
import os
import signal
import sys

from core.cli import main
from core.cli.common import ExitNow

if __name__ == "__main__":
    # Ctrl-C raises KeyboardInterrupt (and stops a run cleanly) even when started from a shell
    # that left SIGINT ignored, as a background job of a non-interactive shell does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = main()
    except ExitNow as done:  # a Ctrl-C'd run: out now, not after seconds of teardown (or a crash in a busy thread)
        sys.stdout.flush()
        sys.stderr.flush()
        if done.hooks:
            atexit._run_exitfuncs()  # the atexit hooks (worker processes, Ray), without the interpreter's teardown
        os._exit(done.status)
    sys.exit(status)
