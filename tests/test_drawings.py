"""The drawings database: values kept exactly, concurrent writers, kill -9, damaged files, zip/npz exchange, CLI."""
import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.drawings import (
    DamagedDatabaseError,
    DrawingsError,
    DrawingStore,
    InvalidDrawingError,
    default_path,
    evaluate_on_drawings,
)
from core.drawings.database import APPLICATION_ID

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path):
    return DrawingStore(tmp_path / "new-folder" / "drawings.sqlite3")


def digit(seed: int) -> np.ndarray:
    """A 28x28 uint8 'drawing' that differs per seed."""
    image = np.zeros((28, 28), np.uint8)
    rng = np.random.default_rng(seed)
    image[4:24, 10:18] = rng.integers(1, 256, (20, 8), dtype=np.uint8)
    return image


def canvas(seed: int) -> np.ndarray:
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[40 + seed % 50: 240, 120:160, :3] = 255
    return rgba


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def rows_in(path) -> set[int]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT id FROM drawings")}
    finally:
        con.close()


# --- keeping and reading -------------------------------------------------------------------------------


def test_values_are_kept_exactly_and_filters_select(db):
    float_input = digit(1).astype(np.float32) / 255
    first = db.add(7, float_input, canvas(1), author="ada", model="default", predicted=1, confidence=0.625)
    second = db.add("3", digit(2)[..., None], png(canvas(2)), author=" bob ")
    third = db.add(np.int64(3), digit(3))
    assert db.path.parent.is_dir()  # the missing folder was created
    got = db.get(first)
    assert (got.label, got.author, got.model, got.predicted, got.confidence) == (7, "ada", "default", 1, 0.625)
    assert np.array_equal(got.image, digit(1)) and got.correct is False
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(got.canvas_png))), canvas(1))
    assert db.get(second).canvas_png == png(canvas(2)) and db.get(second).author == "bob"
    assert db.get(third).canvas_png is None and db.get(third).correct is None and db.get(12345) is None

    listed = db.list()
    assert [d.id for d in listed] == [third, second, first]  # newest first
    assert all(d.canvas_png is None for d in listed) and [d.has_canvas for d in listed] == [False, True, True]
    assert [d.id for d in db.list(label=3, newest_first=False)] == [second, third]
    assert [d.id for d in db.list(author="")] == [third]
    assert [d.id for d in db.list(limit=1, offset=1)] == [second]
    assert db.list(canvas=True)[1].canvas_png == png(canvas(2))
    assert db.counts() == {0: 0, 1: 0, 2: 0, 3: 2, 4: 0, 5: 0, 6: 0, 7: 1, 8: 0, 9: 0}
    assert db.counts(author="ada")[7] == 1 and sum(db.counts(author="ada").values()) == 1
    assert db.authors() == ["ada", "bob"] and db.count(label=3) == 2

    x, y, ids = db.arrays(ids=True)
    assert x.dtype == np.uint8 and x.shape == (3, 28, 28) and y.tolist() == [7, 3, 3]
    assert ids.tolist() == [first, second, third] and np.array_equal(x[2], digit(3))
    assert db.relabel(first, 9) and db.get(first).label == 9 and not db.relabel(999, 1)
    assert db.delete([first, third, 999]) == 2 and db.count() == 1 and db.delete([]) == 0
    assert db.add(5, digit(4)) > third  # ids are never reused


@pytest.mark.parametrize("args, kwargs, fragment", [
    ((10, digit(0)), {}, "Label must be a whole number from 0 to 9 (got 10)"),
    ((-1, digit(0)), {}, "Label must be"),
    ((True, digit(0)), {}, "Label must be"),
    ((7.0, digit(0)), {}, "Label must be"),
    (("seven", digit(0)), {}, "Label must be"),
    ((None, digit(0)), {}, "Label must be"),
    ((1, digit(0)), {"author": "two words"}, "Name must be 1-32 letters"),
    ((1, digit(0)), {"author": "x" * 33}, "Name must be"),
    ((1, digit(0)), {"author": "../etc"}, "Name must be"),
    ((1, digit(0)), {"author": "<b>"}, "Name must be"),
    ((1, np.zeros((280, 280))), {}, "must be 28x28"),
    ((1, np.full((28, 28), np.nan)), {}, "NaN"),
    ((1, digit(0), b"not a png"), {}, "PNG bytes"),
    ((1, digit(0), np.zeros((10, 10, 2), np.uint8)), {}, "uint8 gray, RGB or RGBA"),
    ((1, digit(0)), {"predicted": 11}, "Label must be"),
    ((1, digit(0)), {"confidence": 1.5}, "Confidence must be"),
    ((1, digit(0)), {"model": ""}, "Model name"),
])
def test_bad_values_are_refused_with_a_message_and_nothing_written(db, args, kwargs, fragment):
    with pytest.raises(InvalidDrawingError, match=None) as caught:
        db.add(*args, **kwargs)
    assert fragment in str(caught.value)
    assert db.count() == 0


