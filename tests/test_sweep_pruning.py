"""The median rule's margin (core/sweeps/pruning.py): a run clearly worse than the median at epoch 1 is pruned,
one within its validation set's noise is not. Curves go straight through the sweep's Optuna study (Search), no
training: the 12 measured curves of benchmark section 16's grid, and made-up ones."""
from __future__ import annotations

import optuna
import pytest

from core.sweeps.pruning import VALIDATION_IMAGES, noise_margin, validation_images
from core.sweeps.search import Search
from core.sweeps.space import SweepSpec
from core.sweeps.values import axis_from_text

# Validation accuracy after epochs 1 and 2 of the benchmark's 12-run grid (mlp-128-64, 2 epochs, 10,000 samples,
# so 1,000 validation images), measured once here, in the grid's order: learning rate slowest, then batch size.
GRID_LRS, GRID_BATCHES = "0.0003, 0.001, 0.003, 0.01", "32, 64, 128"
MEASURED = [(0.890, 0.908), (0.881, 0.918), (0.819, 0.885),
            (0.926, 0.931), (0.893, 0.929), (0.903, 0.925),
            (0.932, 0.935), (0.917, 0.936), (0.901, 0.946),
            (0.931, 0.932), (0.914, 0.929), (0.911, 0.948)]


def grid_spec(limit: int = 10_000) -> SweepSpec:
    axes = (axis_from_text("lr", GRID_LRS), axis_from_text("batch_size", GRID_BATCHES))
    return SweepSpec({"arch": "mlp-128-64", "epochs": 2, "limit": limit}, axes, prune="median")


def replay(search: Search, curves) -> list[tuple[dict, int | None]]:
    """Each run's curve told to the study one epoch at a time, one run after another, as a 1-slot sweep does;
    (its params, the epoch it was pruned at or None)."""
    outcome = []
    for curve in curves:
        trial = search.ask()
        pruned_at = None
        for epoch, value in enumerate(curve, 1):
            if search.report(trial, epoch, value) and epoch < len(curve):
                pruned_at = epoch
                break
        search.pruned(trial) if pruned_at else search.finished(trial, curve[-1])
        outcome.append((trial.params, pruned_at))
    return outcome


def test_the_grid_s_best_run_survives_and_its_clearly_worse_one_is_pruned():
    best = max(range(len(MEASURED)), key=lambda i: MEASURED[i][-1])
    outcome = replay(Search(grid_spec()), MEASURED)
    assert outcome[best][0] == {"learning_rate": 0.01, "batch_size": 128} and outcome[best][1] is None
    pruned = [params for params, at in outcome if at]
    # 81.9% at epoch 1 against a median of about 88.5%: clearly worse, and stopped there
    assert pruned == [{"learning_rate": 0.0003, "batch_size": 128}] and outcome[2][1] == 1


def test_optuna_s_plain_median_rule_pruned_that_best_run():
    """Why the margin: the plain rule (below the median by any amount) stopped the run that ended best."""
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    plain = Search(grid_spec())
    plain.study = study
    outcome = replay(plain, MEASURED)
    assert outcome[-1] == ({"learning_rate": 0.01, "batch_size": 128}, 1)


@pytest.mark.parametrize("limit, images, pruned", [(10_000, 1_000, False), (None, 6_000, True)])
def test_two_points_below_the_median_is_noise_on_1000_images_and_clearly_worse_on_6000(limit, images, pruned):
    spec = SweepSpec({"arch": "linear", "epochs": 2, "limit": limit},
                     (axis_from_text("lr", "0.001, 0.002, 0.003"),), prune="median")
    search = Search(spec)
    outcome = replay(search, [(0.92, 0.93), (0.93, 0.94), (0.905, 0.95)])   # median at epoch 1: 92.5%
    assert search.study.trials[2].user_attrs[VALIDATION_IMAGES] == images
    assert (outcome[2][1] == 1) is pruned
    assert outcome[0][1] is outcome[1][1] is None                           # the start-up runs are never judged


def test_the_margin_is_the_noise_of_a_difference_between_two_accuracies():
    # 92% on 1,000 images: each measured to sqrt(.92 * .08 / 1000) = 0.86 points; their difference to 1.21
    assert noise_margin(0.92, 1000) == pytest.approx(2 * 0.0121, abs=2e-4)
    assert noise_margin(0.92, 6000) < noise_margin(0.92, 1000) / 2
    assert noise_margin(1.0, 1000) == 0 and noise_margin(0.5, 0) > 0.5


def test_a_run_s_validation_images_follow_its_limit_and_split():
    assert validation_images(grid_spec().config({"learning_rate": 0.001, "batch_size": 32})) == 1000
    assert validation_images(grid_spec(limit=None).config({"learning_rate": 0.001, "batch_size": 32})) == 6000


def test_a_pruned_run_s_reason_names_the_median_and_the_margin():
    search = Search(grid_spec())
    trials = []
    for curve in MEASURED[:3]:
        trial = search.ask()
        trials.append(trial)
        if search.report(trial, 1, curve[0]):
            note = search.prune_reason(trial, 1, curve[0], 2)
            search.pruned(trial)
        else:
            search.report(trial, 2, curve[1])
            search.finished(trial, curve[1])
    assert note == ("Pruned at epoch 1 of 2 by the median rule: validation accuracy 81.9% was below the median of "
                    "the 2 finished runs at that epoch (88.5%) by 6.7 points, more than the 2.8 points its 1,000 "
                    "validation images' noise allows.")
