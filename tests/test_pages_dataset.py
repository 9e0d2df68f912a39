"""Dataset page (AppTest): the sample grid and the published class counts, for MNIST and Fashion-MNIST."""
from __future__ import annotations

from page_support import open_page

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def test_dataset_shows_examples_and_the_published_counts(temp_store):
    at = open_page("dataset")
    assert not at.exception
    assert "The MNIST dataset" in at.title[0].value
    table = at.dataframe[0].value
    digits = table[table["class"] != "all"]
    assert digits["class"].tolist() == [str(d) for d in range(10)]
    assert digits.train.tolist() == MNIST_TRAIN_COUNTS
    assert digits.test.tolist() == MNIST_TEST_COUNTS
    assert table[table["class"] == "all"].train.item() == 60000
    assert "more 1 (6,742) than 5 (5,421)" in at.caption[-1].value
    assert at.get("image"), "the sample grid is shown"
    at.button(key="dataset_shuffle").click().run()
    assert at.session_state["dataset_seed"] == 1
    assert not at.exception


def test_fashion_mnist_shows_clothes_with_their_names(temp_store):
    at = open_page("dataset")
    at.segmented_control(key="dataset_choice").set_value("fashion-mnist").run()
    assert not at.exception
    assert "The Fashion-MNIST dataset" in at.title[0].value
    table = at.dataframe[0].value
    classes = table[table["class"] != "all"]
    assert classes["class"].tolist() == FASHION_CLASSES
    assert classes.train.tolist() == [6000] * 10 and classes.test.tolist() == [1000] * 10
    assert "Perfectly balanced: 6,000 training images of every piece of clothing" in at.caption[-1].value
