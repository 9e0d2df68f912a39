"""What the network imagines: inputs made by gradient ascent to excite one class, or one unit or channel.

Feature visualisation after Olah et al., "Feature Visualization" (Distill, 2017), and Lucid: start
from faint noise (or from a drawing) and climb the gradient of what is wanted: a class's
log-probability (so the other classes are pushed down too), or a unit's activation (a channel's
averaged over the picture). Left alone the climb finds high-frequency patterns no digit has, so each
step is regularised as Lucid and Yosinski et al. (2015) do:
- random jitter: the input is shifted by up to `jitter` pixels each step, so a pattern must work
  wherever it lands (the last tenth of the steps are still, to fit the picture as it will be read);
- total variation: a penalty on differences between neighbouring pixels (smooth strokes);
- L2: a penalty on the squared distance from the anchor (black for noise, the drawing for a
  drawing), so only pixels that matter light up;
- optionally a 3x3 blur every few steps; pixels always kept in [0, 1], the range of real images.
The objective's gradient is normalised per image (so one setting suits a class score and a small
channel mean alike) and the penalties' gradients are added at fixed strength. All steps run in one
compiled loop, every wanted class or unit in one batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.explain.graph import ExplainError, graph_for


@dataclass(frozen=True)
class ImagineSettings:
    """How the inputs are grown: steps, step size and the regularisers' weights."""

    steps: int = 200
    step_size: float = 0.03
    jitter: int = 2  # pixels
    total_variation: float = 0.1
    l2: float = 0.1
    blur_every: int = 0  # steps between 3x3 Gaussian blurs of the input (0: none; Yosinski et al.'s blur)
    seed: int = 0

    def __post_init__(self):
        if not 1 <= int(self.steps) <= 5000:
            raise ExplainError(f"Steps must be from 1 to 5000, got {self.steps}.")
        if not 0 <= int(self.jitter) <= 8:
            raise ExplainError(f"Jitter must be from 0 to 8 pixels, got {self.jitter}.")
        if not 0 <= int(self.blur_every) <= 1000:
            raise ExplainError(f"Blur every must be from 0 (never) to 1000 steps, got {self.blur_every}.")
        for label, value in (("Step size", self.step_size), ("Total variation", self.total_variation),
                             ("L2", self.l2)):
            if not np.isfinite(value) or value < 0:
                raise ExplainError(f"{label} must be a number of 0 or more, got {value}.")

    def describe(self) -> str:
        """The regularisers in words, for a caption."""
        blur = f", a 3x3 blur every {self.blur_every} steps" if self.blur_every else ""
        return (f"{self.steps} steps of gradient ascent from {{start}}; random jitter of up to {self.jitter} px, "
                f"total-variation penalty {self.total_variation:g}, L2 penalty {self.l2:g}{blur}, "
                "pixels kept in [0, 1]")


@dataclass(frozen=True)
class Imagined:
    """The grown inputs, one per wanted class or unit, and how strongly each excites what it was grown for."""

    images: np.ndarray  # (n, H, W) float32 in [0, 1]
    targets: tuple[int, ...]  # the class or channel each image was grown for
    probabilities: np.ndarray  # (n, classes): the model's output for each image
    start_probabilities: np.ndarray  # (n, classes): the same for each start
    activation: np.ndarray  # (n,): the objective (class score or unit's mean activation) at the end
    start_activation: np.ndarray  # (n,): the same at the start
    layer_name: str | None  # None for classes
    description: str


def _total_variation(x):
    import tensorflow as tf

    return tf.reduce_sum(tf.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3)) + \
        tf.reduce_sum(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3))


