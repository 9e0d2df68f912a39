"""`python -m core ...`: the command line (core.cli)."""
import signal
import sys

from core.cli import main

if __name__ == "__main__":
    # Ctrl-C raises KeyboardInterrupt (and stops a run cleanly) even when started from a shell
    # that left SIGINT ignored, as a background job of a non-interactive shell does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
