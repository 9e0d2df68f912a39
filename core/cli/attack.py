"""`python -m core attack NAME digit.png --target 3 --eps 0.1 --out fooled.png`: fool a model with FGSM or PGD."""
from __future__ import annotations

import json

from core.cli.common import class_number, load_model_and_spec, read_picture, write_picture


def add_parser(sub) -> None:
    attack = sub.add_parser("attack", help="change a drawing by at most ε per pixel so the model reads it wrong")
    attack.add_argument("name", help="a saved model's name, e.g. default")
    attack.add_argument("image", help="the drawing, PNG or JPEG (read as the app reads a drawing)")
    attack.add_argument("--eps", type=float, default=0.1,
                        help="most each pixel may change, 0 to 1 (1 = black to white; default 0.1)")
    attack.add_argument("--target", help="the class it should read (default: anything but its answer)")
    attack.add_argument("--method", choices=["fgsm", "pgd"], default="pgd")
    attack.add_argument("--steps", type=int, default=20, help="PGD steps (default 20)")
    attack.add_argument("--smallest", action="store_true", help="also find the smallest ε that fools it")
    attack.add_argument("--out", help="PNG to write: the drawing, the changed drawing and the change, 10 px per pixel")
    attack.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from core import explain

    model, spec = load_model_and_spec(args.name)
    eps = explain.check_eps(args.eps)
    target = None if args.target is None else class_number(args.target, spec.class_names)
    image = read_picture(args.image)
    result = explain.attack(model, image, eps, args.method, target=target, steps=args.steps)
    smallest = (explain.smallest_flip(model, image, args.method, target=target, steps=args.steps)
                if args.smallest else None)
    if args.out:
        change = 0.5 + result.change / (2 * eps) if eps > 0 else 0.5 + result.change  # grey = unchanged
        write_picture([result.original, result.adversarial, change], args.out)
    names = spec.class_names
    report = {"model": args.name, "image": args.image, "method": args.method, "eps": eps,
              "target": None if target is None else names[target],
              "before": names[result.original_class],
              "before_probability": round(float(result.original_probabilities.max()), 6),
              "after": names[result.predicted], "after_probability": round(float(result.probabilities.max()), 6),
              "fooled": result.succeeded, "probabilities": [round(float(p), 6) for p in result.probabilities]}
    if smallest is not None:
        report["smallest_eps"] = smallest.eps
    if args.json:
        print(json.dumps(report))
        return 0
    goal = f"towards {report['target']}" if target is not None else "away from its answer"
    print(f"{args.image}: {report['before']} ({report['before_probability']:.1%}) -> {report['after']} "
          f"({report['after_probability']:.1%}) by {args.method} at ε = {eps:g}, {goal}: "
          f"{'fooled' if result.succeeded else 'not fooled'}")
    if smallest is not None:
        print("  smallest ε that fools it: " + (f"{smallest.eps:.4f} ({smallest.levels} of 255 grey levels)"
                                                if smallest.eps is not None else "none up to 1"))
    if args.out:
        print(f"  written to {args.out}: the drawing, the changed drawing, the change "
              "(grey = none, white = +ε, black = -ε)")
    return 0
