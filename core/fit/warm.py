"""Compiled models kept warm in a worker process, from one run to the next of the same kind.

Tracing Keras' training step is the largest part of a short run's overhead (`make bench`, the short-run
breakdown): most of a second for mlp-128-64, against about a second of epochs. A worker that trains run
after run keeps each compiled model with its traced functions, and hands the next run of the same kind
(architecture, options, optimizer, schedule) that model with fresh weights: the very values a new model
built with the run's seed starts from (one is built and its variables copied, random-seed state included),
the optimizer's variables as they were before its first step, the run's learning rate. The run trains as
it would from scratch (a test checks the figures match); only the tracing is saved. At most KEPT models stay.

A room runs the same step again and again, seed included. Building a model draws only from Python's
`random` (each initializer's seed), so what it starts from follows from the kind and that generator's
state: the values built are kept for both (FRESH_KEPT of them), with the state after the build, which
is put back when they serve again. The next run with that seed skips building a model, most of a short
run's build phase, and goes on exactly as after a build (a test checks).
"""
from __future__ import annotations

import json
import random
from typing import Callable

import keras

from core.data.recent import Recent
from core.fit.config import TrainConfig

KEPT = 4
FRESH_KEPT = 8
_kept = Recent(KEPT)  # model key -> (the compiled model, its optimizer's starting values)
_fresh = Recent(FRESH_KEPT)  # (key, random's state) -> (values, state after)
_copies: dict[int, tuple[keras.Model, keras.Model]] = {}  # id(kept model) -> (it, its inference copy)


def model_key(config: TrainConfig, logits: bool, input_shape, num_classes: int, batches_per_epoch: int) -> tuple | None:
    """What must match for a kept model to serve this run; None for a run that starts from a stored model."""
    if config.start_from is not None:
        return None
    schedule = ((config.schedule,) if config.schedule == "constant"
                else (config.schedule, config.learning_rate, config.epochs, batches_per_epoch))  # traced in
    average = (config.weight_average, config.epochs, batches_per_epoch) if config.weight_average else ()  # traced in
    return (config.arch, json.dumps(config.options or {}, sort_keys=True, default=str), tuple(input_shape),
            int(num_classes), config.optimizer, bool(logits), schedule, average)


def compiled_model(key: tuple, build: Callable[[], keras.Model], compile_model: Callable[[keras.Model], None],
                   learning_rate: float | None) -> keras.Model:
    """A compiled model for this run: the kept one for `key` reset to what `build()` (seeded) starts from,
    or the built one, compiled and kept. `learning_rate`: the run's constant rate (None with a schedule)."""
    kept = _kept.get(key)
    if kept is None:
        start = (key, random.getstate())
        fresh = build()
        _keep_fresh(start, fresh)
        compile_model(fresh)
        fresh.optimizer.build(fresh.trainable_variables)
        _kept.put(key, (fresh, [variable.numpy() for variable in fresh.optimizer.variables]))
        return fresh
    model, optimizer_start = kept
    values = _fresh_values(key, build)
    if len(model.variables) != len(values):  # cannot happen for the same key; never train on a mix
        _kept.pop(key)
        return compiled_model(key, build, compile_model, learning_rate)
    for target, value in zip(model.variables, values):
        target.assign(value)
    for variable, value in zip(model.optimizer.variables, optimizer_start):
        variable.assign(value)
    if learning_rate is not None:
        model.optimizer.learning_rate = learning_rate
    model.stop_training = model.stop_evaluating = model.stop_predicting = False  # a stopped run's flags
    return model


def _fresh_values(key: tuple, build: Callable[[], keras.Model]) -> list:
    """The variables' values `build()` starts from now: built, or kept from an earlier build of this kind
    from the same state of Python's random (which is then set to where that build left it)."""
    start = (key, random.getstate())
    kept = _fresh.get(start)
    if kept is not None:
        values, after = kept
        random.setstate(after)
        return values
    return _keep_fresh(start, build())


def _keep_fresh(start: tuple, model: keras.Model) -> list:
    values = [variable.numpy() for variable in model.variables]  # copies: the model may go on to train
    _fresh.put(start, (values, random.getstate()))
    return values


def inference_copy(model: keras.Model, logits: bool) -> keras.Model:
    """core.nets.builders.for_inference for a kept model: its copy is kept too (with its traced predict) and
    given the model's current weights; a model that is not kept gets a new copy."""
    from core.nets import builders

    if not any(model is kept for kept, _ in _kept.values()):
        return builders.for_inference(model, logits)
    copy = _copies.get(id(model))
    if copy is None or copy[0] is not model:
        copy = _copies[id(model)] = (model, builders.for_inference(model, logits))
        for key in [k for k, (m, _) in _copies.items() if not any(m is kept for kept, _ in _kept.values())]:
            del _copies[key]
    inner = copy[1].layers[0] if logits else copy[1]
    inner.set_weights(model.get_weights())
    return copy[1]


def forget() -> None:
    """Drop every kept model (a test's clean start)."""
    _kept.clear()
    _copies.clear()
    _fresh.clear()


def kept_count() -> int:
    return len(_kept)
