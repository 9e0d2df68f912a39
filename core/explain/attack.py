"""Fool it: adversarial inputs by FGSM and PGD, the smallest change that flips an answer, a robustness curve.

FGSM (Goodfellow et al., 2015) moves every pixel by ε in the direction that raises the loss most;
PGD (Madry et al., 2018) takes `steps` smaller steps of 2.5ε/steps, projecting back into the ε-box
around the input after each. Untargeted attacks raise the loss of the true class (the predicted one
when the true one is unknown); targeted ones lower the loss of the target. ε is in pixel-intensity
units: 0 to 1, where 1 is the whole way from black to white (1/255 is one grey level). Changed
pixels are always kept in [0, 1], so the change stays within ε in L∞. Losses are computed on the
scores before softmax, whose gradient does not vanish on a confident answer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.explain.graph import ExplainError, graph_for

METHODS = ("fgsm", "pgd")
PGD_STEPS = 20
LEVELS = 255  # grey levels: the smallest flipping ε is found to one of them


@dataclass(frozen=True)
class Attack:
    """One attacked input: what it was, what it became, and what the model says to each."""

    original: np.ndarray  # (H, W) float32 in [0, 1]
    adversarial: np.ndarray  # (H, W) float32 in [0, 1]
    change: np.ndarray  # adversarial - original, within [-eps, eps]
    eps: float
    method: str
    target: int | None  # None: untargeted
    label: int  # the class the untargeted attack moves away from (true, else predicted)
    original_probabilities: np.ndarray
    probabilities: np.ndarray

    @property
    def original_class(self) -> int:
        return int(np.argmax(self.original_probabilities))

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def succeeded(self) -> bool:
        """Targeted: the answer is the target. Untargeted: the answer is no longer `label`."""
        return self.predicted == self.target if self.target is not None else self.predicted != self.label


def check_eps(eps) -> float:
    """ε as a float in [0, 1], or ExplainError in plain words (NaN, negative, above 1, not a number)."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ExplainError(f"ε must be a number from 0 to 1, got {eps!r}.") from None
    if math.isnan(value) or not 0 <= value <= 1:
        raise ExplainError(f"ε must be from 0 to 1 (1 = the whole way from black to white), got {eps!r}.")
    return value


def _check_method(method: str, steps: int) -> None:
    if method not in METHODS:
        raise ExplainError(f"Unknown attack {method!r}; choose one of: {', '.join(METHODS)}.")
    if method == "pgd" and not 1 <= int(steps) <= 1000:
        raise ExplainError(f"PGD needs from 1 to 1000 steps, got {steps}.")


def _check_class(graph, value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < graph.num_classes:
        raise ExplainError(f"The {what} must be a class from 0 to {graph.num_classes - 1}, got {value!r}.")
    return int(value)


def _attack_function(graph, method: str):
    """tf.function (x, eps per row, goal class per row, targeted, steps) -> adversarial batch:
    FGSM (one step of ε; steps unused) or PGD (`steps` steps of 2.5ε/steps, projected after each)."""
    import tensorflow as tf

    score_model, head = graph.submodel(graph.score_index), graph.score_head

    def loss_gradient(x, goal):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = head(score_model(x, training=False))
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(goal, scores))
        return tape.gradient(loss, x)

    def attack(x, eps, goal, targeted, steps):
        direction = tf.where(targeted, -1.0, 1.0)  # targeted: down the target's loss
        box = tf.reshape(eps, (-1, 1, 1, 1))

        if method == "fgsm":
            return tf.clip_by_value(x + box * direction * tf.sign(loss_gradient(x, goal)), 0.0, 1.0)
        size = 2.5 * box / tf.cast(steps, tf.float32)

        def step(i, adv):
            moved = adv + size * direction * tf.sign(loss_gradient(adv, goal))
            return i + 1, tf.clip_by_value(tf.clip_by_value(moved, x - box, x + box), 0.0, 1.0)

        return tf.while_loop(lambda i, _: i < steps, step, (tf.constant(0), x))[1]

    return tf.function(attack, input_signature=[
        graph.spec(None), tf.TensorSpec((None,), tf.float32), tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((), tf.bool), tf.TensorSpec((), tf.int32)])


def _output_function(graph):
    import tensorflow as tf

    def make():
        final = graph.submodel(len(graph.layers) - 1)
        return tf.function(lambda batch: final(batch, training=False), input_signature=[graph.spec(None)])

    return graph.function("output-batch", make)


def attack_batch(model, images, eps, labels, method: str = "fgsm", target: int | None = None,
                 steps: int = PGD_STEPS) -> np.ndarray:
    """Adversarial copies (N, *input_shape) of a batch: each row at its own ε (a number or one per row),
    untargeted away from `labels` (one per row) or towards `target` (one class for all)."""
    graph = graph_for(model)
    _check_method(method, steps)
    target = _check_class(graph, target, "target")
    x = np.asarray(images, np.float32).reshape(-1, *graph.input_shape)
    eps_rows = np.broadcast_to(np.asarray(eps, np.float32), (len(x),)).copy()
    for value in np.unique(eps_rows):
        check_eps(value)
    goal = np.full(len(x), target, np.int32) if target is not None else np.asarray(labels, np.int32).reshape(-1)
    function = graph.function(("attack", method), lambda: _attack_function(graph, method))
    return np.asarray(function(x, eps_rows, goal, np.bool_(target is not None), np.int32(steps)))


