"""Settings in links: URL text -> typed settings, each refusal named; config -> link -> the same config."""
import urllib.parse

import pytest

from core.fit.config import SETTINGS, TrainConfig
from core.nets.presets import PRESETS
from core.workshop.links import (
    LINK_SETTINGS,
    PAGE_PARAMETERS,
    LinkSettings,
    link,
    query_from_config,
    settings_from_query,
)
from core.workshop.setting_text import OPTION_KINDS, config_from_values


def refusal_for(result: LinkSettings, parameter: str) -> str:
    messages = [r.message for r in result.refusals if r.parameter == parameter]
    assert len(messages) == 1, f"expected one refusal for {parameter}, got {result.refusals}"
    return messages[0]


@pytest.mark.parametrize("params, expected", [
    ({"arch": "mlp-128-64", "epochs": "2", "lr": "0.01", "limit": "5000", "dataset": "mnist"},
     {"arch": "mlp-128-64", "epochs": 2, "learning_rate": 0.01, "limit": 5000, "dataset": "mnist"}),
    ({"learning_rate": "1e-3", "batch_size": "64"}, {"learning_rate": 0.001, "batch_size": 64}),
    ({"batch-size": "32", "validation-split": "0", "seed": "7"}, {"batch_size": 32, "validation_split": 0.0, "seed": 7}),
    ({"augment": "1", "early-stopping": "yes", "reduce_lr": "ON"}, {"augment": True, "early_stopping": True, "reduce_lr": True}),
    ({"augment": "0", "early_stopping": "no", "reduce-lr": "False"}, {"augment": False, "early_stopping": False, "reduce_lr": False}),
    ({"start-from": "default", "drawings-weight": "5", "drawings_held_out": "0.3"},
     {"start_from": "default", "drawings_weight": 5, "drawings_held_out": 0.3}),
    ({"augment": "off", "early_stopping": "true"}, {"augment": False, "early_stopping": True}),
    ({"limit": "0"}, {"limit": None}),
    ({"limit": ""}, {"limit": None}),
    ({"limit": "all"}, {"limit": None}),
    ({"optimizer": "SGD", "schedule": "one-cycle"}, {"optimizer": "sgd", "schedule": "one-cycle"}),
    ({"dataset": "fashion-mnist"}, {"dataset": "fashion-mnist"}),
    ({"epochs": " 3 "}, {"epochs": 3}),
    ({"EPOCHS": "4"}, {"epochs": 4}),
    ({"epochs": ["5"]}, {"epochs": 5}),                       # one value given as a list (st.query_params.get_all)
    ({"arch": "custom-mlp", "hidden": "256,128", "dropout": "0.2", "activation": "tanh"},
     {"arch": "custom-mlp", "options": {"hidden": (256, 128), "dropout": 0.2, "activation": "tanh"}}),
    ({"arch": "custom-mlp", "options": '{"hidden": [64, 32], "dropout": 0.1}'},
     {"arch": "custom-mlp", "options": {"hidden": (64, 32), "dropout": 0.1}}),
    ({"arch": "custom-mlp", "hidden": ""}, {"arch": "custom-mlp", "options": {"hidden": ()}}),
    ({"arch": "custom-cnn", "kernel-size": "5", "batch_norm": "0", "dense-units": "64"},
     {"arch": "custom-cnn", "options": {"kernel_size": 5, "batch_norm": False, "dense_units": 64}}),
])
def test_good_values_become_typed_settings(params, expected):
    result = settings_from_query(params)
    assert result.refusals == []
    assert result.values == expected
    assert result.message() == ""
    result.config()                                           # a valid run


