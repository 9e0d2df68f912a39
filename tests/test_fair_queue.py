"""The training queue is fair between visitors (core/runs/queue.py JobRegistry), and runs carry their owner.

A fake job (QueuedJob with an `_execute` that waits until the test lets it finish) goes through
the registry's real slot, queue and Stop machinery in milliseconds, without TensorFlow.
"""
from __future__ import annotations

import threading

import pytest

from core.fit.config import TrainConfig
from core.fit.progress import JobResult, JobState
from core.runs.queue import JobRegistry, QueuedJob, QueueLimitError
from core.store import ModelMeta, ModelStore, StoreError

from page_support import add_copy_of_default
from waiting import wait_until

CONFIG = TrainConfig.for_preset("linear", epochs=1, limit=1000)


class FakeJob(QueuedJob):
    """Trains nothing: notes when it starts, then waits for `finish()`; 'saves' the model named in `model`."""

    started_order: list[str]

    def __init__(self, job_id, config, store, registry, log: list[str], model: str | None = None):
        super().__init__(job_id, config, store, registry)
        self._log, self._model = log, model
        self._release = threading.Event()
        self.running = threading.Event()

    def finish(self) -> None:
        self._release.set()

    def _execute(self) -> None:
        self._log.append(self.id)
        self.running.set()
        self._release.wait(10)
        result = None if self._model is None else JobResult(self._model, 0.9, 0.3, [], 1.0, 1)
        self.recorder.finished(result, stopped=False)


def fake_registry(slots: int = 1, max_per_owner: int | None = None, store=None, model: str | None = None):
    log: list[str] = []
    registry = JobRegistry(slots, store, job_factory=lambda *args: FakeJob(*args, log=log, model=model),
                           max_per_owner=max_per_owner)
    return registry, log


def run_one_at_a_time(registry, log: list[str], count: int) -> None:
    """Let `count` runs finish one after the other, each as soon as it is the one training."""
    for n in range(count):
        assert wait_until(lambda: len(log) > n, timeout=10)
        job = registry.get(log[n])
        job.finish()
        assert job.wait(5)


def test_two_visitors_with_several_runs_each_take_turns(tmp_path):
    registry, log = fake_registry(store=ModelStore(tmp_path))
    first = registry.submit(CONFIG, owner="teacher")          # holds the one slot while the others queue
    first.running.wait(5)
    alice = [registry.submit(CONFIG, owner="alice") for _ in range(3)]
    bob = [registry.submit(CONFIG, owner="bob") for _ in range(3)]

    expected = [alice[0], bob[0], alice[1], bob[1], alice[2], bob[2]]
    assert registry.queue() == [j.id for j in expected]       # not alice, alice, alice, bob, ...
    assert [j.progress().queue_position for j in expected] == [1, 2, 3, 4, 5, 6]
    assert bob[0].progress().queue_position == 2               # bob sees his place: second, not fourth

    run_one_at_a_time(registry, log, 7)
    assert log == [first.id, *(j.id for j in expected)]       # they really started in that order
    assert all(j.state == JobState.FINISHED for j in expected)


def test_a_newcomer_goes_before_the_rest_of_a_long_queue(tmp_path):
    registry, log = fake_registry(store=ModelStore(tmp_path))
    alice = [registry.submit(CONFIG, owner="alice") for _ in range(4)]
    alice[0].running.wait(5)
    carol = registry.submit(CONFIG, owner="carol")             # arrives last, but has had no turn yet
    assert registry.queue() == [carol.id, alice[1].id, alice[2].id, alice[3].id]
    run_one_at_a_time(registry, log, 5)
    assert log == [alice[0].id, carol.id, alice[1].id, alice[2].id, alice[3].id]


def test_without_owners_the_queue_is_first_come_first_served(tmp_path):
    registry, log = fake_registry(store=ModelStore(tmp_path))
    jobs = [registry.submit(CONFIG) for _ in range(4)]
    jobs[0].running.wait(5)
    assert registry.queue() == [j.id for j in jobs[1:]]
    run_one_at_a_time(registry, log, 4)
    assert log == [j.id for j in jobs]


