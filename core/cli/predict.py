"""`python -m core predict`: the digit in image files, one JSON line each."""
from __future__ import annotations

import json
from pathlib import Path

from core.cli.common import UsageError, load_model


def add_parser(sub) -> None:
    predict = sub.add_parser("predict", help="predict the digit in image files (one JSON line each)")
    predict.add_argument("--model", default="default")
    predict.add_argument("images", nargs="+")


def run(args) -> int:
    from core.data.preprocess import BlankImageError, ImageError, load_image_bytes
    from core.nets.predict import predict_drawing

    missing = [f for f in args.images if not Path(f).is_file()]
    if missing:
        raise UsageError(f"no such image file: {missing[0]}")
    model = load_model(args.model)
    failed = False
    for file in args.images:
        try:
            prediction, _ = predict_drawing(model, load_image_bytes(Path(file).read_bytes()))
            print(json.dumps({"file": file, **prediction.to_dict()}))
        except (BlankImageError, ImageError) as exc:
            failed = True
            print(json.dumps({"file": file, "error": str(exc)}))
    return 1 if failed else 0