@pytest.mark.parametrize("params, parameter, fragment", [
    ({"epochs": "0"}, "epochs", "Epochs must be a whole number from 1 to 100 (got 0)"),
    ({"start-from": "../up"}, "start-from", "Start from: Invalid model name '../up'"),
    ({"drawings-weight": "101"}, "drawings-weight", "Weight of your drawings must be a whole number from 0 to 100"),
    ({"drawings-held-out": "0.95"}, "drawings-held-out", "Drawings held out must be between 0.05 and 0.9"),
    ({"epochs": "101"}, "epochs", "Epochs must be a whole number from 1 to 100"),
    ({"epochs": "2.5"}, "epochs", "Epochs must be a whole number from 1 to 100 (got 2.5)"),
    ({"epochs": "five"}, "epochs", "Epochs must be a whole number from 1 to 100 (got 'five')"),
    ({"epochs": ""}, "epochs", "Epochs must be a whole number"),
    ({"epochs": "1_0"}, "epochs", "(got '1_0')"),                 # Python's int() would take it; a link does not
    ({"epochs": "٣"}, "epochs", "Epochs must be a whole number"),   # a non-ASCII digit
    ({"epochs": "__import__('os')"}, "epochs", "Epochs must be a whole number"),
    ({"epochs": "9" * 150}, "epochs", "Epochs must be a whole number from 1 to 100 (got 99999"),
    ({"seed": "4294967296"}, "seed", "Seed must be a whole number from 0 to 2147483647"),
    ({"lr": "0"}, "lr", "Learning rate must be above 0 and at most 10 (got 0.0)"),
    ({"lr": "nan"}, "lr", "Learning rate must be above 0 and at most 10 (got 'nan')"),
    ({"lr": "NaN"}, "lr", "Learning rate must be above 0"),
    ({"lr": "inf"}, "lr", "(got 'inf')"),
    ({"lr": "-inf"}, "lr", "Learning rate"),
    ({"lr": "1e999"}, "lr", "(got '1e999')"),
    ({"batch-size": "1e999"}, "batch-size", "Batch size must be a whole number from 1 to 4096 (got '1e999')"),
    ({"lr": "0x10"}, "lr", "Learning rate"),
    ({"validation_split": "0.9"}, "validation_split", "Validation split must be between 0 and 0.5 (got 0.9)"),
    ({"limit": "10"}, "limit", "Training-sample limit must be a whole number from 50 to 60000 (got 10)"),
    ({"limit": "-5"}, "limit", "Training-sample limit"),
    ({"augment": "maybe"}, "augment", "Augmentation must be true or false (got 'maybe')"),
    ({"augment": "2"}, "augment", "Augmentation must be true or false"),
    ({"optimizer": "magic"}, "optimizer", "Optimizer must be one of adam, adamw, rmsprop, sgd (got 'magic')"),
    ({"dataset": "emnist"}, "dataset", "Dataset must be one of mnist, fashion-mnist"),
    ({"arch": "resnet-152"}, "arch", "Unknown architecture 'resnet-152'; choose one of: linear"),
    ({"epochs": ["1", "2"]}, "epochs", "Given 2 times; give it once."),
    ({"epochs": "1" * 201}, "epochs", "Too long (201 characters; at most 200)."),
    ({"epochs": 5}, "epochs", "Must be text (got int)."),
    ({"epochs": None}, "epochs", "Must be text"),
    ({"arch": "custom-mlp", "hidden": "64,abc"}, "hidden", "Units per layer must be a whole number from 8 to 1024"),
    ({"arch": "custom-mlp", "hidden": "4096"}, "hidden", "Units per layer"),
    ({"arch": "custom-mlp", "hidden": "8,8,8,8,8"}, "hidden", "Number of hidden layers must be a whole number from 0 to 4"),
    ({"arch": "custom-mlp", "dropout": "nan"}, "dropout", "Dropout must be a number from 0.0 to 0.8"),
    ({"arch": "custom-mlp", "activation": "softmax"}, "activation", "Activation must be one of relu, tanh"),
    ({"arch": "custom-cnn", "kernel_size": "11"}, "kernel_size", "Kernel size must be a whole number from 2 to 7"),
    ({"arch": "custom-cnn", "batch-norm": "maybe"}, "batch-norm", "batch_norm must be true or false"),
    ({"arch": "custom-cnn", "hidden": "64"}, "hidden", "custom-cnn has no option(s) hidden"),
    ({"arch": "linear", "dropout": "0.2"}, "dropout", "linear takes no options"),
    ({"dropout": "0.2"}, "dropout", "cnn-basic takes no options"),                      # no arch: cnn-basic
    ({"arch": "custom-mlp", "options": "[1, 2]"}, "options", "must be a JSON object"),
    ({"arch": "custom-mlp", "options": "{not json"}, "options", "must be a JSON object such as"),
    ({"arch": "custom-mlp", "options": '{"dropout": NaN}'}, "options", "NaN is not a number"),
    ({"arch": "custom-mlp", "options": '{"dropout": Infinity}'}, "options", "Infinity is not a number"),
    ({"arch": "custom-mlp", "options": '{"dropout": 1e999}'}, "options", "is not a finite number"),
    ({"arch": "custom-mlp", "options": '{"layers": 3}'}, "options", "custom-mlp has no option(s) layers"),
    ({"arch": "custom-mlp", "options": '{"dropout": 0.1, "dropout": 0.2}'}, "options", "dropout given more than once"),
    ({"arch": "nope", "hidden": "64"}, "hidden", "Not used: the architecture was refused."),
    ({"step": "0"}, "step", "Step must be a whole number from 1 to 999"),
    ({"step": "two"}, "step", "Step must be a whole number"),
    ({"present": "maybe"}, "present", "present must be 1 or 0"),
    ({"lesson": "../../etc/passwd"}, "lesson", "A lesson is named by 1-64 letters"),
    ({"lesson": "a/b"}, "lesson", "A lesson is named"),
    ({"job": "<script>"}, "job", "A job is named by"),
    ({"name": "Robert'); DROP TABLE"}, "name", "A name is 1-24 letters"),
    ({"name": "x" * 25}, "name", "A name is 1-24"),
    ({"model": "../models/x"}, "model", "Invalid model name"),
])
def test_each_bad_value_is_refused_with_its_message_and_dropped(params, parameter, fragment):
    result = settings_from_query(params)
    assert fragment in refusal_for(result, parameter)
    assert result.values.get("options", {}) == {} or "options" not in params
    assert all(name in ("arch",) for name in result.values)   # nothing but a good arch is kept
    assert result.page == {}
    assert parameter in result.message() and fragment in result.message()
    result.config()                                           # the page falls back to defaults: still a valid run


