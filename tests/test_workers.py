"""Runs in spawned worker processes (core/runs/workers.py): they train, report live, stop, fail cleanly, leave no orphans."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from run_checks import trains_reports_live_and_saves

from core.fit.config import TrainConfig
from core.fit.progress import JobState
from core.runs.queue import JobRegistry
from core.runs.thread import TrainingJob
from core.runs.workers import WorkerPool
from core.store import DEFAULT_MODEL

from waiting import wait_until

pytestmark = pytest.mark.slow  # real training runs, or processes importing TensorFlow

ROOT = Path(__file__).resolve().parent.parent
LONG = TrainConfig.for_preset("mlp-128-64", epochs=20, batch_size=16, limit=20000)  # minutes: always stopped


def running(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child nobody reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def pool():
    pool = WorkerPool(grace=20.0)
    yield pool
    pool.close()


def test_run_in_a_worker_trains_reports_live_and_saves(store, pool):
    priority = []  # while it trains, the worker yields the CPU to the server
    job = trains_reports_live_and_saves(store, pool, "w", batch_size=32, while_running=lambda job: priority.append(
        os.getpriority(os.PRIO_PROCESS, job.worker_pid)))
    assert priority[0] >= os.getpriority(os.PRIO_PROCESS, 0) + 10, "the worker runs at a lower priority than the server"
    assert wait_until(lambda: job.worker_pid in pool.idle_pids(), timeout=30), "the worker waits for the next run"


def test_a_run_started_while_a_streamlit_script_is_main_never_runs_that_script(store, pool, tmp_path, monkeypatch):
    """Streamlit makes the script it runs `__main__` (app.py in the app, a test's own script under AppTest); a worker
    started then must not run it again as `__mp_main__` (a script made for Streamlit fails there)."""
    import types

    script = tmp_path / "made_for_streamlit.py"
    ran = tmp_path / "ran"
    script.write_text(f"open({str(ran)!r}, 'w').write('ran')\nscript(*__args)  # defined only inside Streamlit\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    job = JobRegistry(1, store, pool).submit(TrainConfig.for_preset("linear", epochs=1, limit=300, name="m"))
    assert job.wait(timeout=120) and job.progress().error is None, job.progress().error
    assert job.progress().state == JobState.FINISHED and not ran.exists()


def test_stop_ends_the_run_and_keeps_what_it_learned(store, pool):
    job = JobRegistry(1, store, pool).submit(LONG.replace(name="stopped"))
    assert wait_until(lambda: job.progress().steps >= 20)
    job.stop()
    at_stop = job.progress().steps
    assert job.wait(timeout=120)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.error is None
    assert progress.steps <= at_stop + 10, "trained on well past Stop"
    assert len(progress.epoch_log) == 1, "the interrupted epoch is closed, no further epoch starts"
    assert progress.result is not None and store.read_meta("stopped").stopped_early is True


def test_a_worker_that_does_not_stop_is_ended_after_the_grace_time(store):
    pool = WorkerPool(grace=1.0)
    job = JobRegistry(1, store, pool).submit(LONG)
    assert wait_until(lambda: job.progress().steps >= 5)
    os.kill(job.worker_pid, signal.SIGSTOP)  # a stuck run: it cannot reach the end of its batch
    started = time.monotonic()
    job.stop()
    assert job.wait(timeout=60)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.result is None
    assert "did not stop within 1 s" in progress.error and "nothing was saved" in progress.error
    assert time.monotonic() - started < 20
    assert wait_until(lambda: not running(job.worker_pid), timeout=10)
    assert [info.name for info in store.list()] == [DEFAULT_MODEL]


@pytest.mark.parametrize("sig, words", [(signal.SIGKILL, "killed by signal 9, SIGKILL; the system may have run out of memory"),
                                        (signal.SIGSEGV, "killed by signal 11, SIGSEGV; a crash in native code")])
def test_a_dying_worker_fails_its_run_and_the_next_run_trains(store, pool, sig, words):
    registry = JobRegistry(1, store, pool)
    doomed = registry.submit(LONG)
    after = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=1000, name="after"))
    assert wait_until(lambda: doomed.progress().steps >= 5)
    assert after.progress().queue_position == 1
    if sig == signal.SIGSEGV:
        after.stop()  # one follow-up run is enough to show the slot is free again
    os.kill(doomed.worker_pid, sig)
    assert doomed.wait(timeout=60)
    progress = doomed.progress()
    assert progress.state == JobState.FAILED
    assert progress.error == f"The training process ended unexpectedly ({words})."
    if sig == signal.SIGSEGV:
        assert after.wait(timeout=10) and after.state == JobState.STOPPED and after.worker_pid is None
        return
    assert after.wait(timeout=120) and after.state == JobState.FINISHED, after.progress().error
    assert after.worker_pid != doomed.worker_pid and store.read_meta("after").test_accuracy > 0.5
    assert registry.active() == []


def test_an_error_in_the_worker_fails_the_run_with_its_message(tmp_path, pool):
    from core.store import ModelStore

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    job = JobRegistry(1, ModelStore(not_a_folder), pool).submit(TrainConfig.for_preset("linear", epochs=1, limit=500))
    assert job.wait(timeout=120)
    progress = job.progress()
    assert progress.state == JobState.FAILED and progress.steps > 0, "trained, then failed to save"
    assert progress.error.startswith("StoreError: The model store") and "is a file, not a folder" in progress.error


def test_a_warm_spare_takes_the_next_run_and_is_replaced(store):
    pool = WorkerPool(spares=1, prewarm=True)
    try:
        [spare] = pool.idle_pids()
        assert pool.wait_ready(120), "the spare imports TensorFlow before any run arrives"
        job = JobRegistry(1, store, pool).submit(TrainConfig.for_preset("linear", epochs=1, limit=1000))
        assert job.wait(timeout=120) and job.state == JobState.FINISHED, job.progress().error
        assert job.worker_pid == spare
        assert wait_until(lambda: len(pool.idle_pids()) == 2, timeout=10), "a new spare is started"
        assert spare in pool.idle_pids(), "and the worker that trained is kept for the next run"
        idle = pool.idle_pids()
    finally:
        pool.close()
    assert pool.idle_pids() == [] and wait_until(lambda: not any(running(pid) for pid in idle), timeout=10)


def test_the_app_picks_its_executor_from_the_environment(monkeypatch, capsys):
    from core.runs.executors import app_job_factory
    from core.runs.queue import max_jobs_from_env
    from core.runs.ray_server import RayExecutor

    monkeypatch.setenv("DIGIT_STUDIO_SPARE_WORKERS", "0")
    for value, kind in (("", WorkerPool), ("process", WorkerPool), ("RAY", RayExecutor), ("threads", WorkerPool)):
        monkeypatch.setenv("DIGIT_STUDIO_EXECUTOR", value)
        factory = app_job_factory()
        assert type(factory) is kind and getattr(factory, "spares", 0) == 0
    assert "'threads' is not one of thread, process, ray; using process" in capsys.readouterr().err
    monkeypatch.delenv("DIGIT_STUDIO_SPARE_WORKERS")  # the app's own default (the suite sets 0: tests/conftest.py)
    monkeypatch.setenv("DIGIT_STUDIO_EXECUTOR", "process")
    assert app_job_factory().spares == 1
    monkeypatch.setenv("DIGIT_STUDIO_EXECUTOR", "thread")
    assert app_job_factory() is TrainingJob  # a thread of this process
    monkeypatch.delenv("DIGIT_STUDIO_MAX_JOBS", raising=False)
    assert max_jobs_from_env() == max(1, os.cpu_count() // 2)
    from core.runs.executors import registry_for

    assert registry_for("process", WorkerPool()).max_running == os.cpu_count(), "cores decide, not a fixed number"
    monkeypatch.setenv("DIGIT_STUDIO_MAX_JOBS", "3")
    assert max_jobs_from_env() == 3
    process, thread = registry_for("process", WorkerPool()), registry_for("thread", TrainingJob)
    assert process.cores == os.cpu_count() and process.max_running == 3, "$DIGIT_STUDIO_MAX_JOBS caps workers"
    assert thread.cores is None and thread.max_running == 3


def test_why_a_worker_ended_in_words():
    from core.runs.out_of_process import describe_exit

    assert describe_exit(-9) == "killed by signal 9, SIGKILL; the system may have run out of memory"
    assert describe_exit(-15) == "killed by signal 15, SIGTERM"
    assert describe_exit(3) == "exit status 3" and describe_exit(None) == "its exit status is unknown"


SERVER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from core.fit.config import TrainConfig
    from core.runs.queue import JobRegistry
    from core.store import ModelStore
    from core.runs.workers import WorkerPool

    pool = WorkerPool(spares=1, prewarm=True)
    job = JobRegistry(1, ModelStore({store!r}), pool).submit(
        TrainConfig.for_preset("mlp-128-64", epochs=20, batch_size=16, limit=20000))
    while job.progress().steps < 3:
        time.sleep(0.05)
    time.sleep(1)  # the replacement spare is started after the first batch
    print("PIDS", job.worker_pid, *pool.idle_pids(), flush=True)
    print("TF", "tensorflow" in sys.modules, flush=True)
    sys.stdin.read()  # until the test closes stdin (a normal exit) or kills this server
""")


