"""The datasets a run can learn from: one small spec each, loaded once per process and checked.

Both ship in `data/` (see data/README.md); a missing file falls back to Keras' own download
of the same dataset, a damaged one is reported with how to restore it.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from core.data.recent import Recent

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DEFAULT_DATASET = "mnist"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetError(RuntimeError):
    """A dataset is unknown, missing or damaged; the message says what to do."""


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: its file and checksum, its classes, its image shape, its license."""

    name: str
    title: str
    file: str
    sha256: str
    class_names: tuple[str, ...]
    keras_loader: str          # keras.datasets.<loader>.load_data(): the fallback download
    license: str
    item: str                  # what one image shows, for sentences: "digit", "piece of clothing"
    train_size: int = 60000
    test_size: int = 10000
    image_shape: tuple[int, int] = (28, 28)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.image_shape, 1)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def path(self) -> Path:
        return DATA_DIR / self.file

    @property
    def is_digits(self) -> bool:
        """Whether a drawn digit is something a model of this dataset can read (the Draw page)."""
        return self.class_names == DIGITS

    def fix_hint(self) -> str:
        return f"Restore data/{self.file} from the repository (git checkout -- data/{self.file}); its sha256 is {self.sha256}."


DIGITS = tuple(str(d) for d in range(10))
MNIST = DatasetSpec(
    "mnist", "MNIST", "mnist.npz", "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64",
    DIGITS, "mnist",
    "MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0", "digit")
FASHION_MNIST = DatasetSpec(
    "fashion-mnist", "Fashion-MNIST", "fashion-mnist.npz",
    "5b6d2c4c694a91887af8ab7d039c04f80af3c29378d731c93a538d2e831aa469",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "fashion_mnist", "Fashion-MNIST by Zalando SE (Han Xiao, Kashif Rasul, Roland Vollgraf), MIT license",
    "piece of clothing")
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


@dataclass(frozen=True)
class Dataset:
    """The four arrays of one dataset as uint8, exactly as stored, with its spec."""

    spec: DatasetSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def test_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Normalised test images (made once per loaded dataset, read-only) and labels."""
        return self._normalised_test, self.y_test

    @cached_property
    def _normalised_test(self) -> np.ndarray:
        """Every run is tested on these: normalising 10,000 images took ~0.09 s of each short run, uncounted."""
        images = normalise(self.x_test)
        images.flags.writeable = False
        return images


@dataclass(frozen=True)
class Split:
    """Training and validation arrays, float32 (N, H, W, 1) in [0, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    train_index: np.ndarray | None = None   # rows of the dataset's training set in x_train, in order


def get(name: str) -> DatasetSpec:
    """The spec called `name`, or an error naming the known ones."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise DatasetError(f"Unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.") from None


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> float32 (N, H, W, 1) in [0, 1]. One pass into one new array: the same values as
    converting, then dividing, in a quarter of the time (a short run normalises 10,000 images)."""
    return np.divide(images, np.float32(255), dtype=np.float32)[..., None]


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check(spec: DatasetSpec, arrays: dict[str, np.ndarray], source: str) -> Dataset:
    expected = {"x_train": (spec.train_size, *spec.image_shape), "y_train": (spec.train_size,),
                "x_test": (spec.test_size, *spec.image_shape), "y_test": (spec.test_size,)}
    for key, shape in expected.items():
        if key not in arrays:
            raise DatasetError(f"{source} has no array '{key}'. {spec.fix_hint()}")
        arr = arrays[key]
        if arr.shape != shape or arr.dtype != np.uint8:
            raise DatasetError(f"{source}: '{key}' is {arr.dtype}{arr.shape}, expected uint8{shape}. {spec.fix_hint()}")
    return Dataset(spec, *(arrays[k] for k in ARRAYS))


def _read(spec: DatasetSpec, path: Path, check_hash: bool) -> Dataset:
    if check_hash and _sha256(path) != spec.sha256:
        raise DatasetError(f"{path} is corrupt (sha256 mismatch). {spec.fix_hint()}")
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zip or pickle errors: all mean "damaged file"
        raise DatasetError(f"{path} cannot be read ({exc}). {spec.fix_hint()}") from exc
    return _check(spec, arrays, str(path))


def _download(spec: DatasetSpec) -> Dataset:
    """Fallback for a checkout without the bundled file: Keras' own download of the same data."""
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, spec.keras_loader).load_data()
    except Exception as exc:
        raise DatasetError(f"data/{spec.file} is missing and {spec.title} could not be downloaded ({exc}). "
                           f"{spec.fix_hint()}") from exc
    arrays = dict(zip(ARRAYS, (x_train, y_train, x_test, y_test)))
    return _check(spec, arrays, f"Keras' {spec.title} download")


_cache: dict[tuple[str, Path], Dataset] = {}
_lock = threading.Lock()


def load(name: str = DEFAULT_DATASET, path: Path | str | None = None) -> Dataset:
    """The whole dataset, loaded and checked once per process (sha256 for the bundled file)."""
    spec = get(name)
    path = Path(path) if path is not None else spec.path
    with _lock:
        key = (spec.name, path)
        if key not in _cache:
            if path.exists():
                _cache[key] = _read(spec, path, check_hash=path == spec.path)
            elif path == spec.path:
                _cache[key] = _download(spec)
            else:
                raise DatasetError(f"{path} does not exist. {spec.fix_hint()}")
        return _cache[key]


def split_sizes(available: int, validation_split: float = 0.1, limit: int | None = None) -> tuple[int, int]:
    """(training, validation) sample counts that `split` gives from `available` training samples."""
    kept = available if limit is None else min(limit, available)
    n_val = int(round(kept * validation_split))
    return kept - n_val, n_val


SMALL_ARRAYS_BYTES = 64 * 2**20    # a short run's arrays (10,000 digits: 31 MB), not a long run's 60,000
KEPT_SPLITS = 2                    # the last small splits made, kept for the next run of the same step
_splits = Recent(KEPT_SPLITS)   # (id(dataset), validation_split, seed, limit) -> (dataset, split)


def split(dataset: Dataset, validation_split: float = 0.1, seed: int = 0, limit: int | None = None) -> Split:
    """Shuffle the training set with `seed`, keep at most `limit` samples, hold out a validation share.

    A room runs the same step again and again: the last KEPT_SPLITS small splits are kept, read-only, and
    handed out again (making one is a tenth of a short run's overhead)."""
    key = (id(dataset), validation_split, seed, limit)
    kept = _splits.get(key)
    if kept is not None:
        return kept[1]
    order = np.random.default_rng(seed).permutation(len(dataset.y_train))
    if limit is not None:
        order = order[:limit]
    n_val = split_sizes(len(dataset.y_train), validation_split, limit)[1]
    val, train = order[:n_val], order[n_val:]
    x = dataset.x_train
    made = Split(normalise(x[train]), dataset.y_train[train], normalise(x[val]), dataset.y_train[val], train)
    if sum(array.nbytes for array in (made.x_train, made.x_val)) <= SMALL_ARRAYS_BYTES:
        for array in (made.x_train, made.y_train, made.x_val, made.y_val, made.train_index):
            array.flags.writeable = False
        _splits.put(key, (dataset, made))  # the dataset held too, so its id stays its own
    return made
