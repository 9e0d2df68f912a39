"""Lessons: the shipped ones load and keep every run short; bad files are named with their line; no path tricks."""
import textwrap

import pytest

from core.fit.config import TrainConfig
from core.nets.presets import PRESETS
from core.workshop.lesson_checker import LESSONS_DIR, get_lesson, load_lessons
from core.workshop.lessons import CONTROLS, Lesson, LessonError, LessonStep
from core.workshop.links import settings_from_query
from core.workshop.setting_text import config_from_values

# Training speed on the 2-core server, samples per second (docs/benchmarks.md section 3, each preset
# at its own settings; cnn-best's figure includes its augmentation), and the fixed costs around the
# samples: building, testing and saving a model (PER_RUN) and each epoch's validation and reporting
# (PER_EPOCH), both measured on this server when the lessons were written (a 30-epoch cnn-basic
# step on 1,000 digits took 15-22 s in all). Augmentation elsewhere is counted at half speed.
SAMPLES_PER_SECOND = {"linear": 139_491, "mlp-512": 58_193, "mlp-128-64": 106_730, "tiny-20px": 46_972,
                      "cnn-basic": 11_618, "cnn-bn": 6_085, "cnn-fast": 9_460, "cnn-best": 2_794,
                      "custom-mlp": 102_624, "custom-cnn": 5_575}
PER_RUN, PER_EPOCH = 6.0, 0.4
SECONDS_PER_RUN = 40        # a minute at most with a margin: the room shares the server
SHIPPED = {"line-to-cnn": "From a line to a CNN", "preprocessing": "Why preprocessing matters",
           "overfitting": "Overfitting", "learning-rate": "Learning rate: too small, just right, too large"}


def run_seconds(config: TrainConfig) -> float:
    samples = (config.limit or 60_000) * (1 - config.validation_split)
    slow = 2 if config.augment and config.arch != "cnn-best" else 1
    return PER_RUN + config.epochs * (PER_EPOCH + samples * slow / SAMPLES_PER_SECOND[config.arch])


@pytest.fixture(scope="module")
def shipped():
    return load_lessons()


def test_the_shipped_lessons_load_without_problems(shipped):
    lessons, problems = shipped
    assert problems == []
    assert {name: lesson.title for name, lesson in lessons.items()} == SHIPPED
    assert all(len(lesson.steps) >= 3 and lesson.description for lesson in lessons.values())


def test_shipped_lessons_cover_what_the_issue_asks(shipped):
    lessons, _ = shipped
    line = lessons["line-to-cnn"]
    assert [step.allowed_archs for step in line.steps[:3]] == [("linear",), ("mlp-128-64",), ("cnn-fast", "cnn-basic")]
    pre = lessons["preprocessing"]
    assert {step.page for step in pre.steps} >= {"draw", "inside", "train"}
    assert [step.fixed.get("augment") for step in pre.steps if step.page == "train"] == [False, True]
    over = lessons["overfitting"]
    first = config_from_values(over.step(1).apply({})[0])
    assert first.limit <= 500 and first.epochs >= 30 and first.validation_split > 0 and not first.early_stopping
    assert any(step.fixed.get("early_stopping") is True for step in over.steps)


def test_the_learning_rate_lesson_uses_the_finder_a_run_that_diverges_and_a_rescue(shipped):
    lessons, _ = shipped
    rate = lessons["learning-rate"]
    finder, small, large, rescue = rate.steps
    assert "finder" not in finder.hidden and "learning_rate" not in finder.fixed   # "Use this" can fill it
    assert small.fixed["learning_rate"] < 0.001 < 0.5 < large.fixed["learning_rate"]
    assert "steer" not in rescue.hidden and "steer" not in large.hidden and "steer" in finder.hidden
    assert rescue.fixed["learning_rate"] == large.fixed["learning_rate"]
    assert {"steer", "finder"} <= set(CONTROLS)


def every_step(lessons):
    return [(lesson.name, step) for lesson in lessons.values() for step in lesson.steps]


def test_every_steps_fixed_settings_make_a_short_valid_run(shipped):
    lessons, _ = shipped
    for name, step in every_step(lessons):
        assert step.max_epochs is not None and step.max_limit is not None, (name, step.number)
        for arch in step.allowed_archs:
            values, refusals = step.apply({"arch": arch})
            assert refusals == []
            config = config_from_values(values)
            assert config.arch == (step.fixed.get("arch") or arch)
            assert all(getattr(config, key) == value for key, value in step.fixed.items())
            assert config.epochs <= step.max_epochs and config.limit is not None and config.limit <= step.max_limit
            assert run_seconds(config) <= SECONDS_PER_RUN, (name, step.number, arch, run_seconds(config))