def read_lines(stream, count, timeout=120.0):
    """The first `count` lines a subprocess prints, waiting at most `timeout` seconds in all."""
    import queue
    import threading

    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.split()) for line in stream], daemon=True).start()
    found, deadline = {}, time.monotonic() + timeout
    while len(found) < count:
        try:
            words = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if words:
            found[words[0]] = words[1:]
    return found


@pytest.mark.parametrize("ending", ["killed", "exits"])
def test_no_worker_outlives_its_server(tmp_path, ending):
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), store=str(tmp_path))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        lines = read_lines(server.stdout, 2)
    finally:
        if ending == "killed":
            server.kill()
        else:
            server.stdin.close()
        server.wait(timeout=30)
    pids = [int(pid) for pid in lines.get("PIDS", [])]
    assert len(pids) == 2 and os.getpid() not in pids, lines
    assert lines["TF"] == ["False"], "the server never imports TensorFlow: the worker trains"
    assert wait_until(lambda: not any(map(running, pids)), timeout=15), f"orphan workers: {pids}"


def test_the_command_line_trains_in_a_worker_when_asked(capsys, tmp_path, monkeypatch):
    from core.cli import main

    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path))
    assert main(["train", "--arch", "linear", "--epochs", "1", "--limit", "600", "--executor", "process",
                 "--name", "cli-worker"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "saved cli-worker" in out and (tmp_path / "cli-worker.keras").exists()
    assert main(["train", "--arch", "linear", "--executor", "fork"]) == 2
    assert "invalid choice: 'fork'" in capsys.readouterr().err
