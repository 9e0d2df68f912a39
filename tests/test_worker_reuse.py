"""Warm workers train run after run (core/runs/workers.py, core/fit/warm.py): fresh weights each time, the same
result as a fresh worker, side by side when the runs are small, a crash costs one run, memory stays put."""
import os
import signal
import time

import numpy as np
import pytest

from core.fit.config import TrainConfig
from core.fit.progress import JobState
from core.runs.queue import JobRegistry
from core.runs.sizing import cores_for
from core.runs.thread import TrainingJob
from core.runs.workers import WorkerPool

from waiting import wait_until

pytestmark = pytest.mark.slow  # real runs in worker processes

SHORT = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=2000, batch_size=64)


@pytest.fixture
def pool():
    pool = WorkerPool(grace=20.0, cores=2)
    yield pool
    pool.close()


def finished(job):
    assert job.wait(timeout=180), "the run did not end"
    progress = job.progress()
    assert progress.state == JobState.FINISHED, progress.error
    return progress


def saved_weights(store, name):
    return store.load(name).get_weights()


def test_a_reused_worker_starts_from_fresh_weights_and_matches_a_fresh_worker(store, pool):
    registry = JobRegistry(1, store, pool, cores=2)
    first = registry.submit(SHORT.replace(seed=5, name="first"))
    finished(first)
    other = registry.submit(SHORT.replace(seed=9, learning_rate=0.01, name="between"))  # moves every weight
    finished(other)
    again = registry.submit(SHORT.replace(seed=5, name="again"))
    again_progress = finished(again)
    assert first.worker_pid == other.worker_pid == again.worker_pid, "one warm worker trained all three"
    assert again_progress.phases["worker"] < 5, "it was waiting, not started"
    for a, b in zip(saved_weights(store, "first"), saved_weights(store, "again")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg="the seeded run trained the same")
    assert not all(np.allclose(a, b) for a, b in zip(saved_weights(store, "first"), saved_weights(store, "between")))

    fresh_pool = WorkerPool(grace=20.0, cores=2)
    try:
        fresh = JobRegistry(1, store, fresh_pool, cores=2).submit(SHORT.replace(seed=5, name="fresh"))
        finished(fresh)
        assert fresh.worker_pid != first.worker_pid
    finally:
        fresh_pool.close()
    for a, b in zip(saved_weights(store, "fresh"), saved_weights(store, "again")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg="a fresh worker and a reused one agree")
    assert store.read_meta("again").test_accuracy == pytest.approx(store.read_meta("fresh").test_accuracy)


def test_two_small_runs_of_two_visitors_train_side_by_side(store, pool):
    registry = JobRegistry(4, store, pool, cores=2)
    config = TrainConfig.for_preset("mlp-128-64", epochs=2, limit=6000, batch_size=32)
    assert cores_for(config, 2) == 1
    jobs = [registry.submit(config.replace(seed=i), owner=who) for i, who in enumerate(("ada", "bob"))]
    began, ended = {}, {}
    deadline = time.monotonic() + 240
    while len(ended) < 2 and time.monotonic() < deadline:
        for job in jobs:
            progress = job.progress()
            if progress.steps and job.id not in began:
                began[job.id] = time.monotonic()
            if progress.state.done and job.id not in ended:
                ended[job.id] = time.monotonic()
        time.sleep(0.02)
    for job in jobs:
        finished(job)
    assert max(began.values()) < min(ended.values()), "the second began training before the first ended"
    assert jobs[0].worker_pid != jobs[1].worker_pid


def test_a_large_run_never_shares_the_machine(store, pool):
    registry = JobRegistry(4, store, pool, cores=2)
    large = TrainConfig.for_preset("cnn-best", epochs=15)
    assert cores_for(large, 2) == 2
    big = registry.submit(large, owner="ada")
    assert wait_until(lambda: big.progress().state == JobState.RUNNING, timeout=60)
    small = registry.submit(SHORT, owner="bob")
    time.sleep(1.0)
    assert registry.running() == [big.id] and small.progress().queue_position == 1, "the small run waits"
    big.stop()
    finished(small)
    assert big.wait(timeout=120) and big.progress().state == JobState.STOPPED


def test_a_run_that_kills_its_reused_worker_fails_alone_and_the_next_gets_a_new_worker(store, pool):
    registry = JobRegistry(1, store, pool, cores=2)
    warm = registry.submit(SHORT)
    finished(warm)
    assert wait_until(lambda: warm.worker_pid in pool.idle_pids(), timeout=30)
    doomed = registry.submit(TrainConfig.for_preset("mlp-128-64", epochs=20, limit=20000, batch_size=16))
    assert wait_until(lambda: doomed.progress().steps >= 5, timeout=60)
    assert doomed.worker_pid == warm.worker_pid, "the warm worker took it"
    os.kill(doomed.worker_pid, signal.SIGKILL)
    assert doomed.wait(timeout=60)
    assert doomed.progress().state == JobState.FAILED and "SIGKILL" in doomed.progress().error
    after = registry.submit(SHORT)
    finished(after)
    assert after.worker_pid != warm.worker_pid and warm.worker_pid not in pool.idle_pids()


