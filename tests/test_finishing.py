"""How a run finishes (core.fit.recipe): augmentation off for its clean last epochs, and the weights it is tested
and saved with averaged over its last epochs (weight_average, Keras' own moving average)."""
import keras
import numpy as np
import pytest

from core.fit.config import ConfigError, TrainConfig
from core.fit.progress import ProgressRecorder
from core.fit.recipe import average_momentum, first_clean, plan_fit, standard_callbacks

SMALL = TrainConfig.for_preset("linear", epochs=3, limit=640, batch_size=64, validation_split=0.0)


class EveryBatch(keras.callbacks.Callback):
    """Records the augmentation switch at each epoch's start (after the others' on_epoch_begin) and the
    trainable weights after every batch."""

    def __init__(self, flag=None):
        super().__init__()
        self.flag, self.augmenting, self.weights = flag, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.augmenting.append(bool(self.flag.numpy()) if self.flag is not None else None)

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([v.numpy().copy() for v in self.model.trainable_variables])


@pytest.mark.parametrize("epochs, clean, expected", [(3, 1, [True, True, False]), (4, 2, [True, True, False, False]),
                                                     (3, 5, [True, False, False]), (3, 0, [True, True, True])])
def test_the_clean_last_epochs_train_without_augmentation_and_the_first_always_with(epochs, clean, expected):
    config = SMALL.replace(augment=True, epochs=epochs, clean_epochs=clean, limit=128)
    plan = plan_fit(config)
    record = EveryBatch(plan.augment_flag)
    recorder = ProgressRecorder("clean", config)
    plan.model.fit(callbacks=[*standard_callbacks(config, plan, recorder), record],
                   **plan.fit_args)
    assert record.augmenting == expected
    assert first_clean(config) == (expected.index(False) if False in expected else max(1, epochs - clean))
    switches = [(e.kind, e.step, e.x, e.value) for e in recorder.events()]
    if False in expected:   # recorded as the Train page's toggle records it: its toggle and curves show it
        first = expected.index(False)
        assert switches == [("augment", first * plan.batches_per_epoch, float(first), 0.0)]
        assert recorder.events()[0].text == f"augmentation off: the last {epochs - first} epoch" + \
            ("s" if epochs - first > 1 else "") + " on plain digits"
    else:
        assert switches == []


def test_clean_epochs_record_no_switch_when_augmentation_is_off_already():
    """A visitor turned augmentation off (the Train page's toggle) before the clean epochs: no second mark."""
    config = SMALL.replace(augment=True, epochs=3, clean_epochs=1, limit=128)
    plan = plan_fit(config)
    plan.augment_flag.assign(False)
    recorder = ProgressRecorder("clean", config)
    plan.model.fit(callbacks=standard_callbacks(config, plan, recorder), **plan.fit_args)
    assert recorder.events() == [] and not bool(plan.augment_flag.numpy())


def test_the_saved_weights_are_the_moving_average_of_the_last_epochs_weights():
    """The oracle: the moving average worked out here, in numpy, from the weights after every batch."""
    config = SMALL.replace(weight_average=1)
    plan = plan_fit(config)
    momentum = average_momentum(config, plan.batches_per_epoch)
    assert momentum == pytest.approx(1 - 1 / (plan.batches_per_epoch + 1)), "a horizon of one epoch's steps"
    record = EveryBatch()
    plan.model.fit(callbacks=[record], **plan.fit_args)
    average = [w.copy() for w in record.weights[0]]
    for weights in record.weights[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    final = [v.numpy() for v in plan.model.trainable_variables]
    for got, want, last in zip(final, average, record.weights[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        assert not np.allclose(got, last), "not the last batch's weights"


def test_weight_averaging_is_over_at_most_the_whole_run_and_off_at_zero():
    assert average_momentum(SMALL, 10) is None
    assert average_momentum(SMALL.replace(weight_average=2), 10) == pytest.approx(1 - 1 / 21)
    assert average_momentum(SMALL.replace(weight_average=50), 10) == pytest.approx(1 - 1 / 31), "3 epochs at most"
    for field, value in (("weight_average", -1), ("weight_average", 1.5), ("clean_epochs", 101),
                         ("clean_epochs", "2")):
        with pytest.raises(ConfigError):
            SMALL.replace(**{field: value})
    summary = SMALL.replace(augment=True, clean_epochs=2, weight_average=1).summary()
    assert "last 2 epochs clean" in summary and "weights averaged over 1 epoch" in summary
    assert "clean" not in SMALL.replace(clean_epochs=2).summary(), "no augmentation: nothing to turn off"


def test_cnn_best_finishes_clean_and_averaged_and_a_fine_tune_keeps_its_last_weights():
    from core.fit import finetune

    best = TrainConfig.for_preset("cnn-best")
    assert (best.clean_epochs, best.weight_average, best.validation_split, best.epochs) == (3, 3, 0.0, 15)
    assert finetune.FINE_TUNE_DEFAULTS["weight_average"] == 0
