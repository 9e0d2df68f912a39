"""When the worker pool starts spares (core/runs/workers.py): never while every core trains a run, since the next
run takes the worker of the first run to end, and a spare starting then (a fork, a warm-up's tracing) only takes
CPU from the runs. Workers are stand-ins here: what is tested is the pool's bookkeeping, not the processes."""
import itertools

import pytest

from core.fit.config import TrainConfig
from core.runs import workers
from core.runs.warm_up import FIRST_WARM_UP, kind_of

SHORT = TrainConfig.for_preset("mlp-128-64", epochs=2, limit=10000)


class StandInWorker:
    """What the pool asks of a worker, without a process."""

    pids = itertools.count(1000)

    def __init__(self, threads=None):
        self.threads, self.pid = threads, next(self.pids)
        self.warming, self.warmed_kinds, self.sent = False, set(), []
        self.last_arch, self.last_used, self.ended = None, 0.0, False

    def alive(self):
        return not self.ended

    def forget(self):
        return None

    def send_warm_up(self, configs):
        if configs:
            self.warming = True
            self.sent.append(configs)
        return bool(configs)

    def wait_warmed(self, timeout):
        """Its events read: a warm-up that ended (`finished`) is heard of."""
        if getattr(self, "finished", False):
            self.warming = self.finished = False
        return not self.warming

    def kinds_sent(self):
        return [config["arch"] for configs in self.sent for config in configs]

    def wait_idle(self, timeout):
        return True

    def worn(self):
        return False

    def end(self, wait=5.0):
        self.ended = True


@pytest.fixture
def pool(monkeypatch):
    monkeypatch.setattr(workers, "Worker", StandInWorker)
    pool = workers.WorkerPool(spares=1, cores=2, prewarm=True)
    yield pool
    pool.close()


def test_no_spare_starts_while_every_core_trains_and_one_does_once_a_core_is_free(pool):
    [spare] = pool.idle_workers()
    pool.remember(SHORT)
    first = pool.take(1, SHORT.arch, run_id="run-1")
    assert first is spare and pool.busy_cores() == 1
    pool.top_up()   # as after the first run's first batch: a core is free, so a spare starts and warms the kind
    [new_spare] = pool.idle_workers()
    assert new_spare.sent, "the new spare warms the run's kind"
    second = pool.take(1, SHORT.arch, run_id="run-2")
    assert second is new_spare and pool.busy_cores() == 2
    pool.top_up()   # as after the second run's first batch: both cores train
    assert pool.idle_workers() == [], "no spare starts while every core trains"

    pool.give_back(first, run_id="run-1")
    assert pool.idle_workers() == [first] and pool.busy_cores() == 1
    third = pool.take(1, SHORT.arch, run_id="run-3")   # the next run takes it before run 1's own end is done
    pool.release("run-1")
    pool.top_up()
    assert third is first and pool.busy_cores() == 2 and pool.idle_workers() == [], \
        "run 1 ending frees its own core, not the one run 3 now trains on"

    pool.release("run-2")   # run 2's worker died (never given back): its core is free again
    pool.top_up()
    [replacement] = pool.idle_workers()
    assert replacement not in (first, second) and pool.busy_cores() == 1


def test_a_run_on_every_core_blocks_spares_until_it_ends(pool):
    [spare] = pool.idle_workers()
    large = pool.take(2, "cnn-best", run_id="long")   # a long run: every core, a worker of its own
    assert large is not spare and pool.busy_cores() == 2
    spare.end()                        # the idle spare dies meanwhile
    pool.top_up()
    assert pool.idle_workers() == [], "no replacement while the long run has every core"
    pool.release("long")
    pool.top_up()
    assert len(pool.idle_workers()) == 1


def test_a_run_shown_while_every_core_trains_starts_no_worker(pool):
    """A Train page shows a run during the class's runs: their workers take the next runs."""
    [spare] = pool.idle_workers()
    pool.take(1, SHORT.arch, run_id="run-1"), pool.take(1, SHORT.arch, run_id="run-2")
    assert pool.expect(SHORT) is False and pool.idle_workers() == []
    pool.release("run-1")
    assert pool.expect(SHORT) and len(pool.idle_workers()) == 1, "a free core: a worker is started and warms it"


def test_a_fresh_spare_warms_the_smallest_run_until_a_kind_is_known(pool):
    """A fresh server knows no kind of run yet: its spare warms the smallest one, which spares the first run of any
    kind TensorFlow's and Keras' first-time costs. Once a kind is known, new spares warm that instead."""
    [spare] = pool.idle_workers()
    assert spare.sent == [[FIRST_WARM_UP.to_dict()]]
    pool.remember(SHORT)
    taken = pool.take(1, SHORT.arch, run_id="run-1")
    pool.top_up()
    [new_spare] = pool.idle_workers()
    assert taken is spare and [config["arch"] for [config] in new_spare.sent] == [SHORT.arch]


def test_a_spare_whose_first_warm_up_ended_unheard_warms_the_run_a_page_shows(pool):
    """On a server nobody reads an idle spare's events, so its end of warming the smallest run goes unheard: the
    run a page shows is still sent to it (and to one more worker for the other core). A run shown while they warm
    the last one is sent too: that warm-up gives way, and is taken up again after it (worker_main)."""
    [spare] = pool.idle_workers()
    spare.finished = True                                   # its warm-up ended; the pool has not heard yet
    assert pool.expect(SHORT)
    assert spare.kinds_sent() == ["linear", SHORT.arch]
    [_, second] = pool.idle_workers()
    assert second.kinds_sent() == [SHORT.arch], "the other core's worker warms it too"
    tried = SHORT.replace(epochs=1)
    assert pool.expect(tried) and spare.sent[-1][0]["epochs"] == second.sent[-1][0]["epochs"] == 1


