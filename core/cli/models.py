"""`python -m core models`: the saved models, one line each."""
from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("models", help="list saved models")


def run(args) -> int:
    from core.store import ModelStore

    store = ModelStore()
    print(f"models in {store.root}:")
    for info in store.list():
        if info.error:
            print(f"  {info.name:<28} UNREADABLE: {info.error}")
            continue
        meta = info.meta
        acc = f"{meta.test_accuracy:.4f}" if meta.test_accuracy is not None else "-"
        seconds = f"{meta.train_seconds:>7.1f} s" if meta.train_seconds is not None else "      - s"
        params = f"{meta.parameters:>9,}" if meta.parameters is not None else "        -"
        print(f"  {info.name:<28} {meta.arch:<11} {meta.dataset:<13} test acc {acc:<7} "
              f"{params} params  {seconds}  {meta.created}")
    return 0
