import numpy as np
import pytest

from core.data import datasets
from core.nets.evaluation import Evaluation, evaluate


def make_eval():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    preds = np.array([0, 1, 1, 1, 2, 0, 1])
    conf = np.array([0.9, 0.6, 0.8, 0.7, 0.99, 0.95, 0.5])
    probs = np.full((7, 10), 0.0, np.float32)
    for i, (p, c) in enumerate(zip(preds, conf)):
        probs[i] = (1 - c) / 9
        probs[i, p] = c
    return Evaluation(labels, probs)


def test_metrics_match_hand_computed_oracle():
    ev = make_eval()
    assert ev.accuracy == pytest.approx(4 / 7)
    expected = np.zeros((10, 10), int)
    for t, p in [(0, 0), (0, 1), (1, 1), (1, 1), (2, 2), (2, 0), (2, 1)]:
        expected[t, p] += 1
    np.testing.assert_array_equal(ev.confusion, expected)
    assert ev.precision[1] == pytest.approx(2 / 4) and ev.recall[2] == pytest.approx(1 / 3)
    assert ev.precision[0] == pytest.approx(1 / 2) and ev.recall[0] == pytest.approx(1 / 2)
    true_p = np.array([0.9, (1 - 0.6) / 9, 0.8, 0.7, 0.99, (1 - 0.95) / 9, (1 - 0.5) / 9])
    assert ev.loss == pytest.approx(float(-np.log(true_p).mean()), rel=1e-5)


def test_mistakes_filter_and_sort():
    ev = make_eval()
    assert [m.index for m in ev.mistakes()] == [5, 1, 6]
    assert [m.index for m in ev.mistakes(most_confident_first=False)] == [6, 1, 5]
    assert [(m.true, m.predicted) for m in ev.mistakes(true=2)] == [(2, 0), (2, 1)]
    assert [m.index for m in ev.mistakes(predicted=1)] == [1, 6]
    assert ev.mistakes(true=2, predicted=0)[0].confidence == pytest.approx(0.95)
    assert ev.mistakes(true=1) == []
    assert len(ev.mistakes()) == int(ev.confusion.sum() - np.trace(ev.confusion))


def test_full_test_set_evaluation_of_a_trained_model(small_trained_model):
    store, name = small_trained_model
    model = store.load(name)
    x, y = datasets.load("mnist").test_arrays()
    ev = evaluate(model, x, y)
    assert ev.probabilities.shape == (10000, 10) and ev.confusion.sum() == 10000
    assert ev.accuracy == pytest.approx(store.read_meta(name).test_accuracy)
    assert ev.accuracy > 0.8
    sample = ev.mistakes()[0]
    assert sample.predicted != sample.true and sample.predicted == int(np.argmax(sample.probabilities))


def test_evaluation_matches_keras_predict_in_uneven_batches_and_ends_early_when_asked(small_trained_model):
    """predict_on_batch over chunks (the last one short) gives Keras' own predict(); stop_now ends it after
    the current chunk, with figures for the images predicted so far; no images, no figures."""
    store, name = small_trained_model
    model = store.load(name)
    x, y = datasets.load("mnist").test_arrays()
    x, y = x[:2500], y[:2500]
    ev = evaluate(model, x, y, batch_size=1000)
    np.testing.assert_allclose(ev.probabilities, model.predict(x, batch_size=1000, verbose=0), atol=1e-5)
    asked = []
    cut = evaluate(model, x, y, batch_size=1000, stop_now=lambda: asked.append(1) or len(asked) >= 2)
    assert cut.probabilities.shape == (2000, 10) and len(cut.labels) == 2000
    np.testing.assert_array_equal(cut.labels, y[:2000])
    empty = evaluate(model, x[:0], y[:0])
    assert empty.probabilities.shape == (0, 10) and len(empty.labels) == 0
