"""Networks: the preset table and model builders, prediction for one drawing, evaluation on a test set,
and exports. Knows data; knows nothing of training runs."""
