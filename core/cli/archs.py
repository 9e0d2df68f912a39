"""`python -m core archs`: the architectures, with parameter counts and default settings."""
from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("archs", help="list architectures with parameter counts and default settings")


def run(args) -> int:
    from core.fit.config import TrainConfig
    from core.nets.presets import PRESETS

    print(f"{'architecture':<12} {'params':>9}  {'optimizer':<8} {'lr':>7} {'batch':>5} {'epochs':>6}  source")
    for preset in PRESETS.values():
        c = TrainConfig.for_preset(preset.name)
        print(f"{preset.name:<12} {preset.parameters:>9,}  {c.optimizer:<8} "
              f"{c.learning_rate:>7g} {c.batch_size:>5} {c.epochs:>6}  {preset.source}")
    return 0
