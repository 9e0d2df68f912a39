"""Inside the network: activations, first-layer weights, saliency, neighbours, a map, what-if.

Works for any stored model (every preset and custom MLP/CNN, softmax or logits output, nested
Sequential wrappers included) and one input of the model's shape (28x28 for every preset).
Everything returns plain numpy arrays, numbers and frozen dataclasses; no streamlit here.
An input of the wrong shape raises InputShapeError (a ValueError) with a plain message.
"""
from core.explain.embedding import (
                                    EMBED_MAX_DIM,
                                    EmbeddingMap,
                                    Neighbours,
                                    embed,
                                    embedding_layer_name,
                                    embedding_map,
                                    nearest,
)
from core.explain.graph import ExplainError, InputShapeError, flat_layers, layer_kind, probabilities
from core.explain.layers import (
                                    FirstLayerWeights,
                                    LayerActivation,
                                    activations,
                                    class_templates,
                                    first_layer_weights,
                                    is_linear_model,
)
from core.explain.saliency import METHODS, Saliency, default_method, overlay, saliency
from core.explain.whatif import (
                                    ABLATIONS,
                                    FULL,
                                    WhatIf,
                                    ablation_answers,
                                    answer,
                                    change_thickness,
                                    move,
                                    preprocessing_ablations,
                                    transform,
                                    what_if,
)

__all__ = [
    "ABLATIONS", "EMBED_MAX_DIM", "FULL", "METHODS", "EmbeddingMap", "ExplainError", "FirstLayerWeights",
    "InputShapeError", "LayerActivation", "Neighbours", "Saliency", "WhatIf", "ablation_answers", "activations",
    "answer", "change_thickness", "class_templates", "default_method", "embed", "embedding_layer_name",
    "embedding_map", "first_layer_weights", "flat_layers", "is_linear_model", "layer_kind", "move", "nearest",
    "overlay", "preprocessing_ablations", "probabilities", "saliency", "transform", "what_if",
]