def _ascent_function(graph, layer_index: int | None):
    """tf.function (start, anchor, targets, steps, settings...) -> grown images; the objective per row is
    the class score before softmax (`layer_index` None) or a unit's (spatially averaged) activation."""
    import tensorflow as tf

    if layer_index is None:
        features_model, head = graph.submodel(graph.score_index), graph.score_head
    else:
        features_model, head = graph.submodel(layer_index), (lambda h: h)

    def objective(x, targets):
        out = head(features_model(x, training=False))
        if layer_index is None:  # a class: its log-probability, so the others' scores are pushed down too
            out = tf.nn.log_softmax(out)
        if len(out.shape) > 2:  # conv maps (n, H, W, C): a channel's mean over the picture
            out = tf.reduce_mean(out, axis=tuple(range(1, len(out.shape) - 1)))
        return tf.gather(out, targets, axis=1, batch_dims=1)

    channels = graph.input_shape[-1]
    gauss = np.outer(*[np.array([1.0, 2.0, 1.0]) / 4] * 2).astype(np.float32)
    blur_kernel = tf.constant(np.tile(gauss[:, :, None, None], (1, 1, channels, 1)))

    def ascend(start, anchor, targets, steps, step_size, jitter, tv_weight, l2_weight, blur_every, seed):
        def step(i, x):
            reach = tf.where(i < steps - steps // 10, jitter, 0)  # the last tenth still: the picture as it is
            shift = tf.random.stateless_uniform((2,), tf.stack([seed, i]), -reach, reach + 1, dtype=tf.int32)
            with tf.GradientTape() as tape:
                tape.watch(x)
                gain = tf.reduce_sum(objective(tf.roll(x, shift, axis=(1, 2)), targets))
            with tf.GradientTape() as penalty_tape:
                penalty_tape.watch(x)
                penalty = tf.reduce_sum(tv_weight * _total_variation(x)
                                        + l2_weight * tf.reduce_sum(tf.square(x - anchor), axis=(1, 2, 3)))
            grad = tape.gradient(gain, x)
            grad = grad / (tf.math.reduce_std(grad, axis=(1, 2, 3), keepdims=True) + 1e-8)
            x = x + step_size * (grad - penalty_tape.gradient(penalty, x))
            x = tf.cond((blur_every > 0) & (tf.math.floormod(i + 1, tf.maximum(blur_every, 1)) == 0),
                        lambda: tf.nn.depthwise_conv2d(x, blur_kernel, (1, 1, 1, 1), "SAME"), lambda: x)
            return i + 1, tf.clip_by_value(x, 0.0, 1.0)

        _, grown = tf.while_loop(lambda i, _: i < steps, step, (tf.constant(0), start))
        return grown, objective(grown, targets), objective(start, targets)

    spec = graph.spec(None)
    scalar = tf.TensorSpec((), tf.float32)
    return tf.function(ascend, input_signature=[
        spec, spec, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32), scalar,
        tf.TensorSpec((), tf.int32), scalar, scalar, tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.int32)])