def test_every_step_stays_short_whatever_the_link_asks(shipped):
    lessons, _ = shipped
    greedy = settings_from_query({"epochs": "100", "limit": "0", "augment": "1", "validation_split": "0"}).values
    for name, step in every_step(lessons):
        for arch in step.allowed_archs:
            values, _ = step.apply({**greedy, "arch": arch})
            config = config_from_values(values)
            assert config.epochs <= step.max_epochs and config.limit <= step.max_limit
            assert run_seconds(config) <= SECONDS_PER_RUN, (name, step.number, arch)


def test_shipped_text_names_only_known_controls(shipped):
    lessons, _ = shipped
    for _, step in every_step(lessons):
        assert set(step.hidden) <= set(CONTROLS) and step.title and step.text.strip()


# --- a step's rules -------------------------------------------------------------------------------

STEP = LessonStep(number=1, title="t", fixed={"dataset": "mnist", "schedule": "one-cycle"}, archs=("cnn-fast", "linear"),
                  max_epochs=3, max_limit=5000, hidden=("options",))


@pytest.mark.parametrize("asked, expected, refused", [
    ({}, {"arch": "cnn-fast", "dataset": "mnist", "schedule": "one-cycle", "limit": 5000}, {}),
    ({"arch": "linear", "epochs": 2, "limit": 1000}, {"arch": "linear", "epochs": 2, "limit": 1000}, {}),
    ({"arch": "cnn-best"}, {"arch": "cnn-fast"}, {"arch": "This step offers cnn-fast, linear (got 'cnn-best')."}),
    ({"arch": "custom-mlp", "options": {"hidden": (64,)}}, {"arch": "cnn-fast"},
     {"arch": "This step offers", "options": "Not used: they were for the refused architecture."}),
    ({"epochs": 50}, {"epochs": 3}, {"epochs": "Epochs lowered from 50 to 3: this step allows at most 3."}),
    ({"limit": None}, {"limit": 5000}, {"limit": "Training-sample limit lowered from all to 5,000"}),
    ({"limit": 60000}, {"limit": 5000}, {"limit": "lowered from 60,000 to 5,000"}),
    ({"dataset": "fashion-mnist", "schedule": "constant"}, {"dataset": "mnist", "schedule": "one-cycle"}, {}),
    ({"reduce_lr": True}, {"schedule": "one-cycle"}, {"reduce_lr": "cannot adjust a one-cycle schedule"}),
])
def test_apply_fixes_caps_and_refuses(asked, expected, refused):
    values, refusals = STEP.apply(asked)
    assert {k: values.get(k) for k in expected} == expected
    assert {r.parameter for r in refusals} == set(refused)
    for refusal in refusals:
        assert refused[refusal.parameter] in refusal.message
    config = config_from_values(values)
    assert config.epochs <= 3 and config.limit <= 5000 and config.dataset == "mnist" and not config.reduce_lr


def test_a_preset_default_above_the_cap_is_lowered_silently():
    step = LessonStep(number=1, title="t", archs=("mlp-128-64",), max_epochs=2)
    values, refusals = step.apply({})
    assert refusals == [] and config_from_values(values).epochs == 2        # mlp-128-64 trains 10 by default


def test_controls_are_hidden_locked_or_free():
    assert [STEP.control(name) for name in ("options", "dataset", "schedule", "epochs", "arch")] == \
           ["hidden", "locked", "locked", "free", "free"]
    assert LessonStep(number=1, title="t", archs=("linear",)).control("arch") == "locked"


def test_steps_are_numbered_from_one_and_out_of_range_is_refused(shipped):
    lesson = shipped[0]["overfitting"]
    assert lesson.step(1).number == 1 and lesson.step(len(lesson.steps)) is lesson.steps[-1]
    for bad in (0, len(lesson.steps) + 1, -1, "1", 1.0, True, None):
        with pytest.raises(LessonError, match=r"has steps 1 to 4"):
            lesson.step(bad)
    assert lesson.step_params(2) == {"lesson": "overfitting", "step": "2"}
    assert settings_from_query(lesson.step_params(2)).page == {"lesson": "overfitting", "step": 2}


# --- bad files ----------------------------------------------------------------------------------

GOOD = """\
title = "Good"

[[steps]]
title = "One"
archs = ["linear"]
max_epochs = 2
max_limit = 1000

[steps.fixed]
epochs = 1
"""