def test_a_long_value_is_shortened_in_its_message():
    message = refusal_for(settings_from_query({"seed": "9" * 200}), "seed")
    assert len(message) < 120 and "…" in message


def test_good_values_stay_when_others_are_refused():
    result = settings_from_query({"arch": "cnn-fast", "epochs": "abc", "lr": "0.002", "limit": "10"})
    assert result.values == {"arch": "cnn-fast", "learning_rate": 0.002}
    assert [r.parameter for r in result.refusals] == ["epochs", "limit"]
    config = result.config()
    assert (config.epochs, config.limit, config.schedule) == (2, None, "one-cycle")      # cnn-fast's own defaults


def test_two_spellings_of_one_setting_are_both_refused():
    result = settings_from_query({"lr": "0.1", "learning_rate": "0.2", "epochs": "2"})
    assert result.values == {"epochs": 2}
    assert "Given more than once (also as learning_rate)" in refusal_for(result, "lr")
    assert "Given more than once (also as lr)" in refusal_for(result, "learning_rate")


def test_an_option_given_both_ways_is_refused():
    result = settings_from_query({"arch": "custom-mlp", "options": '{"dropout": 0.1}', "dropout": "0.3"})
    assert "options" not in result.values
    assert "given more than once" in refusal_for(result, "dropout")


@pytest.mark.parametrize("params, parameter, kept", [
    ({"schedule": "one-cycle", "reduce_lr": "1"}, "reduce_lr", {"schedule": "one-cycle"}),
    ({"reduce_lr": "1", "schedule": "one-cycle"}, "schedule", {"reduce_lr": True}),           # the later one goes
    ({"arch": "cnn-fast", "reduce-lr": "on"}, "reduce-lr", {"arch": "cnn-fast"}),          # clashes with the preset
    ({"validation_split": "0", "early_stopping": "1"}, "early_stopping", {"validation_split": 0.0}),
    ({"arch": "cnn-bn", "validation-split": "0"}, "validation-split", {"arch": "cnn-bn"}),  # cnn-bn stops early
    ({"dataset": "fashion-mnist", "drawings-weight": "5"}, "drawings-weight", {"dataset": "fashion-mnist"}),
])
def test_values_that_clash_are_dropped_latest_first(params, parameter, kept):
    result = settings_from_query(params)
    assert result.values == kept
    assert len(result.refusals) == 1
    message = refusal_for(result, parameter)
    assert "one-cycle" in message or "validation split above 0" in message or "Your drawings are digits" in message
    result.config()


