"""A warm worker's kept models (core.fit.warm): a run of a kept kind starts from exactly what a new model built
with its seed starts from, and Python's random goes on exactly as after that build, whether the starting values
were built for it or kept from an earlier run with the same seed."""
import random

import keras
import numpy as np

from core.fit import warm
from core.fit.recipe import seed_everything
from core.nets import builders

KEY = ("mlp-128-64", "{}", (28, 28, 1), 10, "adam", True, ("constant",))


def test_a_kept_model_starts_where_a_build_with_its_seed_starts_built_or_kept():
    builds = []

    def build():
        builds.append(1)
        return builders.build_model("mlp-128-64")

    def compile_model(model):
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def oracle(seed):  # what a new worker's run starts from, and the next number random gives after it
        seed_everything(seed, keep_kernels=True)
        return [v.numpy() for v in builders.build_model("mlp-128-64").variables], random.random()

    warm.forget()
    try:
        seed_everything(1, keep_kernels=True)
        model = warm.compiled_model(KEY, build, compile_model, 0.01)
        for seed, builds_expected in ((2, 1), (2, 0), (1, 0), (2, 0)):  # a seed seen before (1 too): kept
            for variable in model.trainable_variables:  # as if the last run trained it
                variable.assign(variable.numpy() + 0.5)
            expected, after = oracle(seed)
            before = len(builds)
            seed_everything(seed, keep_kernels=True)
            assert warm.compiled_model(KEY, build, compile_model, 0.01) is model, "the kept model serves"
            assert random.random() == after, "random goes on as after a build"
            for got, want in zip(model.variables, expected, strict=True):
                np.testing.assert_array_equal(got.numpy(), want)
            assert len(builds) - before == builds_expected, seed
    finally:
        warm.forget()
