"""Compare's PNGs for slides (core/reports/pictures.py, SLIDE size): parallel coordinates, the curves overlaid and
what mattered. Read back as a user's slide software would: a PNG of a projector's size with a line (or bar) for
each run (or setting), in the colours the chart gives them; runs outside a brushed box grey."""
from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_rgb
from PIL import Image

from core.reports import pictures
from core.sweeps.compare import RunRow

ACCURACIES = (0.62, 0.81, 0.90, 0.95)


@pytest.fixture
def rows():
    return [RunRow(f"run {i}", {"arch": "mlp-128-64", "learning_rate": lr, "batch_size": batch}, acc, acc - 0.01,
                   2.0 + i, [{"epoch": 1, "val_accuracy": acc - 0.04}, {"epoch": 2, "val_accuracy": acc}])
            for i, (lr, batch, acc) in enumerate(zip((0.0001, 0.001, 0.01, 0.1), (32, 128, 32, 128), ACCURACIES), 1)]


def decoded(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png)).convert("RGB")


def inside_axes(figure, image: Image.Image) -> np.ndarray:
    """The pixels of the figure's first axes alone (the colour bar beside it holds every colour too)."""
    box = figure.axes[0].get_window_extent()
    height = image.height
    return np.asarray(image.crop((int(box.x0), int(height - box.y1), int(box.x1), int(height - box.y0))))


def pixels_of(array: np.ndarray, colour) -> int:
    rgb = np.round(np.array(to_rgb(colour)) * 255).astype(int)
    return int((np.abs(array.astype(int) - rgb).max(axis=-1) <= 2).sum())


def run_colour(accuracy: float):
    return colormaps["viridis"](Normalize(min(ACCURACIES), max(ACCURACIES))(accuracy))


def test_the_parallel_coordinates_slide_is_a_large_png_with_one_coloured_line_per_run(rows):
    figure = pictures.parallel_figure(rows, ["learning_rate", "batch_size"], "Runs", look=pictures.SLIDE)
    png = pictures.png(figure)
    image = decoded(png)
    assert image.size[0] >= 1900 and image.size[0] / image.size[1] == pytest.approx(16 / 9, rel=0.01)
    assert 30_000 < len(png) < 2_000_000
    lines = [line for line in figure.axes[0].lines if line.get_gid()]
    assert sorted(line.get_gid() for line in lines) == [r.label for r in rows]        # one line per run
    plot = inside_axes(figure, image)
    drawn = [pixels_of(plot, run_colour(a)) for a in ACCURACIES]
    assert min(drawn) > 500, drawn                                     # each run's own colour, in thick lines


def test_a_brushed_box_greys_the_runs_outside_it_in_the_png(rows):
    figure = pictures.parallel_figure(rows, ["learning_rate", "batch_size"], look=pictures.SLIDE,
                                      kept={"run 3", "run 4"})
    plot = inside_axes(figure, decoded(pictures.png(figure)))
    assert pixels_of(plot, run_colour(0.90)) > 500 and pixels_of(plot, run_colour(0.95)) > 500
    assert pixels_of(plot, run_colour(0.62)) == pixels_of(plot, run_colour(0.81)) == 0
    assert pixels_of(plot, pictures.OUTSIDE) > 1000
    assert "2 of 4 runs inside the box" in figure.get_suptitle()


def test_the_curves_slide_has_a_line_per_run_coloured_by_the_setting_chosen(rows):
    rows[1].history = []                                              # a run with no epoch yet draws nothing
    figure = pictures.overlay_figure(rows, "learning_rate", look=pictures.SLIDE)
    lines = {line.get_gid(): line for line in figure.axes[0].lines if line.get_gid()}
    assert sorted(lines) == ["run 1", "run 3", "run 4"]
    assert list(lines["run 4"].get_ydata()) == pytest.approx([0.91, 0.95])
    # learning rates 0.0001 to 0.1: on a log scale 0.01 lies two thirds of the way up
    assert lines["run 3"].get_color() == pytest.approx(colormaps["viridis"](2 / 3))
    image = decoded(pictures.png(figure))
    assert image.size[0] >= 1900
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["run 1: 0.0001", "run 3: 0.01",
                                                                               "run 4: 0.1"]


def test_the_what_mattered_slide_has_a_bar_per_setting_and_says_it(rows):
    shares = {"learning_rate": 0.71, "batch_size": 0.29}
    figure = pictures.importance_figure(shares, "The learning rate explains 71% of the spread",
                                        look=pictures.SLIDE)
    bars = figure.axes[0].patches
    assert sorted(round(b.get_width(), 2) for b in bars) == [0.29, 0.71]
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["batch size", "learning rate"]  # largest on top
    assert figure.get_suptitle().startswith("The learning rate explains 71%")
    assert decoded(pictures.png(figure)).size[0] >= 1900


def test_slide_type_is_twice_the_report_s(rows):
    slide = pictures.parallel_figure(rows, ["learning_rate"], look=pictures.SLIDE)
    report = pictures.parallel_figure(rows, ["learning_rate"])
    size = lambda figure: figure.axes[0].get_xticklabels()[0].get_fontsize()  # noqa: E731
    assert size(slide) >= 2 * size(report) and size(slide) >= 18
