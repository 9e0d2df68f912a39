"""core.explain.attack: FGSM and PGD stay within ε and within [0, 1], change nothing at ε = 0, fool a small MLP
at ε = 0.3, reach a target; the smallest flipping ε flips while one grey level less does not; the robustness
curve starts at the clean accuracy and never rises."""
import numpy as np
import pytest

from core import explain
from core.data import datasets


@pytest.fixture(scope="module")
def mnist():
    return datasets.load("mnist")


def _digit(mnist, index: int) -> np.ndarray:
    return mnist.x_test[index].astype(np.float32) / 255


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
@pytest.mark.parametrize("target", [None, 3])
def test_eps_zero_changes_nothing(shipped_model, mnist, method, target):
    result = explain.attack(shipped_model, _digit(mnist, 0), 0.0, method, target=target)
    np.testing.assert_array_equal(result.adversarial, result.original)
    np.testing.assert_array_equal(result.probabilities, result.original_probabilities)
    assert not np.any(result.change)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_the_change_stays_within_eps_and_the_pixels_within_0_and_1(small_mlp_model, mnist, method):
    images, labels = mnist.x_test[:64].astype(np.float32) / 255, mnist.y_test[:64]
    for eps in (0.05, 0.3):
        adversarial = explain.attack_batch(small_mlp_model, images, eps, labels, method).reshape(-1, 28, 28)
        assert np.abs(adversarial - images).max() <= eps + 1e-6
        assert adversarial.min() >= 0 and adversarial.max() <= 1
        assert np.abs(adversarial - images).max() > eps / 2  # it did move


def test_fgsm_at_0_3_flips_most_digits_a_small_mlp_reads_right(small_mlp_model, mnist):
    images, labels = mnist.x_test[:300].astype(np.float32) / 255, mnist.y_test[:300]
    before = np.asarray(small_mlp_model(images[..., None], training=False)).argmax(axis=1)
    right = before == labels
    assert right.mean() > 0.8
    adversarial = explain.attack_batch(small_mlp_model, images[right], 0.3, labels[right], "fgsm")
    after = np.asarray(small_mlp_model(adversarial, training=False)).argmax(axis=1)
    assert (after != labels[right]).mean() >= 0.8


@pytest.mark.parametrize("which", ["small_mlp_model", "shipped_model"])
def test_targeted_pgd_reaches_its_target_and_a_large_eps_flips_a_confident_answer(which, request, mnist):
    model = request.getfixturevalue(which)
    seven = _digit(mnist, 0)
    assert explain.probabilities(model, seven).argmax() == 7 and explain.probabilities(model, seven).max() > 0.9
    targeted = explain.attack(model, seven, 0.3, "pgd", target=3)
    assert targeted.predicted == 3 and targeted.succeeded and targeted.original_class == 7
    np.testing.assert_allclose(targeted.probabilities, explain.probabilities(model, targeted.adversarial), atol=1e-5)
    untargeted = explain.attack(model, seven, 0.3, "pgd")
    assert untargeted.predicted != 7 and untargeted.label == 7 and untargeted.succeeded


@pytest.mark.parametrize("method, target", [("fgsm", None), ("pgd", None), ("pgd", 3)])
def test_the_smallest_flipping_eps_flips_and_one_grey_level_less_does_not(shipped_model, mnist, method, target):
    image = _digit(mnist, 1)
    found = explain.smallest_flip(shipped_model, image, method, target=target)

    assert found.levels is not None and 0 < found.levels <= 255 and found.eps == pytest.approx(found.levels / 255)
    at = explain.attack(shipped_model, image, found.eps, method, target=target)
    below = explain.attack(shipped_model, image, (found.levels - 1) / 255, method, target=target)
    assert at.succeeded and not below.succeeded
    assert found.attack.predicted == at.predicted and (target is None or at.predicted == target)


def test_no_flip_is_reported_when_even_eps_1_cannot_fool_it():
    import keras

    constant = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(3, kernel_initializer="zeros",
                                                    bias_initializer=keras.initializers.Constant([2.0, 0.0, 0.0]))])
    found = explain.smallest_flip(constant, np.zeros((28, 28), np.float32), "fgsm")
    assert found.eps is None and found.attack is None


def test_robustness_starts_at_clean_accuracy_and_never_rises(small_mlp_model, mnist):
    images, labels = mnist.x_test[:200], mnist.y_test[:200]
    seen = []
    curve = explain.robustness_curve(small_mlp_model, images, labels, [0.2, 0, 0.05, 0.1, 0.3], "fgsm",
                                     batch_size=64, progress=lambda done, total: seen.append((done, total)))
    clean = (np.asarray(small_mlp_model(images[..., None] / 255, training=False)).argmax(axis=1) == labels).mean()

    assert curve.eps == (0.0, 0.05, 0.1, 0.2, 0.3) and curve.images == 200
    assert curve.accuracy[0] == pytest.approx(clean)
    assert all(a >= b for a, b in zip(curve.accuracy, curve.accuracy[1:])), curve.accuracy
    assert curve.accuracy[-1] < 0.2 * clean
    assert seen[-1] == (1000, 1000) and len(seen) == 5 * 4


def test_pgd_is_at_least_as_strong_as_fgsm(small_mlp_model, mnist):
    images, labels = mnist.x_test[:100], mnist.y_test[:100]
    fgsm = explain.robustness_curve(small_mlp_model, images, labels, [0.1], "fgsm")
    pgd = explain.robustness_curve(small_mlp_model, images, labels, [0.1], "pgd", steps=10)
    assert pgd.accuracy[0] <= fgsm.accuracy[0] and pgd.steps == 10 and fgsm.steps == 0


@pytest.mark.parametrize("eps, message", [(-0.1, "from 0 to 1"), (float("nan"), "from 0 to 1"), (1.5, "from 0 to 1"),
                                          ("a lot", "must be a number")])
def test_a_bad_eps_gets_a_plain_message(small_mlp_model, eps, message):
    with pytest.raises(explain.ExplainError, match=message):
        explain.attack(small_mlp_model, np.zeros((28, 28), np.float32), eps)


@pytest.mark.parametrize("kwargs, message", [({"target": 10}, "target must be a class from 0 to 9"),
                                             ({"method": "magic"}, "Unknown attack 'magic'"),
                                             ({"method": "pgd", "steps": 0}, "from 1 to 1000 steps")])
def test_a_bad_target_or_method_gets_a_plain_message(small_mlp_model, kwargs, message):
    with pytest.raises(explain.ExplainError, match=message):
        explain.attack(small_mlp_model, np.zeros((28, 28), np.float32), 0.1, **kwargs)