@pytest.mark.parametrize("bad", [[1, "2"], 1.5, [None]])
def test_bad_ids_are_refused(db, bad):
    with pytest.raises(InvalidDrawingError, match="whole numbers"):
        db.delete(bad)


def test_default_path_follows_the_environment_and_the_model_store(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGIT_STUDIO_DRAWINGS", raising=False)
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path / "models"))
    assert default_path() == tmp_path / "models" / "drawings.sqlite3"
    monkeypatch.setenv("DIGIT_STUDIO_DRAWINGS", str(tmp_path / "elsewhere.db"))
    assert DrawingStore().path == tmp_path / "elsewhere.db"
    monkeypatch.delenv("DIGIT_STUDIO_MODELS")
    monkeypatch.delenv("DIGIT_STUDIO_DRAWINGS")
    assert default_path() == ROOT / "models" / "drawings.sqlite3"


def test_the_file_is_wal_and_marked_as_ours(db):
    db.add(1, digit(0))
    con = sqlite3.connect(db.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    con.close()


# --- many writers, killed writers -----------------------------------------------------------------------


def test_four_threads_writing_at_once_keep_every_row(db):
    ids, errors = [], []

    def write(name):
        try:
            for i in range(100):
                ids.append(db.add(i % 10, digit(i), canvas(i) if i % 10 == 0 else None, author=name))
        except Exception as exc:  # a lost row would show up as an error here or a missing count below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"t{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 400 and rows_in(db.path) == set(ids)
    assert [db.count(author=f"t{k}") for k in range(4)] == [100] * 4


WRITER = """
import sys
import numpy as np
from core.drawings import DrawingStore
from core.drawings.values import canvas_png
store = DrawingStore(sys.argv[1])
rows = int(sys.argv[3])
image = np.zeros((28, 28), np.uint8)
noise = np.random.default_rng(int(sys.argv[4])).integers(0, 256, (160, 160, 4), dtype=np.uint8)
canvas = canvas_png(noise)  # ~100 kB of PNG, encoded once: the time goes to writing it
i = 0
while rows < 0 or i < rows:
    print(store.add(i % 10, image, canvas if rows < 0 else None, author=sys.argv[2]), flush=True)
    i += 1
"""


def writer(path, name, rows, seed=0):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(rows), str(seed)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_setting_up_and_writing_one_new_file_keep_every_row(tmp_path):
    path = tmp_path / "fresh" / "drawings.sqlite3"  # neither the folder nor the file exists yet
    procs = [writer(path, f"p{k}", 150) for k in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ids = [int(line) for out, _ in outputs for line in out.split()]
    assert len(set(ids)) == 300 and rows_in(path) == set(ids)
    store = DrawingStore(path)
    assert store.count(author="p0") == store.count(author="p1") == 150


def test_a_forked_child_writes_through_its_own_connections(db):
    """A worker process forked from the app (which has pooled connections) must neither reuse nor close them."""
    db.add(1, digit(1))
    pid = os.fork()
    if pid == 0:  # the child: exit without running any pytest machinery
        status = 1
        try:
            for i in range(50):
                db.add(2, digit(i))
            status = 0
        finally:
            os._exit(status)
    for i in range(50):
        db.add(3, digit(i))
    assert os.waitpid(pid, 0)[1] == 0
    assert db.counts()[2] == 50 and db.counts()[3] == 50
    db.check()


def test_a_writer_killed_mid_write_leaves_a_sound_database_with_every_committed_row(tmp_path):
    path = tmp_path / "drawings.sqlite3"
    proc = writer(path, "doomed", -1, seed=1)
    committed = [int(proc.stdout.readline()) for _ in range(40)]  # each id is printed after its commit
    proc.send_signal(signal.SIGKILL)
    committed += [int(line) for line in proc.stdout.read().split()]  # what is left in the pipe and its buffer
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    kept = rows_in(path)
    assert set(committed) <= kept and len(kept) <= len(committed) + 1  # at most the drawing being written
    store = DrawingStore(path)
    store.check()
    assert store.add(1, digit(1)) > max(kept)


# --- damaged files ---------------------------------------------------------------------------------------


def _truncated(path: Path) -> Path:
    store = DrawingStore(path)
    for i in range(60):
        store.add(i % 10, digit(i), np.random.default_rng(i).integers(0, 256, (100, 100, 4), dtype=np.uint8))
    store.close()  # the last connection checkpoints: everything is in the main file
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    return path


def _other_program(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE accounts (name TEXT)")
    con.commit()
    con.close()
    return path


@pytest.mark.parametrize("make, why", [
    (lambda p: p.write_bytes(b"these are not the bytes of a database " * 50) or p, "file is not a database"),
    (lambda p: p.write_bytes(b"hi") or p, "file is not a database"),
    (_truncated, "malformed"),
    (_other_program, "another program"),
])
def test_a_damaged_file_is_reported_clearly_and_can_be_moved_aside(tmp_path, make, why):
    path = tmp_path / "drawings.sqlite3"
    make(path)
    store = DrawingStore(path)
    for call in (store.count, store.list, store.arrays, store.check, lambda: store.add(1, digit(1))):
        with pytest.raises(DamagedDatabaseError) as caught:
            call()
        message = str(caught.value)
        assert str(path) in message and why in message and "Move it aside" in message, message
    moved = store.move_aside()
    assert moved.exists() and moved.name.startswith("drawings.sqlite3.damaged-")
    assert store.count() == 0 and store.add(2, digit(2)) == 1  # a new, empty database in its place


def test_a_folder_path_and_an_unwritable_place_are_reported(tmp_path):
    with pytest.raises(DrawingsError, match="is a folder"):
        DrawingStore(tmp_path).count()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DrawingsError, match="cannot be created"):
        DrawingStore(tmp_path / "file" / "drawings.sqlite3").count()


def test_a_file_removed_while_in_use_is_set_up_again(db):
    db.add(1, digit(1))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db.path}{suffix}").unlink(missing_ok=True)
    assert db.count() == 0 and db.add(2, digit(2)) >= 1


# --- zip and npz -----------------------------------------------------------------------------------------


def test_export_import_round_trip_keeps_images_labels_names_times_and_canvases(db, tmp_path):
    ids = [db.add(i % 10, digit(i), canvas(i) if i % 2 else None, author=["ada", None][i % 2], model="m",
                  predicted=(i + 1) % 10, confidence=0.5) for i in range(12)]
    written = db.export_zip(tmp_path / "out.zip", canvases=True)
    with zipfile.ZipFile(written) as archive:
        table = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
        assert list(table[0])[:4] == ["file", "label", "author", "created"]
        assert Image.open(io.BytesIO(archive.read(table[0]["file"]))).size == (28, 28)
    other = DrawingStore(tmp_path / "other.sqlite3")
    report = other.import_zip(written)
    assert report.ok and len(report.added) == 12 and report.summary() == "imported 12 drawings"
    for old, new in zip(db.list(canvas=True, newest_first=False), other.list(canvas=True, newest_first=False)):
        assert np.array_equal(old.image, new.image) and old.label == new.label and old.author == new.author
        assert old.canvas_png == new.canvas_png and abs(old.created_unix - new.created_unix) < 1
        assert (old.model, old.predicted, old.confidence) == (new.model, new.predicted, new.confidence)
    again = other.import_zip(written.read_bytes())
    assert again.added == [] and len(again.duplicates) == 12 and other.count() == 12
    assert len(ids) == 12


def test_npz_export_is_in_mnist_test_layout(db, tmp_path):
    for i in range(5):
        db.add(i, digit(i))
    with np.load(io.BytesIO(db.export_npz())) as npz:
        assert set(npz.files) == {"x_test", "y_test", "ids"}
        assert npz["x_test"].dtype == np.uint8 and npz["x_test"].shape == (5, 28, 28)
        assert npz["y_test"].tolist() == [0, 1, 2, 3, 4] and np.array_equal(npz["x_test"][3], digit(3))
    assert db.export_npz(tmp_path / "d.npz").is_file()


def _zip(files: dict[str, bytes], rows: list[list[str]] | None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        if rows is not None:
            archive.writestr("labels.csv", "\n".join(",".join(r) for r in [["file", "label", "author"], *rows]))
    return buffer.getvalue()


def test_import_keeps_the_good_files_and_says_why_each_bad_one_was_refused(db):
    data = _zip({
        "good1.png": png(digit(1)), "good2.png": png(digit(2)), "twelve.png": png(digit(3)),
        "badname.png": png(digit(4)), "big.png": png(canvas(0)), "text.png": b"hello, not a picture",
        "stray.png": png(digit(5)), "notes.txt": b"my notes",
    }, [["good1.png", "1", "ada"], ["good2.png", " 2 ", ""], ["twelve.png", "12", ""], ["badname.png", "4", "a b"],
        ["big.png", "5", ""], ["text.png", "6", ""], ["gone.png", "7", ""], ["good1.png", "8", ""]])
    report = db.import_zip(data)
    assert len(report.added) == 2 and db.count() == 2 and not report.ok
    assert db.arrays()[1].tolist() == [1, 2] and db.authors() == ["ada"]
    problems = {p.file: p.message for p in report.problems}
    assert set(problems) == {"twelve.png", "badname.png", "big.png", "text.png", "gone.png", "good1.png",
                             "stray.png", "notes.txt"}
    assert "Label must be a whole number from 0 to 9 (got '12')" in problems["twelve.png"]
    assert "Name must be" in problems["badname.png"]
    assert "Wrong size: 280x280" in problems["big.png"]
    assert "Not an image" in problems["text.png"]
    assert "not in the zip" in problems["gone.png"]
    assert "Listed twice" in problems["good1.png"]
    assert problems["stray.png"] == "Not listed in labels.csv."
    assert problems["notes.txt"] == "Not an image, and not listed in labels.csv."
    assert report.summary() == "imported 2 drawings, 8 refused"


@pytest.mark.parametrize("data, fragment", [
    (b"PK but not really a zip", "not a zip file"),
    (_zip({"a.png": png(digit(1))}, None), "exactly one labels.csv"),
    (_zip({"a.png": png(digit(1)), "labels.csv": b"name,digit\na.png,1\n"}, None), "columns file and label"),
])
def test_import_refuses_a_file_that_is_not_a_drawings_zip(db, data, fragment):
    with pytest.raises(DrawingsError, match=fragment):
        db.import_zip(data)
    assert db.count() == 0


def test_evaluate_on_drawings_matches_an_oracle_model(db):
    class Oracle:
        """Says the digit written in the first pixel, with probability 0.9."""

        def predict_on_batch(self, images):  # what core.nets.evaluation.evaluate calls on a Keras model
            images = np.asarray(images)
            digits = np.rint(images[:, 0, 0, 0] * 255).astype(int) % 10
            probabilities = np.full((len(images), 10), 0.1 / 9, np.float32)
            probabilities[np.arange(len(images)), digits] = 0.9
            return probabilities

    with pytest.raises(DrawingsError, match="No drawings to test on"):
        evaluate_on_drawings(Oracle(), db)
    for label, first_pixel in [(3, 3), (3, 3), (5, 7), (8, 8)]:
        image = np.zeros((28, 28), np.uint8)
        image[0, 0] = first_pixel
        db.add(label, image)
    result = evaluate_on_drawings(Oracle(), db)
    assert result.accuracy == 0.75 and result.confusion[5, 7] == 1 and result.confusion[3, 3] == 2
    assert evaluate_on_drawings(Oracle(), db, label=3).accuracy == 1.0


# --- command line -----------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_DRAWINGS", str(tmp_path / "d" / "drawings.sqlite3"))
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path / "models"))
    return tmp_path


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("argv, fragment", [
    (["drawings"], "required"),
    (["drawings", "frob"], "invalid choice"),
    (["drawings", "list", "--label", "12"], "Label must be a whole number from 0 to 9"),
    (["drawings", "list", "--author", "two words"], "Name must be"),
    (["drawings", "list", "--limit", "-1"], "limit must be a whole number"),
    (["drawings", "list", "--limit", "x"], "invalid int value"),
    (["drawings", "export"], "required: --out"),
    (["drawings", "export", "--out", "mine.txt"], "must end in .zip"),
    (["drawings", "export", "--out", "mine.npz", "--canvases"], "only applies to a .zip"),
    (["drawings", "export", "--out", "/no/such/folder/mine.zip"], "does not exist"),
    (["drawings", "import", "/no/such.zip"], "no such zip file"),
    (["drawings", "import", __file__], "not a zip file"),
    (["drawings", "evaluate"], "no drawings kept yet"),
    (["drawings", "finetune", "--epochs", "0"], "Epochs must be a whole number from 1 to 20"),
    (["drawings", "finetune", "--epochs", "21"], "Epochs must be"),
    (["drawings", "finetune", "--held-out", "1"], "Held-out share must be between 0.05 and 0.9"),
    (["drawings", "finetune", "--held-out", "0"], "Held-out share"),
    (["drawings", "finetune", "--weight", "0"], "Drawing weight must be"),
    (["drawings", "finetune", "--name", "../up"], "Invalid model name"),
    (["drawings", "finetune"], "at least 10 kept drawings (there are 0)"),
])
def test_bad_drawings_commands_are_one_line_exit_2(capsys, cli_env, argv, fragment):
    status, out, err = run(capsys, *argv)
    assert status == 2, out + err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert not (cli_env / "models").exists()