def test_a_worker_that_stops_responding_fails_its_run_with_the_reason_and_is_ended(store, monkeypatch):
    """TensorFlow has been seen to hang for good in a worker (core.runs.out_of_process.stall_limit_from_env):
    a worker frozen mid-run (SIGSTOP, so it sends nothing and never will) fails its run with a plain
    reason within the stall limit, is ended, and the next run gets a new worker."""
    monkeypatch.setenv("DIGIT_STUDIO_STALL_LIMIT", "3")
    pool = WorkerPool(grace=20.0, cores=2)
    try:
        registry = JobRegistry(1, store, pool, cores=2)
        frozen = registry.submit(TrainConfig.for_preset("mlp-128-64", epochs=20, limit=20000, batch_size=16))
        assert wait_until(lambda: frozen.progress().steps >= 5, timeout=60)
        pid = frozen.worker_pid
        os.kill(pid, signal.SIGSTOP)
        assert frozen.wait(timeout=60), "a frozen worker's run never ended"
        progress = frozen.progress()
        assert progress.state == JobState.FAILED and "stopped responding" in progress.error
        assert "3 s" in progress.error and "start the run again" in progress.error
        assert wait_until(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read()
                          .rsplit(")", 1)[1].split()[0] == "Z", timeout=10), "the frozen worker was not ended"
        after = registry.submit(SHORT)
        finished(after)
        assert after.worker_pid != pid
    finally:
        pool.close()


def resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_fifty_runs_in_a_row_keep_the_memory_where_it_was_after_the_fifth(store, pool):
    registry = JobRegistry(1, store, pool, cores=2)
    config = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=300, batch_size=64)
    server, workers = {}, set()
    for run in range(1, 51):
        job = registry.submit(config.replace(seed=run % 3, name=f"run-{run}"))
        finished(job)
        workers.add(job.worker_pid)
        if run in (5, 50):
            wait_until(lambda: job.worker_pid in pool.idle_pids(), timeout=30)
            server[run] = resident_bytes(os.getpid())
    [worker] = pool.idle_workers()
    assert workers == {worker.pid} and worker.runs == 50, "one worker trained all fifty (none retired)"
    assert worker.memory[49] <= 1.10 * worker.memory[4], f"worker memory grew: {worker.memory[4]} -> {worker.memory[49]}"
    assert server[50] <= 1.10 * server[5], f"server memory grew: {server[5]} -> {server[50]}"


def test_a_spare_warms_the_latest_kind_of_run_and_then_trains_it_as_a_cold_worker_would(store):
    """A presenter's demo run, then a spare that warmed its kind (core.runs.warm_up): the next run of that kind on
    the spare starts with its training step already traced, so it costs its worker a fraction of the CPU a cold
    worker spends on it (CPU, not the phases' wall time: a suite's load stalls a niced worker's first batch for
    a quarter of a second at times), and trains the same weights as on a cold worker."""
    from benchmarks.proc_cpu import cpu_seconds

    config = SHORT.replace(seed=4)
    cold_pool = WorkerPool(grace=20.0, cores=2)
    try:
        cold = JobRegistry(1, store, cold_pool, cores=2).submit(config.replace(name="cold"))
        finished(cold)
        cold_cpu = cpu_seconds(cold.worker_pid)   # its whole life, forked from the forkserver: one cold run
    finally:
        cold_pool.close()

    pool = WorkerPool(spares=1, grace=20.0, cores=2)
    try:
        registry = JobRegistry(1, store, pool, cores=2)
        finished(registry.submit(config.replace(seed=8, name="demo")))  # takes a new worker: no spare yet
        demo_pid = registry.jobs()[-1].worker_pid
        pool.top_up()   # as after a run's first batch
        spare = next(w for w in pool.idle_workers() if w.pid != demo_pid)
        assert spare.warming, "the new spare was sent the demo's kind to warm"
        assert pool.wait_warmed(180) and not spare.warming
        pool._idle.remove(demo_pid_worker := next(w for w in pool.idle_workers() if w.pid == demo_pid))
        demo_pid_worker.end()   # only the warmed spare is left to take the next run
        before = cpu_seconds(spare.pid)
        warmed = registry.submit(config.replace(name="warmed"))
        finished(warmed)
        warmed_cpu = cpu_seconds(spare.pid) - before
        assert warmed.worker_pid == spare.pid
    finally:
        pool.close()
    assert warmed_cpu < 0.6 * cold_cpu, (warmed_cpu, cold_cpu)
    for a, b in zip(saved_weights(store, "cold"), saved_weights(store, "warmed")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg="a warmed spare trains as a cold worker")


