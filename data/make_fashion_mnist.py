"""Rebuild data/fashion-mnist.npz from Debian's dataset-fashion-mnist IDX files (run once, by hand).

    apt-get install dataset-fashion-mnist && python data/make_fashion_mnist.py
"""
import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np

SOURCE = Path("/usr/share/datasets/fashion-mnist")
TARGET = Path(__file__).resolve().parent / "fashion-mnist.npz"
FILES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
         "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (big-endian header: magic, then one uint32 per dimension) as a uint8 array."""
    raw = gzip.decompress(path.read_bytes())
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main() -> int:
    arrays = {key: read_idx(SOURCE / name) for key, name in FILES.items()}
    np.savez_compressed(TARGET, **arrays)
    print(TARGET, hashlib.sha256(TARGET.read_bytes()).hexdigest(),
          {k: v.shape for k, v in arrays.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
