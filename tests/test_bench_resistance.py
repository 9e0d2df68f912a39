"""Section 18's answer to "does augmentation or stroke-drawn copies make a network resist attacks better?"
(benchmarks/resistance.py): the sentences and the table it writes from measured curves."""
from __future__ import annotations


def _curves(plain: list, other: list, variant: str) -> dict:
    """Curves by (variant, method) and seed, from one accuracy list per seed for each model."""
    from benchmarks import resistance

    return {(resistance.PLAIN, "pgd"): dict(enumerate(plain)), (variant, "pgd"): dict(enumerate(other))}


def test_the_resistance_answer_names_the_eps_of_the_largest_gap_and_its_size():
    from benchmarks import resistance

    eps = (0.0, 0.05, 0.1)
    plain = [[0.99, 0.60, 0.20], [0.98, 0.58, 0.22], [0.99, 0.62, 0.18]]
    better = [[0.99, 0.70, 0.25], [0.98, 0.66, 0.30], [0.99, 0.75, 0.20]]   # gaps at 0.05: +10, +8, +13
    text = resistance.answer(_curves(plain, better, resistance.AUGMENTED), eps, resistance.AUGMENTED, "pgd", "PGD")
    assert text.startswith("**PGD: with augmentation the network resists better** in each of 3 seeds")
    assert "(gaps +8.0 points to +13.0 points)" in text
    assert "at ε = 0.05 it keeps 70.0% of the test images against 60.0% without, +10.0 points" in text
    assert text.endswith("; unattacked, the gap is +0.0 points.")

    worse = resistance.answer(_curves(better, plain, resistance.STROKES), eps, resistance.STROKES, "pgd", "PGD")
    assert "with stroke-drawn copies the network resists worse" in worse and "-10.0 points" in worse


def test_the_resistance_answer_says_no_clear_difference_when_seeds_disagree_or_the_gap_is_small():
    from benchmarks import resistance

    eps = (0.0, 0.05)
    plain = [[0.99, 0.60], [0.99, 0.60], [0.99, 0.60]]
    mixed = [[0.99, 0.70], [0.99, 0.68], [0.99, 0.55]]   # +10, +8, -5: the seeds disagree
    text = resistance.answer(_curves(plain, mixed, resistance.AUGMENTED), eps, resistance.AUGMENTED, "pgd", "PGD")
    assert "augmentation makes no clear difference" in text and "the seeds disagree" in text
    close = [[0.99, 0.605], [0.99, 0.604], [0.99, 0.603]]  # under a point, in the same direction
    text = resistance.answer(_curves(plain, close, resistance.AUGMENTED), eps, resistance.AUGMENTED, "pgd", "PGD")
    assert "no clear difference" in text and "disagree" not in text


def test_the_resistance_table_gives_the_median_and_the_seeds_range_and_a_zero_stays_zero():
    from benchmarks import resistance

    rows = resistance.table(_curves([[0.9, 0.0], [0.8, 0.0], [0.7, 0.0]], [[0.5, 0.1]], resistance.AUGMENTED),
                            (0.0, 0.1))
    assert rows[2] == "| plain | PGD, 10 steps | 80.0% (70.0%-90.0%) | 0.0% (0.0%-0.0%) |"
    assert rows[3] == "| augmentation | PGD, 10 steps | 50.0% | 10.0% |"
