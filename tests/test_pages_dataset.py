"""Dataset page (AppTest): the sample grid and the published class counts of real MNIST."""
from __future__ import annotations

from page_support import open_page

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_dataset_shows_examples_and_the_published_counts(temp_store):
    at = open_page("dataset")
    assert not at.exception
    table = at.dataframe[0].value
    digits = table[table.digit != "all"]
    assert digits.train.tolist() == MNIST_TRAIN_COUNTS
    assert digits.test.tolist() == MNIST_TEST_COUNTS
    assert table[table.digit == "all"].train.item() == 60000
    assert at.get("image"), "the sample grid is shown"
    at.button(key="dataset_shuffle").click().run()
    assert at.session_state["dataset_seed"] == 1
    assert not at.exception
