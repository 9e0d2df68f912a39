"""Inside the network's further views (AppTest, through app.py's router): what it imagines, fool it, the projector
and its graph, for the shipped CNN, a small MLP beside it, and a Fashion-MNIST model; checked against core.explain
run on the same model and input (the oracle), and bad input refused with a message."""
from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from core import explain
from core.data import datasets
from core.explain import projector
from core.nets.builders import build_model
from core.store import DEFAULT_MODEL, ModelMeta, ModelStore
from pages.parts import inside_attack, inside_imagine, inside_more, inside_projector
from pages.parts.formatting import percent

from page_support import all_text, canvas_image, seen, texts
from test_pages_inside import captions, open_inside

IMAGINE, FOOL, PROJECTOR, GRAPH = inside_more.IMAGINE, inside_more.FOOL, inside_more.PROJECTOR, inside_more.GRAPH
CLASS_CAPTION = re.compile(r"(.+): (\d+)%")


def show(at, view):
    at.segmented_control(key=inside_more.MORE_KEY).set_value(view).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def class_captions(at) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for c in captions(at) if (m := CLASS_CAPTION.fullmatch(c))]


@pytest.fixture
def with_mlp(temp_store, small_mlp_model):
    ModelStore(temp_store).save("little-mlp", small_mlp_model, ModelMeta(arch="custom-mlp"))
    return small_mlp_model


def test_nothing_more_is_computed_until_a_view_is_picked(temp_store):
    at = open_inside()
    assert at.segmented_control(key=inside_more.MORE_KEY).value is None
    assert "More ways in" in [s.value for s in at.subheader]
    assert not any(s.value in ("What the network imagines", "Fool it", "The network's graph") for s in at.subheader)


def unit_numbers(at, what: str) -> list[int]:
    """The channel (or unit) numbers shown, column by column, from captions such as "channel 3: grown (left, ...)"."""
    return [int(m.group(1)) for c in captions(at) if (m := re.match(rf"{what} (\d+): ", c))]


