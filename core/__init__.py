"""Digit Studio's engine: data, models, training, evaluation, preprocessing, storage.

Nothing in this package imports streamlit: the pages and the command line are two
faces of the same functions.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the console