def _batch_output(graph, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    def make():
        final = graph.submodel(len(graph.layers) - 1)
        return tf.function(lambda batch: final(batch, training=False), input_signature=[graph.spec(None)])

    return np.asarray(graph.function("output-batch", make)(images))


def _starts(graph, count: int, start, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(starts, anchors, words): faint seeded noise anchored at black, or the given image anchored at itself."""
    shape = graph.input_shape
    if start is None:
        rng = np.random.default_rng(seed)
        noise = np.clip(0.1 + 0.05 * rng.standard_normal((count, *shape)), 0, 1).astype(np.float32)
        return noise, np.zeros_like(noise), "faint noise"
    image = graph.as_batch(start)
    picture = np.repeat(image, count, axis=0)
    return picture, picture.copy(), "the drawing"


def _grow(model, layer_index: int | None, targets: list[int], start, settings: ImagineSettings,
          layer_name: str | None) -> Imagined:
    graph = graph_for(model)
    starts, anchors, words = _starts(graph, len(targets), start, settings.seed)
    ascend = graph.function(("imagine", layer_index), lambda: _ascent_function(graph, layer_index))
    grown, gain, start_gain = ascend(
        starts, anchors, np.asarray(targets, np.int32), np.int32(settings.steps), np.float32(settings.step_size),
        np.int32(settings.jitter), np.float32(settings.total_variation), np.float32(settings.l2),
        np.int32(settings.blur_every), np.int32(settings.seed))
    grown = np.asarray(grown)
    return Imagined(grown.reshape(len(targets), *graph.input_shape[:2]) if graph.input_shape[-1] == 1
                    else grown, tuple(int(t) for t in targets), _batch_output(graph, grown),
                    _batch_output(graph, starts), np.asarray(gain), np.asarray(start_gain), layer_name,
                    settings.describe().format(start=words))


def _check_classes(graph, classes) -> list[int]:
    wanted = list(range(graph.num_classes)) if classes is None else list(classes)
    if not wanted:
        raise ExplainError("Pick at least one class.")
    for c in wanted:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= int(c) < graph.num_classes:
            raise ExplainError(f"Class must be a whole number from 0 to {graph.num_classes - 1}, got {c!r}.")
    return [int(c) for c in wanted]


def imagine_classes(model, classes=None, start=None, settings: ImagineSettings = ImagineSettings()) -> Imagined:
    """One input per class in `classes` (None: every class) that the model scores as that class, grown in one batch.

    From faint noise by default; from `start` (one image, e.g. the user's drawing) to make it more of each class.
    """
    graph = graph_for(model)
    return _grow(model, None, _check_classes(graph, classes), start, settings, None)


@dataclass(frozen=True)
class LayerUnits:
    """A layer whose units or channels can be visualised: its place, what it holds and how many."""

    name: str
    index: int
    kind: str  # conv / dense / pool / norm / activation / ...
    units: int
    spatial: bool  # True: channels of (H, W, C) maps; False: units of a vector


def unit_layers(model) -> list[LayerUnits]:
    """Every layer worth visualising, in order: conv-like maps (channels) and dense layers (units);
    not the output (imagine_classes does that), nor flatten or dropout (copies of the layer before)."""
    graph = graph_for(model)
    found = []
    for index, (layer, kind, out) in enumerate(zip(graph.layers, graph.kinds, graph.outputs)):
        shape = tuple(out.shape[1:])
        if index == len(graph.layers) - 1 or kind in ("flatten", "dropout") or len(shape) not in (1, 3):
            continue
        found.append(LayerUnits(layer.name, index, kind, int(shape[-1]), len(shape) == 3))
    return found


def find_unit_layer(model, layer_name: str) -> LayerUnits:
    """The layer called `layer_name`, or ExplainError naming the layers there are."""
    layers = unit_layers(model)
    for layer in layers:
        if layer.name == layer_name:
            return layer
    names = ", ".join(layer.name for layer in layers) or "none"
    raise ExplainError(f"No layer named {layer_name!r} to look into; this model's are: {names}.")


def _check_units(layer: LayerUnits, units) -> list[int]:
    wanted = list(units)
    if not wanted:
        raise ExplainError("Pick at least one unit.")
    what = "Channel" if layer.spatial else "Unit"
    for u in wanted:
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)) or not 0 <= int(u) < layer.units:
            raise ExplainError(f"{what} must be a whole number from 0 to {layer.units - 1} in {layer.name}, got {u!r}.")
    return [int(u) for u in wanted]


def imagine_units(model, layer_name: str, units, start=None,
                  settings: ImagineSettings = ImagineSettings()) -> Imagined:
    """One input per unit (dense) or channel (conv maps, averaged over the picture) of `layer_name`
    that excites it most, grown in one batch."""
    layer = find_unit_layer(model, layer_name)
    return _grow(model, layer.index, _check_units(layer, units), start, settings, layer.name)


def unit_means(model, layer_name: str, images, batch_size: int = 500, progress=None) -> np.ndarray:
    """(N, units) each image's activation of every unit or channel of `layer_name` (channels averaged over
    the picture): what ranks the images that excite a unit most."""
    import tensorflow as tf

    layer = find_unit_layer(model, layer_name)
    graph = graph_for(model)

    def make():
        sub = graph.submodel(layer.index)

        def means(batch):
            out = sub(batch, training=False)
            return tf.reduce_mean(out, axis=(1, 2)) if layer.spatial else out

        return tf.function(means, input_signature=[graph.spec(None)])

    function = graph.function(("unit-means", layer.index), make)
    stack = np.asarray(images)
    scale = np.float32(1 / 255) if stack.dtype == np.uint8 else np.float32(1)
    chunks = []
    for begin in range(0, len(stack), int(batch_size)):
        batch = stack[begin:begin + int(batch_size)].astype(np.float32).reshape(-1, *graph.input_shape) * scale
        chunks.append(np.asarray(function(batch)))
        if progress is not None:
            progress(min(begin + int(batch_size), len(stack)), len(stack))
    return np.concatenate(chunks) if chunks else np.zeros((0, layer.units), np.float32)


def top_images(unit_activations, units, k: int = 6) -> np.ndarray:
    """(len(units), k) rows of the images that excite each unit most, strongest first."""
    values = np.asarray(unit_activations)
    k = min(int(k), len(values))
    rows = []
    for unit in units:
        column = values[:, int(unit)]
        best = np.argpartition(-column, k - 1)[:k] if k < len(column) else np.arange(len(column))
        rows.append(best[np.argsort(-column[best], kind="stable")])
    return np.asarray(rows, np.int64).reshape(len(rows), k)
