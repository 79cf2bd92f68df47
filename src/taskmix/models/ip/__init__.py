"""Inspirational Pointer (Lu, Jiang, Wang & Zang): parameter-efficient multi-task tuning through
human task descriptions.

Laid out like a PEFT method: the settings (:class:`~taskmix.config.IPConfig`, ``TrainConfig.ip``),
the layer (:mod:`.layer`, :class:`InspirationalPointer`: task embedding → one vector per layer) and
the model (:mod:`.model`, :class:`IPModel`: the frozen backbone with task heads, modified through
forward hooks), with the analysis of its task embeddings.

Every input gets its task's description. A frozen *form module* (the backbone itself, or a
separate frozen encoder) reads description + input; the mean-pooled hidden states of its n1 layers
v_1…v_n1 are mixed with learned weights w and mapped to a task embedding τ = ReLU(T(Σ w_i v_i)) of
size t. Each modified layer m has an id embedding L_m ∈ R^t; C (two linear layers with ReLU,
t → t → d2, the last initialised to zero) turns τ and L_m into I_m, and the layer's hidden state
h becomes h + h ∘ I_m. At initialisation I = 0: the model is the frozen backbone. Trainable:
T, w, L, C and the heads — t·(d1 + d2 + t + n2) + n1 weights plus 2t + d2 biases outside the heads.

Which layers are modified is found by :func:`find_layers`. :class:`GenerativeIPModel` puts the same
pointer on a language model: a seq2seq model's decoder layers with its own encoder as the form
module, or every layer of a decoder-only model with an auxiliary frozen encoder as form module.
"""

from taskmix.models.ip.layer import InspirationalPointer, find_layers, intervene
from taskmix.models.ip.model import (
    MIN_INPUT_TOKENS,
    GenerativeIPModel,
    IPModel,
    embedding_similarity,
    mean_task_embeddings,
)

__all__ = [
    "MIN_INPUT_TOKENS",
    "GenerativeIPModel",
    "IPModel",
    "InspirationalPointer",
    "embedding_similarity",
    "find_layers",
    "intervene",
    "mean_task_embeddings",
]