def test_two_slots_are_shared_not_taken_by_one_visitor(tmp_path):
    registry, log = fake_registry(slots=2, store=ModelStore(tmp_path))
    alice = [registry.submit(CONFIG, owner="alice") for _ in range(3)]
    assert wait_until(lambda: len(log) == 2, timeout=10)  # alice's first two fill both slots
    bob = registry.submit(CONFIG, owner="bob")
    assert registry.queue() == [bob.id, alice[2].id]
    alice[0].finish()
    assert wait_until(lambda: len(log) == 3, timeout=10)
    assert log[2] == bob.id                                    # the freed slot goes to bob
    for job in (alice[1], bob, alice[2]):
        assert wait_until(lambda: job.state != JobState.QUEUED, timeout=10)
        job.finish()
        assert job.wait(5)


def test_a_visitor_may_have_at_most_max_per_owner_runs_queued_or_training(tmp_path):
    registry, log = fake_registry(max_per_owner=2, store=ModelStore(tmp_path))
    a1, a2 = registry.submit(CONFIG, owner="alice"), registry.submit(CONFIG, owner="alice")
    with pytest.raises(QueueLimitError, match="alice already has 2 runs queued or training"):
        registry.submit(CONFIG, owner="alice")
    assert len(registry.jobs()) == 2                           # the refused run was never made
    bob = registry.submit(CONFIG, owner="bob")                 # others are not held back by alice
    anonymous = [registry.submit(CONFIG) for _ in range(3)]    # runs without a name are not capped
    a2.stop()                                                  # cancelling a queued run frees a place
    assert a2.wait(5) and a2.state == JobState.STOPPED
    a3 = registry.submit(CONFIG, owner="alice")
    assert a3.owner == "alice" and registry.owner(a3.id) == "alice" and registry.owner(bob.id) == "bob"
    assert anonymous[0].owner is None and registry.owner("job-unknown") is None
    run_one_at_a_time(registry, log, 6)
    assert log == [a1.id, bob.id, anonymous[0].id, a3.id, anonymous[1].id, anonymous[2].id]


def test_stopping_a_queued_run_takes_it_out_of_the_turns(tmp_path):
    registry, log = fake_registry(store=ModelStore(tmp_path))
    holder = registry.submit(CONFIG, owner="teacher")
    holder.running.wait(5)
    a1, b1, a2 = (registry.submit(CONFIG, owner=o) for o in ("alice", "bob", "alice"))
    b1.stop()
    assert b1.wait(5) and b1.progress().result is None
    assert registry.queue() == [a1.id, a2.id]
    run_one_at_a_time(registry, log, 3)
    assert log == [holder.id, a1.id, a2.id]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="max_per_owner"):
        JobRegistry(1, None, FakeJob, max_per_owner=0)
    with pytest.raises(ValueError, match="max_running"):
        JobRegistry(0, None, FakeJob)
    with pytest.raises(TypeError, match="job_factory"):
        JobRegistry(1, None, None)                              # the registry is handed its factory: no default
    registry, _ = fake_registry()
    with pytest.raises(TypeError, match="owner must be a name"):
        registry.submit(CONFIG, owner=42)


# --- the owner on the saved model -------------------------------------------------------------------

def test_a_finished_run_signs_its_model_with_its_owner(tmp_path):
    """Runs trained elsewhere (a worker, Ray) save without an author; the server's job writes it in."""
    store = ModelStore(tmp_path)
    add_copy_of_default(tmp_path, "alices-model")
    add_copy_of_default(tmp_path, "nobodys-model")
    registry, log = fake_registry(store=store, model="alices-model")
    job = registry.submit(CONFIG, owner="alice")
    job.running.wait(5)
    job.finish()
    assert job.wait(5) and job.state == JobState.FINISHED
    assert store.read_meta("alices-model").author == "alice"

    registry, log = fake_registry(store=store, model="nobodys-model")
    job = registry.submit(CONFIG)
    job.running.wait(5)
    job.finish()
    assert job.wait(5)
    assert store.read_meta("nobodys-model").author is None


