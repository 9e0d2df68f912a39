"""What a saved .keras file holds, read without Keras: for tests of what gets saved."""
from __future__ import annotations

import zipfile
from pathlib import Path


def weight_names(path: Path) -> list[str]:
    """Every group and dataset name in the file's weights (model.weights.h5 inside the zip)."""
    import h5py

    names: list[str] = []
    with zipfile.ZipFile(path) as saved, saved.open("model.weights.h5") as weights, h5py.File(weights) as h5:
        h5.visit(names.append)
    return names