def test_a_run_sent_during_a_warm_up_ends_it_and_trains_at_once(store):
    from core.runs.workers import Worker

    long_kind = TrainConfig.for_preset("mlp-128-64", epochs=1, stroke_copies=60000)  # minutes of stroke copies first
    pool = WorkerPool(grace=20.0, cores=2)
    worker = Worker(pool._threads(1))
    try:
        assert worker.wait_ready(120)
        worker.send_warm_up([long_kind.to_dict(), SHORT.to_dict()])
        pool._idle.append(worker)
        job = JobRegistry(1, store, pool, cores=2).submit(SHORT.replace(seed=1, name="asked"))
        progress = finished(job)
        assert job.worker_pid == worker.pid
        assert not worker.warming, "the run heard the warm-up end"
        assert progress.phases["worker"] < 20, progress.phases  # not the minutes the warm-up would take
    finally:
        pool.close()
    assert store.read_meta("asked").test_accuracy > 0.5
    assert [info.name for info in store.list() if info.name != "default"] == ["asked"], "the warm-up saved nothing here"


def test_only_short_fresh_training_runs_are_warmed():
    """A spare warms what a room starts (short runs); not what would cost it minutes or is not a plain run."""
    from core.runs.warm_up import RecentKinds, kind_of

    assert kind_of(SHORT) is not None
    assert kind_of(SHORT.replace(seed=9, name="other")) == kind_of(SHORT), "name and seed are not the kind"
    assert kind_of(SHORT.replace(epochs=SHORT.epochs + 1)) != kind_of(SHORT)
    refused = {
        "stroke copies": SHORT.replace(stroke_copies=1000),
        "a long run": TrainConfig.for_preset("cnn-best"),
        "a fine-tune": SHORT.replace(start_from="default"),
        "the drawings": SHORT.replace(drawings_weight=2),
    }
    for why, config in refused.items():
        assert kind_of(config) is None, why
    assert kind_of({"arch": "mlp-128-64"}) is None, "not a TrainConfig"
    kinds = RecentKinds()
    for config in [SHORT, *refused.values(), SHORT.replace(epochs=1), SHORT.replace(epochs=3)]:
        kinds.remember(config)
    assert [c["epochs"] for c in kinds.configs()] == [1, 3], "the latest two kinds, the refused ones skipped"


def test_an_expected_kind_of_run_is_warmed_at_once_by_a_worker_for_each_core(store):
    """The Train page shows a run (pages/parts/train_links.expect_shown): the idle spare warms that kind now, once,
    and a second one-core worker starts and warms it too, so both of the class's first two runs (side by side on
    2 cores) start warm."""
    pool = WorkerPool(spares=1, grace=20.0, cores=2)
    try:
        registry = JobRegistry(1, store, pool, cores=2)
        pool.top_up()
        [spare] = pool.idle_workers()
        assert spare.wait_ready(120) and spare.warming, "no kind known yet: a fresh spare warms the smallest run"
        assert pool.wait_warmed(180) and spare.warmed_runs == 1
        assert not registry.expect(SHORT.replace(stroke_copies=1000)), "not a kind worth warming"
        assert len(pool.idle_workers()) == 1, "nothing started for a kind that is not warmed"
        assert registry.expect(SHORT.replace(name="from-a-link")) and spare.warming
        workers = pool.idle_workers()
        assert len(workers) == 2 and all(w.threads == 1 for w in workers), "one idle one-core worker per core"
        assert pool.wait_warmed(180) and [w.warmed_runs for w in workers] == [2, 1], "the link's kind, once each"
        assert not registry.expect(SHORT.replace(seed=3)), "the same kind: warmed already"
        assert len(pool.idle_workers()) == 2, "none started beyond one per core"
        job = registry.submit(SHORT.replace(name="pressed-start"))
        finished(job)
        assert job.worker_pid in {w.pid for w in workers} and store.read_meta("pressed-start").test_accuracy > 0.5
        assert [info.name for info in store.list() if info.name != "default"] == ["pressed-start"], \
            "the warm-ups saved nothing"
    finally:
        pool.close()
    no_spares = WorkerPool(spares=0, grace=20.0, cores=2)
    try:
        assert not JobRegistry(1, store, no_spares, cores=2).expect(SHORT) and not no_spares.idle_workers(), \
            "no spares wanted (DIGIT_STUDIO_SPARE_WORKERS=0): no worker started ahead"
    finally:
        no_spares.close()
    assert not JobRegistry(1, store, TrainingJob).expect(SHORT), "threads of the server: nothing to get ready"
