"""``load_model(folder)``: any model taskmix saved, as the class it was saved from."""

from __future__ import annotations

from pathlib import Path

from taskmix.errors import ModelError
from taskmix.models.saving import Pretrained, read_config


def load_model(folder: str | Path, device: str | None = None) -> Pretrained:
    """The model in ``folder`` (written by ``save_pretrained``, or kept by ``taskmix train
    --keep``): an encoder with task heads, an Inspirational Pointer model, or a generative model,
    in eval mode and ready to ``predict``.

    >>> model = load_model("runs/ab12cd34/model")  # doctest: +SKIP
    >>> model.predict(["No fever today."])  # doctest: +SKIP
    """
    from taskmix.models.generative import GenerativeModel
    from taskmix.models.hps import HardSharingModel
    from taskmix.models.ip import GenerativeIPModel, IPModel

    classes = {
        c.__name__: c for c in (HardSharingModel, IPModel, GenerativeModel, GenerativeIPModel)
    }
    name = read_config(folder)["class"]
    if name not in classes:
        raise ModelError(
            f"{folder} holds a {name}, which this taskmix cannot load",
            hint=f"it loads {', '.join(classes)}",
        )
    return classes[name].from_pretrained(folder, device=device)