def attack(model, image, eps, method: str = "fgsm", target: int | None = None, label: int | None = None,
           steps: int = PGD_STEPS) -> Attack:
    """One image attacked at ε by `method`: towards `target`, or away from `label` (None: the predicted class)."""
    graph = graph_for(model)
    eps = check_eps(eps)
    _check_method(method, steps)
    target = _check_class(graph, target, "target")
    label = _check_class(graph, label, "true class")
    x = graph.as_batch(image)
    output = _output_function(graph)
    before = np.asarray(output(x))[0]
    label = int(before.argmax()) if label is None else label
    adversarial = attack_batch(model, x, eps, [label], method, target, steps)
    after = np.asarray(output(adversarial))[0]
    plane = graph.input_shape[:2] if graph.input_shape[-1] == 1 else graph.input_shape
    original, changed = x.reshape(plane), adversarial.reshape(plane)
    return Attack(original, changed, changed - original, eps, method, target, label, before, after)


@dataclass(frozen=True)
class Flip:
    """The smallest ε, to one grey level, at which an attack fools the model (None: not even at ε = 1)."""

    eps: float | None
    levels: int | None  # eps * 255
    attack: Attack | None  # the attack at that ε
    tried: int  # attacks run


def smallest_flip(model, image, method: str = "fgsm", target: int | None = None, label: int | None = None,
                  steps: int = PGD_STEPS, coarse: int = 32) -> Flip:
    """The smallest ε (in whole grey levels, 1/255) at which the attack succeeds, while one level less does not.

    First every `LEVELS/coarse`-th level is tried in one batch; then halving between the last level that
    failed and the first that succeeded, one attack at a time. The levels returned were each checked
    by `attack` itself, so the answer holds for that function: it flips at ε and not one level below.
    """
    graph = graph_for(model)
    _check_method(method, steps)
    target = _check_class(graph, target, "target")
    x = graph.as_batch(image)
    if label is None:
        label = int(np.asarray(_output_function(graph)(x))[0].argmax())

    def fools(level: int) -> Attack:
        return attack(model, image, level / LEVELS, method, target, label, steps)

    unchanged = fools(0)
    if unchanged.succeeded:  # already the target (or not the label): no change needed
        return Flip(0.0, 0, unchanged, 1)
    grid = np.unique(np.linspace(0, LEVELS, coarse + 1).round().astype(int))[1:]
    adversarial = attack_batch(model, np.repeat(x, len(grid), axis=0), grid / LEVELS, [label] * len(grid),
                               method, target, steps)
    answers = np.asarray(_output_function(graph)(adversarial)).argmax(axis=1)
    success = answers == target if target is not None else answers != label
    tried = 1 + len(grid)
    low = 0
    for level, won in zip(grid, success):
        if won:
            high = int(level)
            break
        low = int(level)
    else:
        return Flip(None, None, None, tried)
    high_attack = fools(high)
    tried += 1
    while not high_attack.succeeded and high < LEVELS:  # the batch said yes, one image alone says no
        low, high = high, min(LEVELS, high + max(1, LEVELS // coarse))
        high_attack, tried = fools(high), tried + 1
    if not high_attack.succeeded:
        return Flip(None, None, None, tried)
    while high - low > 1:
        middle = (low + high) // 2
        result = fools(middle)
        tried += 1
        if result.succeeded:
            high, high_attack = middle, result
        else:
            low = middle
    return Flip(high / LEVELS, high, high_attack, tried)


@dataclass(frozen=True)
class RobustnessCurve:
    """Accuracy on the same test images under attacks of growing ε."""

    eps: tuple[float, ...]
    accuracy: tuple[float, ...]
    images: int
    method: str
    steps: int

    def rows(self) -> list[dict]:
        return [{"eps": e, "accuracy": a} for e, a in zip(self.eps, self.accuracy)]


def robustness_curve(model, images, labels, eps_values, method: str = "fgsm", steps: int = PGD_STEPS,
                     batch_size: int = 250, progress: Callable[[int, int], None] | None = None) -> RobustnessCurve:
    """Accuracy under attack at each ε in `eps_values` (sorted ascending), untargeted from the true labels.

    An image counts as fooled at ε when an attack at any tried ε' <= ε fooled it: an attacker allowed ε
    may always change less, so the curve never rises. At ε = 0 it is the clean accuracy.
    `progress(done, total)` is called after each batch of each ε.
    """
    values = sorted({check_eps(e) for e in eps_values})
    if not values:
        raise ExplainError("Give at least one ε.")
    _check_method(method, steps)
    graph = graph_for(model)
    x = np.asarray(images)
    scale = np.float32(1 / 255) if x.dtype == np.uint8 else np.float32(1)
    x = x.astype(np.float32).reshape(-1, *graph.input_shape) * scale
    y = np.asarray(labels, np.int32).reshape(-1)
    if len(x) != len(y) or not len(x):
        raise ExplainError(f"Give as many labels as images (got {len(x)} images and {len(y)} labels).")
    output = _output_function(graph)
    still_right = np.ones(len(x), bool)
    accuracy = []
    total, done = len(values) * len(x), 0
    for value in values:
        for begin in range(0, len(x), int(batch_size)):
            rows = slice(begin, begin + int(batch_size))
            batch = x[rows] if value == 0 else attack_batch(model, x[rows], value, y[rows], method, None, steps)
            still_right[rows] &= np.asarray(output(batch)).argmax(axis=1) == y[rows]
            done += len(batch)
            if progress is not None:
                progress(done, total)
        accuracy.append(float(still_right.mean()))
    return RobustnessCurve(tuple(values), tuple(accuracy), len(x), method, steps if method == "pgd" else 0)