def test_cli_with_a_damaged_database_is_one_line_exit_2(capsys, cli_env):
    path = cli_env / "d" / "drawings.sqlite3"
    path.parent.mkdir()
    path.write_bytes(b"garbage" * 100)
    for argv in (["drawings", "list"], ["drawings", "export", "--out", str(cli_env / "x.zip")],
                 ["drawings", "evaluate"]):
        status, _, err = run(capsys, *argv)
        assert status == 2 and len(err.strip().splitlines()) == 1 and "Move it aside" in err, err


def test_cli_list_export_import_evaluate(capsys, cli_env):
    from core.data import datasets

    mnist = datasets.load("mnist")
    store = DrawingStore()
    for i in range(12):
        store.add(int(mnist.y_test[i]), mnist.x_test[i], author="ada" if i < 4 else None)
    status, out, _ = run(capsys, "drawings", "list", "--limit", "2")
    assert status == 0 and "12 drawings in" in out and "... 10 more" in out
    status, out, _ = run(capsys, "drawings", "list", "--author", "ada", "--json")
    listed = json.loads(out)
    assert listed["total"] == 4 and [d["author"] for d in listed["drawings"]] == ["ada"] * 4

    status, out, _ = run(capsys, "drawings", "export", "--out", str(cli_env / "mine.zip"))
    assert status == 0 and "exported 12 drawings" in out
    status, out, _ = run(capsys, "drawings", "export", "--out", str(cli_env / "mine.npz"))
    assert status == 0 and np.load(cli_env / "mine.npz")["x_test"].shape == (12, 28, 28)
    status, out, _ = run(capsys, "drawings", "import", str(cli_env / "mine.zip"))
    assert status == 0 and "imported 0 drawings, 12 already kept" in out

    broken = _zip({"a.png": png(mnist.x_test[20]), "b.png": b"junk"}, [["a.png", str(mnist.y_test[20]), ""],
                                                                        ["b.png", "3", ""]])
    (cli_env / "broken.zip").write_bytes(broken)
    status, out, _ = run(capsys, "drawings", "import", str(cli_env / "broken.zip"))
    assert status == 1 and "refused b.png: Not an image" in out and "imported 1 drawing, 1 refused" in out

    status, out, _ = run(capsys, "drawings", "evaluate", "--json")
    report = json.loads(out)
    assert status == 0 and report["drawings"] == 13 and report["accuracy"] >= 12 / 13  # MNIST test digits
    assert np.asarray(report["confusion"]).sum() == 13 and report["mnist_test_accuracy"] > 0.99
    status, out, _ = run(capsys, "drawings", "evaluate")
    assert status == 0 and "model default on 13 drawings: accuracy" in out and "confusion" in out


def test_a_zip_without_times_imported_again_later_is_already_kept(db):
    data = _zip({"a.png": png(digit(1)), "b.png": png(digit(2))}, [["a.png", "1", "ada"], ["b.png", "2", ""]])
    assert len(db.import_zip(data).added) == 2
    import time

    time.sleep(1.2)  # the rows carry no time: the zip's own file times, not the clock, date them
    again = db.import_zip(data)
    assert again.added == [] and len(again.duplicates) == 2 and db.count() == 2
