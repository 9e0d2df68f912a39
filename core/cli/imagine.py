"""`python -m core imagine NAME --class 7 --out seven.png`: what the model imagines a class looks like."""
from __future__ import annotations

import json

from core.cli.common import class_number, load_model_and_spec, read_picture, write_picture


def add_parser(sub) -> None:
    imagine = sub.add_parser("imagine", help="grow the input a model scores highest for a class (gradient ascent)")
    imagine.add_argument("name", help="a saved model's name, e.g. default")
    imagine.add_argument("--class", dest="classes", action="append", metavar="CLASS",
                         help="a class number or name (repeat for several; default: every class)")
    imagine.add_argument("--start", metavar="IMAGE", help="start from this drawing (PNG or JPEG) instead of noise")
    imagine.add_argument("--steps", type=int, default=200, help="steps of gradient ascent (default 200)")
    imagine.add_argument("--seed", type=int, default=0)
    imagine.add_argument("--out", required=True, help="PNG to write: the images side by side, 10 px per pixel")
    imagine.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args) -> int:
    from core import explain

    model, spec = load_model_and_spec(args.name)
    classes = None if not args.classes else [class_number(c, spec.class_names) for c in args.classes]
    start = read_picture(args.start) if args.start else None
    settings = explain.ImagineSettings(steps=args.steps, seed=args.seed)
    result = explain.imagine_classes(model, classes, start=start, settings=settings)
    write_picture(result.images, args.out)
    rows = [{"class": spec.class_names[k], "probability": round(float(result.probabilities[i, k]), 6),
             "start_probability": round(float(result.start_probabilities[i, k]), 6)}
            for i, k in enumerate(result.targets)]
    if args.json:
        print(json.dumps({"model": args.name, "out": args.out, "how": result.description, "images": rows}))
        return 0
    print(f"{args.name}: {result.description}; written to {args.out}")
    for row in rows:
        print(f"  {row['class']:<12} probability {row['probability']:.4f} "
              f"(at the start {row['start_probability']:.4f})")
    return 0
