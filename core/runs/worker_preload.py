"""Imported once, by the forkserver that forks every worker process (core.runs.workers), never by the server:
TensorFlow with the training code, and every dataset (with its live panel's margins and its normalised test images). Each worker is forked with them already loaded,
so it starts in about a second instead of paying 3-5 s of CPU to import TensorFlow itself, and the datasets'
pages are shared between the workers (copy-on-write: nobody writes them) rather than read and checked by each. No TensorFlow op runs here, so
no runtime thread pool exists yet when a worker is forked."""
import multiprocessing.spawn
import os

from core.runs.workers import WORKER_NICENESS


def _keep_the_servers_main_script_out(main_path: str) -> None:
    """Stands in for multiprocessing.spawn._fixup_main_from_path in every worker forked from here. Streamlit makes
    each script it runs `__main__` (app.py in the app; a page, or a test's own script, under AppTest), and a worker
    started then would run that script again, as `__mp_main__`, before its run: an import of Streamlit for app.py,
    and a failed start for a script that only runs inside Streamlit. A worker needs none of it: what it runs,
    core.runs.workers.worker_main, lives in a module of its own."""


multiprocessing.spawn._fixup_main_from_path = _keep_the_servers_main_script_out

os.nice(WORKER_NICENESS)  # importing TensorFlow here never slows the server's first page


def _import_quietly() -> None:
    """Import the training code with fd 2 on /dev/null: TensorFlow's native start-up lines would otherwise go
    to the server's console (a worker filters its own, core.runs.quiet)."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import core.fit.training  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_quietly()

from core.data import datasets  # noqa: E402

from core.fit.watching import choose_panel  # noqa: E402

for _name in datasets.DATASETS:
    try:
        _dataset = datasets.load(_name)
        choose_panel(_dataset, seed=0)  # the panel's class-mean margins too, worked out once here
        _dataset.test_arrays()          # and the normalised test images every run is tested on
    except Exception:  # a missing or damaged file: the run that asks for it reports that, not every worker
        pass
