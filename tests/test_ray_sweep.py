"""A sweep on a real local Ray cluster (2 CPUs, a run each): two of its runs train at the same moment."""
import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from core.fit.progress import JobState  # noqa: E402
from core.runs.queue import JobRegistry  # noqa: E402
from core.sweeps.live import SweepRegistry  # noqa: E402
from core.sweeps.records import SweepBook  # noqa: E402
from core.sweeps.space import SweepSpec  # noqa: E402
from core.sweeps.values import axis_from_text  # noqa: E402


def test_a_sweeps_runs_train_side_by_side_on_ray(ray_executor, store, tmp_path):
    registry = JobRegistry(2, store, ray_executor)
    spec = SweepSpec({"arch": "linear", "epochs": 3, "limit": 6000, "batch_size": 16},
                     (axis_from_text("lr", "0.0003, 0.001, 0.003"),))
    sweep = SweepRegistry(SweepBook(tmp_path / "sweeps.sqlite3")).start(spec, registry, store, poll=0.05)
    assert sweep.parallel == 2
    most_at_once = 0
    while not sweep.wait(0.1):
        training = [j for j in sweep.jobs() if j.state == JobState.RUNNING and j.progress().steps > 0]
        most_at_once = max(most_at_once, len(training))
    record = sweep.snapshot()
    assert [r.state for r in record.runs] == ["finished"] * 3, [r.note for r in record.runs]
    assert most_at_once >= 2
    assert all(store.read_meta(r.model).extra["sweep"]["id"] == sweep.id for r in record.runs)