def test_a_warm_up_of_the_smallest_run_gives_way_to_the_run_a_page_shows(pool):
    [spare] = pool.idle_workers()
    assert spare.warming and spare.kinds_sent() == ["linear"]   # a fresh server's spare, still at it
    assert pool.expect(SHORT) and spare.kinds_sent() == ["linear", SHORT.arch]


def test_the_next_run_takes_the_worker_that_warmed_its_kind(pool):
    """Of two idle workers that never trained, the run takes the one sent its kind to warm, not the older one."""
    [spare] = pool.idle_workers()
    assert pool.expect(SHORT)
    [first, second] = pool.idle_workers()
    assert first is spare
    spare.warmed_kinds = {kind_of(FIRST_WARM_UP)}            # as if only the smallest run had reached it
    spare.last_arch, spare.last_used = SHORT.arch, 1.0       # and had trained this network last, another kind
    assert pool.take(1, SHORT.arch, run_id="run-1", kind=kind_of(SHORT)) is second, \
        "the exact kind's model is warm; the same network's last run may have been of another kind"


def test_no_warm_up_while_every_core_trains(pool):
    """A long run on every core and an idle one-core worker: a run shown meanwhile is not warmed (its tracing would
    take CPU from the run); once the long run ends, it is."""
    [spare] = pool.idle_workers()
    spare.finished = True
    assert spare.wait_warmed(0)                              # idle, its warm-up over and heard of
    pool.take(2, "cnn-best", run_id="long")
    assert pool.expect(SHORT) is False and spare.kinds_sent() == ["linear"]
    pool.release("long")
    assert pool.expect(SHORT) and spare.kinds_sent() == ["linear", SHORT.arch]


def test_settings_tried_on_pages_do_not_push_out_the_kind_the_runs_train(pool):
    """The latest runs' kinds stay what new spares warm, with only the latest run a page showed beside them."""
    pool.remember(SHORT)                                      # the class's runs
    for epochs in (1, 3, 4):                                  # a visitor tries settings meanwhile
        pool.expect(SHORT.replace(epochs=epochs, limit=5000))
    pool.take(1, SHORT.arch, run_id="run-1"), pool.take(1, SHORT.arch, run_id="run-2")
    pool.release("run-1")
    pool.top_up()
    [new_spare] = pool.idle_workers()
    [warmed] = new_spare.sent
    assert [(c["arch"], c["epochs"], c["limit"]) for c in warmed] == [(SHORT.arch, 2, 10000), (SHORT.arch, 4, 5000)]


def test_a_warm_up_cut_short_is_taken_up_again_after_the_newer_kinds(monkeypatch):
    """In a worker: a warm message sent while it warms ends that warm-up at its next batch; the kinds it left are
    warmed after the new ones. A run sent instead leaves them cold, and the pool hears which."""
    import core.runs.warm_up

    step, tried, other = SHORT.to_dict(), SHORT.replace(epochs=1).to_dict(), SHORT.replace(epochs=3).to_dict()
    warmed, waiting, said = [], [False], []

    def warm_up(config, run_waiting):
        warmed.append(config.epochs)
        waiting[0] = config.epochs == 2 and len(warmed) == 1   # something is sent while the step warms

    monkeypatch.setattr(core.runs.warm_up, "warm_up", warm_up)
    monkeypatch.setattr(workers, "_forget_run", lambda: None)
    left = workers._warm_up([step, other], lambda: waiting[0], said.append)
    assert warmed == [2] and left == [step, other] and said == [("warmed", 0)], "cut short: nothing counted warm"
    waiting[0] = False
    todo, dropped = workers.newest_first([tried, step], left)
    assert dropped == [] and workers._warm_up(todo, lambda: False, said.append) == []
    assert warmed == [2, 1, 2, 3] and said[-1] == ("warmed", 3), "the new kind first, then what was cut short"

    worker = StandInWorker()
    worker.run_kind = None
    worker.warmed_kinds = {kind_of(SHORT), kind_of(SHORT.replace(epochs=3)), kind_of(SHORT.replace(epochs=1))}
    workers.Worker._heard(worker, ("left_cold", [step, other]))
    assert worker.warmed_kinds == {kind_of(SHORT.replace(epochs=1))}, "a run came first: those stay cold"


def test_a_run_that_cuts_short_its_own_kinds_warm_up_leaves_it_counted_warm():
    """The page shows a run, its warm-up starts, Train is pressed a second later: the run ends that warm-up, and
    trains (and keeps) that very model, so its kind still counts as warm; the other kinds left stay cold."""
    worker = StandInWorker()
    worker.warmed_kinds, worker.run_kind = {kind_of(SHORT), kind_of(SHORT.replace(epochs=3))}, kind_of(SHORT)
    workers.Worker._heard(worker, ("left_cold", [SHORT.to_dict(), SHORT.replace(epochs=3).to_dict()]))
    assert worker.warmed_kinds == {kind_of(SHORT)}


def test_a_worker_warms_at_most_a_few_kinds_at_once_the_newest_first():
    """A room trying settings cuts warm-up after warm-up short: what was left does not pile up (a worker keeps
    core.fit.warm.KEPT models, and warming more would push out the newest); the rest is dropped, and said cold."""
    shown = [SHORT.replace(epochs=epochs).to_dict() for epochs in (1, 2, 3, 4, 5)]
    todo, dropped = workers.newest_first([shown[4]], shown[:4])
    assert todo == [shown[4], *shown[:workers.WARMED_AT_ONCE - 1]] and dropped == shown[workers.WARMED_AT_ONCE - 1:4]
    assert len(todo) == workers.WARMED_AT_ONCE < 4
