"""`python -m core robustness NAME [NAME2] --eps 0,0.05,0.1,0.2,0.3`: test accuracy under attack, as ε grows."""
from __future__ import annotations

import json

from core.cli.common import UsageError, load_model_and_spec


def _eps_list(text: str) -> list[float]:
    from core import explain

    try:
        return [explain.check_eps(part) for part in text.split(",") if part.strip()]
    except explain.ExplainError as exc:
        raise UsageError(f"--eps: {exc}") from None


def add_parser(sub) -> None:
    robustness = sub.add_parser("robustness", help="accuracy on test images under attack at several ε")
    robustness.add_argument("names", nargs="+", metavar="NAME", help="one or two saved models")
    robustness.add_argument("--eps", default="0,0.05,0.1,0.2,0.3", help="comma-separated, each 0 to 1")
    robustness.add_argument("--method", choices=["fgsm", "pgd"], default="fgsm")
    robustness.add_argument("--steps", type=int, default=10, help="PGD steps (default 10)")
    robustness.add_argument("--images", type=int, default=500, help="first N test images (default 500)")
    robustness.add_argument("--json", action="store_true")


def run(args) -> int:
    from core import explain
    from core.data import datasets

    if len(args.names) > 2:
        raise UsageError("give one or two models")
    eps = _eps_list(args.eps)
    if not eps:
        raise UsageError("--eps: give at least one value")
    if not 1 <= args.images <= 10000:
        raise UsageError("--images must be from 1 to 10000")
    curves = {}
    for name in args.names:
        model, spec = load_model_and_spec(name)
        data = datasets.load(spec.name)
        curves[name] = explain.robustness_curve(model, data.x_test[:args.images], data.y_test[:args.images], eps,
                                                args.method, steps=args.steps)
    first = next(iter(curves.values()))
    if args.json:
        print(json.dumps({"method": args.method, "steps": first.steps, "images": first.images,
                          "eps": list(first.eps), "accuracy": {n: list(c.accuracy) for n, c in curves.items()}}))
        return 0
    how = f"{args.method}" + (f", {first.steps} steps" if first.steps else "")
    print(f"accuracy under attack ({how}) on the first {first.images} test images")
    width = max(12, *(len(n) for n in curves))
    print(f"{'ε':>6}  " + "  ".join(f"{n:>{width}}" for n in curves))
    for row, value in enumerate(first.eps):
        print(f"{value:>6.3f}  " + "  ".join(f"{c.accuracy[row]:>{width}.4f}" for c in curves.values()))
    return 0