def write(folder, name, text):
    (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")


def only_problem(folder):
    lessons, problems = load_lessons(folder)
    assert len(problems) == 1, problems
    return lessons, problems[0]


@pytest.mark.parametrize("text, line, fragment", [
    ('title = "x"\n\n[[steps]]\ntitle = \n', 4, "Not valid TOML: Invalid value (at line 4, column 9)"),
    ('title = "x"\n[[steps]]\ntitle = "unterminated\n', 3, "Not valid TOML"),
    ('title = "x"\ntitle = "y"\n', 2, "Not valid TOML"),
    ('title = 5\n[[steps]]\ntitle = "a"\n', 1, "title must be text (got '5')"),
    ('title = "x"\nsteps = "none"\n', 2, "steps must be a list"),
    ('title = "x"\n\n[[steps]]\ntitle = "a"\n\n[[steps]]\ntitle = "b"\nmax_epochs = "two"\n', 8,
     "step 2: max_epochs must be a whole number (got 'two')"),
    ('title = "x"\n[[steps]]\ntitle = "a"\nmax_epochs = 2.5\n', 4, "step 1: max_epochs must be a whole number"),
    ('title = "x"\n[[steps]]\ntitle = "a"\nhidden = "epochs"\n', 4, "step 1: hidden must be a list"),
    ('title = "x"\n[[steps]]\ntitle = "a"\narchs = ["linear", "resnet"]\n', 4,
     "step 1: archs: unknown architecture 'resnet' (known: linear, "),
    ('title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\nepocs = 2\n', 5, "step 1: fixed: unknown setting 'epocs'"),
    ('title = "x"\n[[steps]]\ntitle = "a"\nhidden = ["epochs",\n  "learning-rate"]\n', 5,
     "step 1: hidden: unknown setting 'learning-rate'"),
    ('title = "x"\n[[steps]]\ntitle = "a"\nstep = 3\n', 4, "step 1: unknown key 'step'"),
    ('title = "x"\ncolour = "red"\n[[steps]]\ntitle = "a"\n', 2, "unknown key 'colour'"),
    ('title = "x"\n[[steps]]\ntitle = "a"\n\n[steps.fixed]\nlearning_rate = 0\n', 6,
     "step 1: fixed: Learning rate must be above 0"),
    ('title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\naugment = "yes"\n', 5,
     "fixed: Augmentation must be true or false"),
    ('title = "x"\n[[steps]]\ntitle = "a"\nfixed = { limit = 10 }\n', 4, "fixed: Training-sample limit"),
    ('title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\narch = "cnn-huge"\n', 5,
     "step 1: fixed: Unknown architecture 'cnn-huge'"),
    ('title = "x"\n[[steps]]\ntitle = "a"\narchs = ["linear"]\n[steps.fixed]\narch = "cnn-fast"\n', 6,
     "fixed: arch 'cnn-fast' is not among this step's archs (linear)"),
    ('title = "x"\n[[steps]]\ntitle = "a"\nmax_epochs = 3\n[steps.fixed]\nepochs = 10\n', 6,
     "fixed: epochs = 10 is above the step's max_epochs = 3"),
    ('title = "x"\nmax_limit = 5000\n[[steps]]\ntitle = "a"\n[steps.fixed]\nlimit = 0\n', 6,
     "fixed: limit = 0 (all samples) is above the step's max_limit = 5000"),
    ('title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\nname = "shared"\n', 5, "the model name cannot be fixed"),
    ('title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\nschedule = "one-cycle"\nreduce_lr = true\n', 4,
     "the fixed settings make no valid run with linear"),
    ('title = "x"\n[[steps]]\ntitle = "a"\narchs = ["cnn-fast"]\n[steps.fixed]\nreduce_lr = true\n', 5,
     "make no valid run with cnn-fast: Reduce-LR-on-plateau cannot adjust a one-cycle schedule"),
    ('title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\narch = "custom-mlp"\noptions = { hidden = [4] }\n', 6,
     "fixed: Units per layer must be a whole number from 8 to 1024"),
    ('title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\noptions = { dropout = 0.5 }\n', 5,
     "fixed options need a fixed arch"),
    ('title = "x"\n[[steps]]\ntitle = "a"\npage = "settings"\n', 4, "step 1: page must be one of home, draw"),
    ('title = "x"\n[[steps]]\ntext = "no title"\n', 2, "step 1: needs a title"),
    ('title = "x"\n', None, "needs at least one [[steps]]"),
    ('title = "x"\nmax_epochs = 1000\n[[steps]]\ntitle = "a"\n', 2, "max_epochs: Epochs must be a whole number"),
])
def test_a_bad_file_is_reported_with_file_and_line(tmp_path, text, line, fragment):
    write(tmp_path, "bad.toml", text)
    lessons, problem = only_problem(tmp_path)
    assert lessons == {}
    assert problem.file == f"{tmp_path.name}/bad.toml"
    assert problem.line == line
    assert fragment in problem.message
    assert str(problem).startswith(f"{tmp_path.name}/bad.toml" + (f", line {line}: " if line else ": "))


def test_a_fixed_arch_alone_is_the_only_one_offered(tmp_path):
    write(tmp_path, "fine.toml", 'title = "x"\n[[steps]]\ntitle = "a"\n[steps.fixed]\narch = "cnn-best"\n')
    lessons, problems = load_lessons(tmp_path)
    assert problems == []
    step = lessons["fine"].step(1)
    assert step.allowed_archs == ("cnn-best",) and step.control("arch") == "locked"
    assert step.apply({"arch": "linear"})[0]["arch"] == "cnn-best"


def test_one_bad_file_does_not_stop_the_others(tmp_path):
    write(tmp_path, "a-good.toml", GOOD)
    write(tmp_path, "b-broken.toml", 'title = "x"\n[[steps\n')
    write(tmp_path, "c-good.toml", GOOD.replace("Good", "Also good"))
    write(tmp_path, "d-wrong.toml", GOOD.replace('archs = ["linear"]', 'archs = ["linear", "cnn-huge"]'))
    (tmp_path / "notes.md").write_text("not a lesson")
    lessons, problems = load_lessons(tmp_path)
    assert sorted(lessons) == ["a-good", "c-good"] and lessons["c-good"].title == "Also good"
    assert [(p.file.split("/")[-1], p.line) for p in problems] == [("b-broken.toml", 2), ("d-wrong.toml", 5)]


def test_files_that_are_not_text_or_too_big_are_reported(tmp_path):
    (tmp_path / "latin.toml").write_bytes(b'title = "x"\n# caf\xe9\n')
    (tmp_path / "huge.toml").write_text('title = "x"\n' + "# padding\n" * 20_000)
    _, problems = load_lessons(tmp_path)
    assert {(p.file.split("/")[-1], p.line, p.message.split(" ")[0]) for p in problems} == \
           {("latin.toml", 2, "Not"), ("huge.toml", None, "Too")}


@pytest.mark.parametrize("file_name", ["two words.toml", "..toml", ".hidden.toml", "é-accent.toml"])
def test_a_file_name_that_is_not_a_plain_name_is_reported(tmp_path, file_name):
    write(tmp_path, file_name, GOOD)
    lessons, problem = only_problem(tmp_path)
    assert lessons == {} and "file name must be a plain name" in problem.message


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_text(GOOD)
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "sneaky.toml").symlink_to(outside)
    lessons, problem = only_problem(folder)
    assert lessons == {} and "outside the lessons folder" in problem.message


