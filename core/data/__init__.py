"""Data: the datasets that ship in data/, preprocessing a drawing into an MNIST-style image, augmentation,
and stroke-drawn copies of digits. The bottom layer: imports nothing else of core."""
