"""The drawings database under load: drawings kept per second with 1 and 4 writer threads and 2 writer
processes, synchronous=NORMAL against FULL, and bytes per drawing in the file.

Each drawing is realistic: an MNIST test digit redrawn as mouse strokes on a 280x280 RGBA canvas
(white ink on black, as the Draw page's canvas gives it) plus its 28x28 network input. "end to end"
is what the Draw page pays (`add` with the RGBA array: PNG encoding plus the write); "database"
passes ready PNG bytes, so only the write is timed. Section 13 of `make bench` (`drawings_section`);
`python -m benchmarks.drawings` prints the figures as JSON.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from core.drawings import DrawingStore
from core.drawings.values import canvas_png


def sample_drawings(n: int, seed: int = 0) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """n (label, 28x28 input, 280x280 RGBA canvas) from MNIST test digits redrawn as strokes."""
    from core.data import datasets
    from core.data.preprocess import canvas_to_mnist
    from core.data.strokes import redraw_as_strokes

    mnist = datasets.load("mnist")
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(mnist.y_test), n, replace=False):
        ink = redraw_as_strokes(mnist.x_test[i], rng)
        rgba = np.zeros((*ink.shape, 4), np.uint8)
        rgba[..., :3] = np.rint(ink * 255).astype(np.uint8)[..., None]
        rgba[..., 3] = 255
        out.append((int(mnist.y_test[i]), canvas_to_mnist(rgba).image, rgba))
    return out


def _write(path: str, drawings: list, count: int, offset: int, synchronous: str = "NORMAL") -> None:
    store = DrawingStore(path, synchronous=synchronous)
    for k in range(count):
        label, image, canvas = drawings[(offset + k) % len(drawings)]
        store.add(label, image, canvas, author=f"w{offset}", model="default", predicted=label, confidence=0.9)
    store.close()


def _process(path: str, drawings: list, count: int, offset: int, barrier) -> None:
    DrawingStore(path).count()  # open and set up off the clock
    barrier.wait()
    _write(path, drawings, count, offset)


def _threads(path: Path, drawings: list, total: int, writers: int, synchronous: str) -> float:
    DrawingStore(path).count()
    each = total // writers
    threads = [threading.Thread(target=_write, args=(str(path), drawings, each, w * each, synchronous))
               for w in range(writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    assert DrawingStore(path).count() == each * writers, "a drawing was lost"
    return each * writers / seconds


def _processes(path: Path, drawings: list, total: int, writers: int) -> float:
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow threads
    barrier = context.Barrier(writers + 1)
    each = total // writers
    procs = [context.Process(target=_process, args=(str(path), drawings, each, w * each, barrier))
             for w in range(writers)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - start
    assert all(p.exitcode == 0 for p in procs) and DrawingStore(path).count() == each * writers
    return each * writers / seconds


def drawings_throughput(total: int = 800, repeats: int = 3, folder: str | None = None) -> dict:
    """Drawings kept per second (end to end and database only; the median of `repeats` runs, each into a new
    file) for several writer set-ups, and bytes per drawing."""
    drawings = sample_drawings(100)
    ready = [(label, image, canvas_png(canvas)) for label, image, canvas in drawings]
    encode = time.perf_counter()
    for _, _, canvas in drawings:
        canvas_png(canvas)
    encode_ms = (time.perf_counter() - encode) / len(drawings) * 1e3
    results: dict = {"drawings": total, "repeats": repeats, "load_average": os.getloadavg()[0], "png_encode_ms": round(encode_ms, 2),
                     "canvas_png_bytes_mean": round(float(np.mean([len(c) for _, _, c in ready]))), "per_second": {}}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        runs = {
            "1 thread, end to end": lambda p: _threads(p, drawings, total, 1, "NORMAL"),
            "1 thread": lambda p: _threads(p, ready, total, 1, "NORMAL"),
            "4 threads": lambda p: _threads(p, ready, total, 4, "NORMAL"),
            "4 threads, end to end": lambda p: _threads(p, drawings, total, 4, "NORMAL"),
            "2 processes": lambda p: _processes(p, ready, total, 2),
            "2 processes, end to end": lambda p: _processes(p, drawings, total, 2),
            "1 thread, synchronous=FULL": lambda p: _threads(p, ready, total, 1, "FULL"),
            "4 threads, synchronous=FULL": lambda p: _threads(p, ready, total, 4, "FULL"),
        }
        bare = [(label, image, None) for label, image, _ in drawings]
        runs["1 thread, no canvas"] = lambda p: _threads(p, bare, total, 1, "NORMAL")
        for i, (name, run) in enumerate(runs.items()):
            rates = [run(Path(tmp) / f"run{i}-{r}.sqlite3") for r in range(repeats)]
            results["per_second"][name] = round(statistics.median(rates), 1)
        for key, run in (("bytes_per_drawing", 1), ("bytes_per_drawing_without_canvas", len(runs) - 1)):
            results[key] = round(_file_bytes(Path(tmp) / f"run{run}-0.sqlite3") / total)
    return results


def _file_bytes(path: Path) -> int:
    """The file's size with everything checkpointed into it (the WAL emptied)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return path.stat().st_size


def drawings_section(report, title: str) -> None:
    """Section 13: the figures of `drawings_throughput` as a table (a smaller run in --quick mode)."""
    quick = report.settings.quick
    print("[13] keeping drawings from threads and processes ...", flush=True)
    figures = drawings_throughput(total=80 if quick else 800, repeats=1 if quick else 3)
    rows = [f"| {name} | {rate:,.0f} |" for name, rate in figures["per_second"].items()]
    report.results["drawings"] = figures
    report.add(title, "\n".join([
        f"{figures['drawings']} drawings per run into a new SQLite file (WAL), median of {figures['repeats']} runs; "
        "each drawing is an MNIST test digit redrawn as strokes on the 280x280 canvas plus its 28x28 input. "
        "\"end to end\" is the Draw page's call (PNG encoding of the canvas plus the write); the others pass "
        f"ready PNG bytes. Load average at the start: {figures['load_average']:.1f}.", "",
        "| writers | drawings kept per second |", "|---|---|", *rows, "",
        f"PNG encoding of one canvas: {figures['png_encode_ms']:.2f} ms. Size in the file: "
        f"**{figures['bytes_per_drawing']:,} bytes per drawing** with its canvas PNG "
        f"(the PNG alone {figures['canvas_png_bytes_mean']:,}), {figures['bytes_per_drawing_without_canvas']:,} without. "
        "Every run checks that no drawing was lost."]))


if __name__ == "__main__":
    print(json.dumps(drawings_throughput(), indent=2))
