"""Fitting: the training settings table (config), the fit plan (recipe), the Keras side of a run (training),
the panel snapshots taken while it learns (watching), its progress, and fine-tuning from a stored model.
Says how a run trains, not where: that is core.runs."""