def test_author_is_a_typed_metadata_field(tmp_path):
    store = ModelStore(tmp_path)
    add_copy_of_default(tmp_path, "m")
    assert store.read_meta("m").author is None                  # older files have none
    store.set_author("m", "Zoë-2")
    assert store.read_meta("m").author == "Zoë-2"
    assert ModelMeta.from_json(ModelMeta("linear", author="bob").to_json("x")).author == "bob"
    with pytest.raises(StoreError, match="author"):
        store.set_author("m", "<b>x</b>")
    add_copy_of_default(tmp_path, "forged", author="[click](http://evil)")
    with pytest.raises(StoreError, match="'author' should be a plain name"):
        store.read_meta("forged")                              # a forged file is unreadable, not shown
    add_copy_of_default(tmp_path, "typed", author=7)
    assert "'author' should be a plain name" in {i.name: i.error for i in store.list()}["typed"]


def test_a_name_a_link_accepts_is_an_author_the_store_accepts(tmp_path):
    from core.workshop.links import settings_from_query

    store = ModelStore(tmp_path)
    for i, name in enumerate(("Ada", "Ωmega-2", "x_y")):
        assert settings_from_query({"name": name}).page["name"] == name
        add_copy_of_default(tmp_path, f"by-{i}", author=name)
        assert store.read_meta(f"by-{i}").author == name
    for name in ("_ada", "a" * 25, "a b"):
        assert "name" not in settings_from_query({"name": name}).page


def test_runs_share_the_cores_small_ones_side_by_side_a_large_one_alone_and_never_overtaken():
    log: list[str] = []
    sizes = iter([1, 1, 2, 1, 1])  # cores each submitted run asks for, in order

    def sized_job(*args):
        job = FakeJob(*args, log=log)
        job.cores = next(sizes)
        return job

    registry = JobRegistry(8, None, job_factory=sized_job, cores=2)
    small_a, small_b = registry.submit(CONFIG, owner="ada"), registry.submit(CONFIG, owner="bob")
    assert wait_until(lambda: len(log) == 2, timeout=10), "two one-core runs start side by side on two cores"
    large = registry.submit(CONFIG, owner="cy")
    small_c = registry.submit(CONFIG, owner="dee")
    small_d = registry.submit(CONFIG, owner="eve")
    small_a.finish()
    assert small_a.wait(5)
    assert not wait_until(lambda: len(log) > 2, timeout=0.3), "a core is free, but the large run needs both"
    assert registry.queue()[0] == large.id and small_c.progress().queue_position == 2, "nobody overtakes it"
    small_b.finish()
    assert wait_until(lambda: log[2:] == [large.id], timeout=10) and registry.running() == [large.id]
    assert not wait_until(lambda: len(log) > 3, timeout=0.3), "the large run has the machine to itself"
    large.finish()
    assert wait_until(lambda: set(log[3:]) == {small_c.id, small_d.id}, timeout=10)
    for job in (small_c, small_d):
        job.finish()
        assert job.wait(5)


def test_a_registry_refuses_impossible_core_counts():
    for cores in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="cores"):
            JobRegistry(1, None, job_factory=FakeJob, cores=cores)


def test_a_run_gets_one_core_when_short_and_every_core_when_long():
    from core.runs.sizing import cores_for

    assert cores_for(TrainConfig.for_preset("mlp-128-64", epochs=2, limit=10000), 8) == 1
    assert cores_for(TrainConfig.for_preset("cnn-fast", epochs=2, limit=10000), 8) == 1
    assert cores_for(TrainConfig.for_preset("linear", epochs=5), 8) == 1, "a dense net on every digit is still short"
    assert cores_for(TrainConfig.for_preset("cnn-best"), 8) == 8
    assert cores_for(TrainConfig.for_preset("mlp-512", epochs=50), 4) == 4, "enough epochs make any run long"
    assert cores_for(TrainConfig.for_preset("cnn-fast", epochs=2, limit=10000, stroke_copies=40000), 2) == 2
