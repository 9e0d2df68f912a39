"""Inside the network: activations, first-layer weights, saliency, neighbours, a map, what-if; what the network
imagines (imagine), how to fool it (attack), a t-SNE map kept beside the model (projector), its graph (architecture).

Works for any stored model (every preset and custom MLP/CNN, softmax or logits output, nested
Sequential wrappers included) and one input of the model's shape (28x28 for every preset).
Everything returns plain numpy arrays, numbers and frozen dataclasses; no streamlit here.
An input of the wrong shape raises InputShapeError (a ValueError) with a plain message.
"""
from core.explain.architecture import LayerSummary, architecture_picture, model_layers
from core.explain.attack import (
                                    PGD_STEPS,
                                    Attack,
                                    Flip,
                                    RobustnessCurve,
                                    attack,
                                    attack_batch,
                                    check_eps,
                                    robustness_curve,
                                    smallest_flip,
)
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
from core.explain.imagine import (
                                    ImagineSettings,
                                    Imagined,
                                    LayerUnits,
                                    find_unit_layer,
                                    imagine_classes,
                                    imagine_units,
                                    top_images,
                                    unit_layers,
                                    unit_means,
)
from core.explain.layers import (
                                    FirstLayerWeights,
                                    LayerActivation,
                                    activations,
                                    class_templates,
                                    first_layer_weights,
                                    is_linear_model,
)
from core.explain.projector import (
                                    ProjectorMap,
                                    kept_model_map,
                                    model_map,
                                    neighbour_agreement,
                                    place,
                                    tsne_map,
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
    "ABLATIONS", "EMBED_MAX_DIM", "FULL", "METHODS", "PGD_STEPS", "Attack", "EmbeddingMap", "ExplainError",
    "FirstLayerWeights", "Flip", "ImagineSettings", "Imagined", "InputShapeError", "LayerActivation",
    "LayerSummary", "LayerUnits", "Neighbours", "ProjectorMap", "RobustnessCurve", "Saliency", "WhatIf",
    "ablation_answers", "activations", "answer", "architecture_picture", "attack", "attack_batch",
    "change_thickness", "check_eps", "class_templates", "default_method", "embed", "embedding_layer_name",
    "embedding_map", "find_unit_layer", "first_layer_weights", "flat_layers", "imagine_classes", "imagine_units",
    "is_linear_model", "kept_model_map", "layer_kind", "model_layers", "model_map", "move", "nearest",
    "neighbour_agreement", "overlay", "place", "preprocessing_ablations", "probabilities", "robustness_curve",
    "saliency", "smallest_flip", "top_images", "transform", "tsne_map", "unit_layers", "unit_means", "what_if",
]