@pytest.mark.parametrize("params, page", [
    ({"job": "job-3-01234", "lesson": "overfitting", "step": "2", "present": "1", "name": "Zoë_2", "model": "cnn-basic-1"},
     {"job": "job-3-01234", "lesson": "overfitting", "step": 2, "present": True, "name": "Zoë_2", "model": "cnn-basic-1"}),
    ({"present": "0", "step": "999"}, {"present": False, "step": 999}),
])
def test_page_parameters_are_read_not_reported(params, page):
    result = settings_from_query(params)
    assert result.refusals == [] and result.values == {}
    assert result.page == page


@pytest.mark.parametrize("key", ["foo", "utm_source", "options[hidden]", "__class__", "lr ", "x" * 300])
def test_unknown_parameters_are_reported(key):
    result = settings_from_query({key: "1", "epochs": "2"})
    assert result.values == ({"epochs": 2} if key != "lr " else {"epochs": 2, "learning_rate": 1.0})
    if key == "lr ":
        assert result.refusals == []                          # surrounding spaces in a name are forgiven
        return
    (refusal,) = result.refusals
    assert refusal.message == "Unknown parameter: not a setting of Digit Studio."
    assert refusal.parameter == key[:39] + ("…" if len(key) > 40 else key[39:])


def test_the_model_name_is_not_a_link_setting_and_name_is_the_visitors():
    result = settings_from_query({"name": "ada"})
    assert result.page == {"name": "ada"} and result.values == {}
    assert "name" not in LINK_SETTINGS and set(LINK_SETTINGS) == set(SETTINGS) - {"name"}


def test_no_spelling_means_two_things():
    spellings = [("page", p) for p in PAGE_PARAMETERS] + [("arch", "arch"), ("options", "options")]
    for key in OPTION_KINDS:
        spellings += [(key, key), (key, key.replace("_", "-"))]
    for name in LINK_SETTINGS:
        spellings += [(name, s) for s in {name, name.replace("_", "-"), SETTINGS[name].flag} if s]
    owners: dict[str, set] = {}
    for owner, spelling in spellings:
        owners.setdefault(spelling, set()).add(owner)
    assert {s: o for s, o in owners.items() if len(o) > 1} == {}


def test_a_query_that_is_not_a_mapping_is_a_programming_error():
    with pytest.raises(TypeError):
        settings_from_query("epochs=3")


CUSTOM_CONFIGS = [
    TrainConfig.for_preset("custom-mlp", options={"hidden": (256, 128), "dropout": 0.2, "activation": "gelu"}),
    TrainConfig.for_preset("custom-mlp", options={"hidden": ()}),
    TrainConfig.for_preset("custom-cnn", options={"blocks": 3, "filters": 16, "kernel_size": 5, "batch_norm": False,
                                                  "dropout": 0.0, "dense_units": 0}),
    TrainConfig.for_preset("tiny-20px").replace(limit=None),          # preset limit 5000 -> all samples
    TrainConfig.for_preset("tiny-20px", limit=20000, epochs=1),
    TrainConfig.for_preset("cnn-best", augment=False, learning_rate=0.0123456789, schedule="constant", reduce_lr=True,
                           validation_split=0.1),
    TrainConfig.for_preset("cnn-basic", dataset="fashion-mnist", optimizer="sgd", batch_size=1, seed=2**31 - 1,
                           validation_split=0.0),
    TrainConfig.for_preset("linear", learning_rate=1e-5, validation_split=0.5, early_stopping=True, limit=50),
    TrainConfig.for_preset("cnn-bn", early_stopping=False, reduce_lr=False, epochs=100),
    TrainConfig.for_preset("cnn-best", start_from="default", drawings_weight=5, drawings_held_out=0.3, epochs=3,
                           learning_rate=3e-4, schedule="constant", augment=False, limit=10_000),
]