@pytest.mark.parametrize("name", ["../../etc/passwd", "../lessons/overfitting", "/etc/passwd", "overfitting.toml",
                                  "overfitting/../overfitting", "..", "", " overfitting", "over\x00fitting",
                                  "C:\\windows", None, 3, "x" * 65])
def test_path_tricks_are_refused_before_any_file_is_read(name, monkeypatch):
    import pathlib

    def no_reading(*args, **kwargs):
        raise AssertionError("a file was read")

    monkeypatch.setattr(pathlib.Path, "read_bytes", no_reading)
    monkeypatch.setattr(pathlib.Path, "is_file", no_reading)
    with pytest.raises(LessonError, match="A lesson is named by 1-64 letters"):
        get_lesson(name)


def test_get_lesson_opens_one_lesson_and_names_what_is_missing(tmp_path):
    assert isinstance(get_lesson("overfitting"), Lesson) and get_lesson("overfitting").file == "lessons/overfitting.toml"
    with pytest.raises(LessonError, match=r"No lesson called 'nope' \(there are: learning-rate, line-to-cnn, overfitting, "):
        get_lesson("nope")
    write(tmp_path, "broken.toml", 'title = "x"\n[[steps]]\ntitle = "a"\nmax_limit = 7\n')
    with pytest.raises(LessonError) as info:
        get_lesson("broken", tmp_path)
    assert [p.line for p in info.value.problems] == [4]


def test_a_missing_folder_is_one_problem(tmp_path):
    lessons, problems = load_lessons(tmp_path / "none")
    assert lessons == {} and [p.message for p in problems] == ["No lessons folder."]


def test_the_shipped_folder_is_the_default():
    assert LESSONS_DIR.name == "lessons" and (LESSONS_DIR / "README.md").is_file()
    assert set(load_lessons(LESSONS_DIR)[0]) == set(SHIPPED)
    assert all(arch in PRESETS for lesson in load_lessons()[0].values() for s in lesson.steps for arch in s.archs)
