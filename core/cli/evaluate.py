"""`python -m core evaluate`: test-set accuracy, per-class figures and the confusion matrix (kept beside the
model for the Mistakes page, core.store.kept)."""
from __future__ import annotations

import json

from core.cli.common import load_model


def add_parser(sub) -> None:
    evaluate = sub.add_parser("evaluate", help="test-set accuracy, per-class figures and confusion matrix")
    evaluate.add_argument("--model", default="default")
    evaluate.add_argument("--json", action="store_true")


def run(args) -> int:
    from core.data import datasets
    from core.nets.evaluation import evaluate
    from core.store import ModelStore
    from core.store.kept import keep_evaluation

    model = load_model(args.model)
    store = ModelStore()
    dataset = datasets.load(store.read_meta(args.model).dataset)
    result = evaluate(model, *dataset.test_arrays())
    keep_evaluation(store.paths(args.model)[0], dataset.spec.name, result)  # for the Mistakes page
    if args.json:
        print(json.dumps({"model": args.model, "dataset": dataset.spec.name, **result.summary()}))
        return 0
    print(f"model {args.model}: test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
    names = dataset.spec.class_names
    width = max(5, *map(len, names))
    print(f"{'class':<{width}}  precision  recall")
    for label, p, r in zip(names, result.precision, result.recall):
        print(f"{label:<{width}}  {p:>9.4f}  {r:>6.4f}")
    print(f"confusion on {dataset.spec.title} (rows: true class, columns: predicted, in class order)")
    print(" " * width + "".join(f"{d:>6}" for d in range(len(names))))
    for label, row in zip(names, result.confusion):
        print(f"{label:<{width}}" + "".join(f"{n:>6}" for n in row))
    return 0