@pytest.mark.parametrize("config", [TrainConfig.for_preset(arch) for arch in PRESETS] + CUSTOM_CONFIGS,
                         ids=lambda c: c.arch)
def test_round_trip_through_a_link_gives_the_same_config(config):
    params = query_from_config(config)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    assert params["arch"] == config.arch
    url = link("http://studio.example:8501/train", params)
    parsed = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    result = settings_from_query(parsed)                      # lists of values, as a server sees them
    assert result.refusals == []
    assert result.config() == config


def test_a_named_config_round_trips_without_its_model_name():
    config = TrainConfig.for_preset("cnn-fast", epochs=1, name="my-model")
    assert settings_from_query(query_from_config(config)).config() == config.replace(name=None)


@pytest.mark.parametrize("arch", list(PRESETS))
def test_a_preset_link_carries_only_the_arch(arch):
    assert query_from_config(TrainConfig.for_preset(arch)) == {"arch": arch}


def test_a_link_carries_only_what_differs_from_the_preset():
    config = TrainConfig.for_preset("mlp-128-64", epochs=2, learning_rate=0.01, limit=5000)
    assert query_from_config(config) == {"arch": "mlp-128-64", "epochs": "2", "lr": "0.01", "limit": "5000"}
    assert query_from_config(TrainConfig.for_preset("tiny-20px").replace(limit=None)) == {"arch": "tiny-20px", "limit": "0"}
    assert query_from_config(TrainConfig.for_preset("cnn-bn", reduce_lr=False))["reduce-lr"] == "0"


def test_base_keeps_page_parameters_and_drops_old_settings():
    config = TrainConfig.for_preset("linear", epochs=3)
    params = query_from_config(config, base={"lesson": "overfitting", "step": 2, "present": True,
                                             "learning_rate": "0.5", "arch": "cnn-best", "hidden": "64"})
    assert params == {"lesson": "overfitting", "step": "2", "present": "1", "arch": "linear", "epochs": "3"}
    result = settings_from_query(params)
    assert result.page == {"lesson": "overfitting", "step": 2, "present": True} and result.config() == config


def test_link_encodes_values_and_replaces_old_settings():
    params = {"arch": "custom-mlp", "hidden": "256,128", "options": '{"a": "b c&d=e"}', "name": "Zoë"}
    url = link("http://host:8501/train?lr=1&utm=x&name=old#top", params)
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("http", "host:8501", "/train", "top")
    assert "hidden=256,128" in parts.query and " " not in url and "&d=" not in url
    assert urllib.parse.parse_qsl(parts.query) == [("utm", "x"), ("arch", "custom-mlp"), ("hidden", "256,128"),
                                                   ("options", '{"a": "b c&d=e"}'), ("name", "Zoë")]


def test_config_from_values_keeps_none_over_a_preset_limit():
    assert config_from_values({"arch": "tiny-20px", "limit": None}).limit is None
    assert config_from_values({"arch": "tiny-20px"}).limit == 5000
    assert config_from_values({}) == TrainConfig()


def test_a_runs_key_is_a_page_parameter_that_no_link_carries():
    """The run's key lives only in its starter's own address: a link made from that address, or handed it, drops it."""
    assert settings_from_query({"job": "job-1-00001", "run_key": "ab" * 16}).refusals == []
    config = TrainConfig.for_preset("linear", epochs=3)
    params = query_from_config(config, base={"lesson": "overfitting", "run_key": "ab" * 16, "RUN_KEY": "x"})
    assert params == {"lesson": "overfitting", "arch": "linear", "epochs": "3"}
    url = link("http://host:8501/train?job=job-1-00001&run_key=abab&name=sam", {**params, "run_key": "cd" * 16})
    assert "run_key" not in url.lower() and "abab" not in url and "cdcd" not in url
    assert urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)[:2] == [("job", "job-1-00001"), ("name", "sam")]
