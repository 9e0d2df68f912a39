"""`python -m core graph NAME [--out graph.png]`: the model's layers in order, with shapes and parameters."""
from __future__ import annotations

import json

from core.cli.common import UsageError, load_model


def add_parser(sub) -> None:
    graph = sub.add_parser("graph", help="the model's layers with output shapes and parameter counts (PNG for slides)")
    graph.add_argument("name", help="a saved model's name, e.g. default")
    graph.add_argument("--out", help="PNG to write: one box per layer")
    graph.add_argument("--json", action="store_true")


def run(args) -> int:
    from core import explain

    model = load_model(args.name)
    rows = explain.model_layers(model)
    if args.out:
        try:
            with open(args.out, "wb") as handle:
                handle.write(explain.architecture_picture(model, title=args.name))
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
    if args.json:
        print(json.dumps({"model": args.name, "parameters": model.count_params(), "layers": [
            {"name": r.name, "type": r.type, "output_shape": list(r.output_shape), "parameters": r.parameters,
             "activation": r.activation} for r in rows]}))
        return 0
    print(f"{args.name}: {len(rows)} layers, {model.count_params():,} parameters")
    for r in rows:
        print(f"  {r.name:<24} {r.type:<20} {r.shape_text:<14} {r.parameters:>9,}  {r.activation}")
    if args.out:
        print(f"written to {args.out}")
    return 0