def test_imagine_shows_ten_class_images_and_each_models_channels_side_by_side(with_mlp, shipped_model):
    at = open_inside({"active_model": "little-mlp"})
    at.selectbox(key="inside_compare").select(DEFAULT_MODEL).run()
    show(at, IMAGINE)

    expected = [explain.imagine_classes(model) for model in (with_mlp, shipped_model)]
    wanted = [(str(k), int(percent(e.probabilities[k, k])[:-1])) for e in expected for k in range(10)]
    assert class_captions(at) == wanted and min(p for _, p in wanted) >= 89  # shown rounded down
    assert "random jitter of up to 2 px" in all_text(at)

    # each model with its own layer picker: the MLP says channels do not apply and shows units, the CNN channels
    mlp_layer, cnn_layer = (inside_imagine.unit_keys(position)[0] for position in (0, 1))
    assert at.selectbox(key=mlp_layer).value == explain.unit_layers(with_mlp)[0].name
    first_cnn = explain.unit_layers(shipped_model)[0]
    assert at.selectbox(key=cnn_layer).value == first_cnn.name and first_cnn.spatial
    infos = texts(at.info)
    assert any("little-mlp has no convolutions, so channels do not apply" in t for t in infos), infos
    assert not any(DEFAULT_MODEL in t and "channels do not apply" in t for t in infos)
    assert sorted(unit_numbers(at, "unit")) == list(range(inside_imagine.UNITS_SHOWN))
    assert sorted(unit_numbers(at, "channel")) == list(range(inside_imagine.UNITS_SHOWN))
    assert "Each model has its own layer picker" in all_text(at)

    # a layer and first channel picked for the CNN leave the MLP's as they were
    layer = [layer for layer in explain.unit_layers(shipped_model) if layer.kind == "conv"][-1]
    at.selectbox(key=cnn_layer).select(layer.name).run()
    at.number_input(key=inside_imagine.unit_keys(1)[1]).set_value(120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(unit_numbers(at, "channel")) == list(range(120, 128))
    assert sorted(unit_numbers(at, "unit")) == list(range(inside_imagine.UNITS_SHOWN))
    assert at.selectbox(key=mlp_layer).value == explain.unit_layers(with_mlp)[0].name


def test_a_layer_kept_from_another_model_falls_back_to_the_first_layer(with_mlp, shipped_model):
    cnn_layer = inside_imagine.unit_keys(1)[0]
    conv = [layer for layer in explain.unit_layers(shipped_model) if layer.kind == "conv"][-1]
    at = open_inside({"active_model": DEFAULT_MODEL, inside_imagine.unit_keys(0)[0]: conv.name,
                      cnn_layer: "no-such-layer"})
    at.selectbox(key="inside_compare").select("little-mlp").run()
    show(at, IMAGINE)
    assert at.selectbox(key=inside_imagine.unit_keys(0)[0]).value == conv.name
    assert at.selectbox(key=cnn_layer).value == explain.unit_layers(with_mlp)[0].name
    assert not at.exception and not at.error


def test_imagine_can_start_from_the_drawing(temp_store):
    from page_support import vertical_bar

    at = open_inside({"draw_last_canvas": canvas_image(vertical_bar)})
    show(at, IMAGINE)
    at.segmented_control(key=inside_imagine.START_KEY).set_value(inside_imagine.INPUT).run()
    assert not at.exception
    assert "gradient ascent from the drawing" in all_text(at)
    assert len(class_captions(at)) == 10 and min(p for _, p in class_captions(at)) >= 89


def test_fool_it_flips_the_answer_as_the_oracle_says_and_finds_the_smallest_eps(temp_store, shipped_model):
    at = show(open_inside(), FOOL)
    mnist = datasets.load("mnist")
    seven = mnist.x_test[0].astype(np.float32) / 255

    oracle = explain.attack(shipped_model, seven, inside_attack.DEFAULT_LEVELS / 255, "pgd", label=7)
    assert oracle.succeeded
    assert any(f"Fooled: it now reads **{oracle.predicted}**" in e for e in texts(at.error))
    assert "ε = 26/255 = 0.102" in all_text(at)

    at.selectbox(key=inside_attack.GOAL_KEY).select(3).run()
    at.slider(key=inside_attack.EPS_KEY).set_value(77).run()
    assert any("Fooled: it now reads **3**" in e for e in texts(at.error))
    at.slider(key=inside_attack.EPS_KEY).set_value(0).run()
    assert any("Not fooled: it still reads **7**" in s for s in texts(at.success)) and not at.error

    at.slider(key=inside_attack.EPS_KEY).set_value(77).run()
    at.button(key="inside_attack_find").click().run()
    found = explain.smallest_flip(shipped_model, seven, "pgd", target=3, label=7)
    assert any(f"**{found.levels}/255 = {found.eps:.3f}**" in t for t in texts(at.info)), texts(at.info)


def test_the_robustness_curve_is_drawn_on_request(temp_store):
    at = show(open_inside({inside_attack.METHOD_KEY: inside_attack.FGSM}), FOOL)
    charts_before = len(at.get("vega_lite_chart"))
    at.button(key="inside_attack_curve").click().run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == charts_before + 1
    assert "An image counts as fooled at ε if any attack up to that ε fooled it" in all_text(at)
    assert "Trained differently" not in all_text(at)  # one model: nothing to compare


def test_two_models_curves_say_which_settings_differ(temp_store, small_mlp_model):
    from core.fit.config import TrainConfig

    store = ModelStore(temp_store)
    config = TrainConfig.for_preset("custom-mlp", options={"hidden": (32,)}, limit=5000, seed=3)
    store.save("mlp-aug", small_mlp_model, ModelMeta(arch="custom-mlp", config=config.replace(augment=True).to_dict()))
    store.save("mlp-plain", small_mlp_model, ModelMeta(arch="custom-mlp", config=config.to_dict()))
    store.save("mlp-unknown", small_mlp_model, ModelMeta(arch="custom-mlp"))
    at = open_inside({"active_model": "mlp-aug", inside_attack.METHOD_KEY: inside_attack.FGSM})
    at.selectbox(key="inside_compare").select("mlp-plain").run()
    show(at, FOOL)
    assert "Trained differently (mlp-aug / mlp-plain): Augmentation: on / off." in all_text(at)
    at.button(key="inside_attack_curve").click().run()
    assert not at.exception
    assert sorted(name for name, _, method in inside_attack._curves() if method == "fgsm") == ["mlp-aug", "mlp-plain"]

    at.selectbox(key="inside_compare").select("mlp-unknown").run()
    assert "The training settings of mlp-unknown were not stored" in all_text(at)


@pytest.mark.parametrize("bad", [300, -1, 2.5, float("nan")])
def test_an_eps_out_of_range_is_refused_with_a_message(temp_store, bad):
    at = show(open_inside({inside_attack.EPS_KEY: bad}), FOOL)
    assert any("set back to 26 grey levels" in w for w in texts(at.warning)), texts(at.warning)
    assert at.slider(key=inside_attack.EPS_KEY).value == inside_attack.DEFAULT_LEVELS


def test_a_blank_drawing_is_refused_before_any_view(temp_store):
    at = open_inside({"draw_last_canvas": canvas_image(), inside_more.MORE_KEY: FOOL})
    assert not at.exception
    assert any("Nothing to read in your drawing" in t for t in texts(at.info))
    assert "Fool it" not in [s.value for s in at.subheader]


class _FastMap:
    """Stands in for t-SNE (a minute of CPU per model): the first two embedding numbers, counted."""

    def __init__(self):
        self.calls = 0

    def __call__(self, embeddings, seed=0, iterations=0, progress=None):
        self.calls += 1
        if progress is not None:
            progress(0.5, "placing the points")
        return np.asarray(embeddings, np.float32)[:, :2]


def test_the_projector_makes_the_map_once_keeps_it_and_places_the_input(temp_store, monkeypatch):
    fast = _FastMap()
    monkeypatch.setattr(projector, "tsne_map", fast)
    at = show(open_inside(), PROJECTOR)
    assert at.segmented_control(key=inside_projector.LAYOUT_KEY).value == inside_projector.PCA  # nothing kept yet
    assert len(at.get("vega_lite_chart")) == 2  # the PCA map above and the projector

    at.segmented_control(key=inside_projector.LAYOUT_KEY).set_value(inside_projector.TSNE).run()
    assert any("not made yet" in t for t in texts(at.info)) and fast.calls == 0
    at.button(key=inside_projector.MAKE_KEY).click().run()
    assert not at.exception and fast.calls == 1
    assert (temp_store / "default.map.npz").exists()
    assert "laid out by t-SNE" in all_text(at) and "The star is test image #0." in all_text(at)

    again = show(open_inside(), PROJECTOR)  # a new visit: the kept map is found and opens as t-SNE
    assert again.segmented_control(key=inside_projector.LAYOUT_KEY).value == inside_projector.TSNE
    assert "kept with the model" in all_text(again) and fast.calls == 1


def test_a_click_on_a_point_hands_that_test_image_over(monkeypatch):
    state = {inside_projector.CHART_KEY: {"selection": {"pick": [{"index": 4321}]}}}
    monkeypatch.setattr(inside_projector.st, "session_state", state)
    inside_projector.open_point()
    assert state[inside_projector.HANDOVER_KEY] == 4321


def test_the_graph_shows_each_model_with_every_layer(with_mlp, shipped_model):
    at = open_inside({"active_model": "little-mlp"})
    at.selectbox(key="inside_compare").select(DEFAULT_MODEL).run()
    show(at, GRAPH)

    headings = [seen(m.value) for m in at.markdown if m.value.startswith("#### ")]
    assert headings == [f"#### {name}: {len(explain.model_layers(model))} layers, {model.count_params():,} parameters"
                        for name, model in (("little-mlp", with_mlp), (DEFAULT_MODEL, shipped_model))]
    tables = at.dataframe
    assert [len(t.value) for t in tables] == [len(explain.flat_layers(m)) for m in (with_mlp, shipped_model)]
    assert sum(tables[1].value["parameters"]) == shipped_model.count_params()


def test_a_fashion_model_uses_its_class_names(temp_store):
    keras.utils.set_random_seed(2)
    ModelStore(temp_store).save("clothes", build_model("custom-mlp", {"hidden": (16,)}),
                                ModelMeta(arch="custom-mlp", dataset="fashion-mnist"))
    at = show(open_inside({"active_model": "clothes"}), IMAGINE)
    fashion = datasets.get("fashion-mnist").class_names
    assert [name for name, _ in class_captions(at)] == list(fashion)
    assert any("channels do not apply" in t for t in texts(at.info))
    show(at, FOOL)
    assert at.selectbox(key=inside_attack.GOAL_KEY).options[1] == "make it read T-shirt/top"
