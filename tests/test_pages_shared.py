"""The pages' shared modules: formatters, image helpers, and models freed when they leave the cache."""
from __future__ import annotations

import gc
import os
import weakref

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pages.parts.formatting import duration, plain, settings_line
from pages.parts.images import enlarge, fit_pil, to_pil

from page_support import TIMEOUT, add_copy_of_default, page_path


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (185, "3 min 05 s"), (1012.8, "16 min 53 s"),
    (3725, "1 h 02 min"), (None, "–"), ("12", "–"), (True, "–"), (-3, "–"), (float("nan"), "–"),
])
def test_one_duration_format(seconds, text):
    assert duration(seconds) == text


def test_settings_line_from_a_config_dict():
    config = {"arch": "custom-mlp", "options": {"hidden": [64, 64], "dropout": 0.2}, "epochs": 1,
              "batch_size": 16, "learning_rate": 0.003, "optimizer": "adamw", "schedule": "one-cycle",
              "validation_split": 0.15, "limit": 300, "augment": False, "early_stopping": True,
              "reduce_lr": True, "seed": 4, "name": None}
    assert settings_line(config) == ("1 epoch · 300 samples · batch 16 · adamw lr 0.003 (one-cycle) · "
                                     "validation 15% · early stopping · reduce LR · hidden=[64, 64], dropout=0.2 · seed 4")
    assert settings_line({**config, "limit": None, "epochs": 12}).startswith("12 epochs · all samples · ")


def test_settings_line_leaves_out_what_old_or_damaged_metadata_lacks():
    assert settings_line({}) == "all samples"
    assert settings_line(None) == "all samples"
    assert settings_line({"epochs": "five", "batch_size": None, "optimizer": "sgd", "learning_rate": "fast",
                          "augment": "yes", "options": "[1]"}) == "all samples · sgd"


def test_settings_line_is_the_train_configs_own_summary():
    from core.fit.config import TrainConfig

    config = TrainConfig.for_preset("cnn-basic", epochs=2, limit=500, seed=3)
    line = settings_line(config.to_dict())
    assert line == config.summary()
    assert line.startswith("2 epochs · 500 samples · batch ") and line.endswith(" · seed 3")


def test_plain_shows_text_not_markup():
    assert plain("*bold* [x](y) `code`") == r"\*bold\* \[x\]\(y\) \`code\`"
    assert plain("two\nlines\tand  spaces") == "two lines and spaces"
    assert len(plain("a" * 5000)) == 600


def test_enlarge_keeps_pixels_square_and_values_exact():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = enlarge(image, 4)
    assert big.shape == (8, 12) and big.dtype == np.uint8
    assert (big[:4, :4] == 0).all() and (big[4:, 8:] == 5).all()
    assert enlarge(image, 1) is image
    pil = to_pil(np.array([[0.0, 1.0]], np.float32), scale=3)
    assert pil.size == (6, 3) and pil.mode == "L" and list(pil.getdata())[:6] == [0, 0, 0, 255, 255, 255]
    assert fit_pil(np.zeros((10, 40), np.float32), 112).size == (112, 28)


def test_models_evicted_replaced_or_deleted_are_freed(temp_store, pages_read_every_file):
    """Loaded through the pages' cached loader, a model is freed once it is no longer cached.

    (A gc.freeze() after each load used to keep every model ever loaded alive.)
    """
    from core.nets.predict import predict_digit
    from pages.parts import resources

    add_copy_of_default(temp_store, "spare")
    model = resources.load_model("spare")
    assert resources.load_model("spare") is model, "cached"
    predict_digit(model, np.zeros((28, 28), np.float32))  # the compiled forward pass the Draw page makes
    replaced = weakref.ref(model)
    del model

    path = temp_store / "spare.keras"  # re-saved under the same name: a new file version
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    model = resources.load_model("spare")
    gc.collect()
    assert replaced() is None, "the replaced version is still in memory"
    assert model is not None and resources.load_model("spare") is model

    deleted = weakref.ref(model)
    del model
    at = AppTest.from_file(page_path("models"), default_timeout=TIMEOUT).run()  # deleted from the page
    at.button(key="delete_spare").click().run()
    at.button(key="confirm_delete_spare").click().run()
    assert not at.exception and not path.exists()
    gc.collect()
    assert deleted() is None, "the deleted model is still in memory"

    evicted = weakref.ref(resources.load_model("default"))
    for index in range(resources.MAX_MODELS):  # as many other models after it as the cache holds
        add_copy_of_default(temp_store, f"other-{index}")
        resources.load_model(f"other-{index}")
    gc.collect()
    assert evicted() is None, "the model evicted from the cache is still in memory"


def test_streamlits_per_run_clear_session_no_longer_wipes_tensorflow_state():
    """Streamlit calls keras.backend.clear_session() after every run; in the server it must keep state
    (TensorFlow's kernel cache: answer + saliency took ~107 ms after each clear instead of 2-5 ms)."""
    import keras
    from streamlit.runtime.scriptrunner import script_runner

    from pages.parts import resources

    resources.freeze_long_lived()
    keras.layers.Dense(1, name=None)
    before = keras.layers.Dense(1).name
    script_runner._clean_problem_modules()  # what Streamlit runs after each script run
    after = keras.layers.Dense(1).name
    assert after != "dense" and after != before, "Keras' global state was reset"


def test_probability_bars_one_per_class_the_answer_picked_out_each_look_rounding_its_way():
    import numpy as np

    from pages.parts import charts
    from pages.parts.probability_bars import DRAW, PANEL, probability_bars_html

    p = np.array([0.996, 0.004, 0, 0, 0, 0, 0, 0, 0, 0])
    digits = tuple(str(d) for d in range(10))
    drawn = probability_bars_html(p, digits, look=DRAW)
    assert drawn.count("title='") == 10 and "probability of each digit" in drawn
    assert ">99%<" in drawn and ">100%<" not in drawn, "Draw rounds down: never '100%' sure"
    assert drawn.split("title='")[1].count(charts.HIGHLIGHT) == 1 and charts.HIGHLIGHT not in drawn.split("title='")[2]
    panel = probability_bars_html(p, digits, 100, PANEL)
    assert ">100%<" in panel and ">&nbsp;<" in panel, "the live panel rounds, and leaves under 1% blank"
    assert "How likely" not in panel and "How likely the network thinks each digit is" in drawn
    clothes = probability_bars_html(p, ("T-shirt", "Trouser", *digits[2:]), look=PANEL)
    assert "probability of each class" in clothes and ">T-s<" in clothes
