"""Hard parameter sharing: -100 masking makes a task's loss in a mixed batch its single-task
loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskmix.data.task import Task, TaskSplit
from taskmix.models.hps import IGNORE, HardSharingModel, make_batch


def _task(name, kind, n=8, n_labels=3, choices=None, pair=False, seed=0):
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    texts = [
        tuple(" ".join(rng.choice(words, size=rng.integers(2, 9))) for _ in range(2 if pair else 1))
        for _ in range(n)
    ]
    if kind == "regression":
        labels = rng.random(n).astype(np.float32) * 5
    else:
        labels = rng.integers(0, choices or n_labels, n)
    ch = (
        [
            [f"option {j} {w}" for j, w in enumerate(rng.choice(words, size=choices))]
            for _ in range(n)
        ]
        if choices
        else None
    )
    split = TaskSplit(texts, labels, [f"{name}:{i}" for i in range(n)], ch)
    return Task(
        name,
        kind,
        {"train": split, "dev": split, "test": split},
        label_names=None if kind == "regression" else [str(i) for i in range(choices or n_labels)],
        text_fields=["a", "b"] if pair else ["a"],
        n_choices=choices,
    )


@pytest.fixture
def tasks():
    return [
        _task("cls", "classification", seed=1),
        _task("pair", "classification", n_labels=2, pair=True, seed=2),
        _task("mc", "multiple_choice", choices=3, seed=3),
        _task("reg", "regression", seed=4),
    ]


def test_mixed_batch_loss_equals_single_task_loss(tiny_backbone, tasks):
    model = HardSharingModel(
        tiny_backbone, tasks
    ).eval()  # eval: no dropout, so both passes are comparable
    items = [(k, "train", i) for i in range(4) for k in range(len(tasks))]  # interleaved tasks
    with torch.no_grad():
        mixed = model(make_batch(tiny_backbone, tasks, items))
        assert set(mixed) == {t.name for t in tasks}
        for k, task in enumerate(tasks):
            alone = model(make_batch(tiny_backbone, tasks, [(k, "train", i) for i in range(4)]))
            assert set(alone) == {task.name}
            torch.testing.assert_close(
                mixed[task.name]["loss"], alone[task.name]["loss"], rtol=1e-4, atol=1e-5
            )
            torch.testing.assert_close(
                mixed[task.name]["outputs"], alone[task.name]["outputs"], rtol=1e-4, atol=1e-5
            )


def test_label_matrix_has_own_label_only(tiny_backbone, tasks):
    batch = make_batch(tiny_backbone, tasks, [(0, "train", 0), (2, "train", 1), (3, "train", 2)])
    labels = batch["labels"]
    assert labels.shape == (3, 4)
    assert (labels != IGNORE).sum(1).tolist() == [1, 1, 1]
    assert labels[0, 0] == float(tasks[0].splits["train"].labels[0])
    assert labels[2, 3] == pytest.approx(float(tasks[3].splits["train"].labels[2]))
    # multiple choice contributes one sequence per choice
    assert batch["inputs"]["input_ids"].shape[0] == 1 + 3 + 1
    assert batch["first_seq"].tolist() == [0, 1, 4]


def test_head_output_shapes(tiny_backbone, tasks):
    model = HardSharingModel(tiny_backbone, tasks).eval()
    with torch.no_grad():
        out = model(
            make_batch(tiny_backbone, tasks, [(k, "train", i) for k in range(4) for i in range(3)])
        )
    assert out["cls"]["outputs"].shape == (3, 3)
    assert out["pair"]["outputs"].shape == (3, 2)
    assert out["mc"]["outputs"].shape == (3, 3)
    assert out["reg"]["outputs"].shape == (3,)


def test_loss_is_mean_over_own_examples(tiny_backbone, tasks):
    """Per-example losses averaged by hand equal the task's loss."""
    model = HardSharingModel(tiny_backbone, tasks[:1]).eval()
    with torch.no_grad():
        out = model(make_batch(tiny_backbone, tasks[:1], [(0, "train", i) for i in range(5)]))[
            "cls"
        ]
        per = torch.nn.functional.cross_entropy(
            out["outputs"], out["labels"].long(), reduction="none"
        )
    torch.testing.assert_close(out["loss"], per.mean())


def test_batches_from_the_token_cache_equal_tokenising(tiny_backbone, tasks):
    """Batches cut from the per-split token cache are the tensors tokenising the texts gives:
    single texts, pairs, choices, a mixed batch, and truncation at the model's window."""
    long = _task("long", "classification", n=4, seed=9)
    long.splits["train"].texts[0] = (" ".join(["alpha"] * 100),)  # past max_length 32
    everything = [*tasks, long]
    items = [(k, "train", i) for i in (3, 0, 2) for k in range(len(everything))]
    batch = make_batch(tiny_backbone, everything, items)
    expected = tiny_backbone.tokenize(batch["sequences"])
    assert batch["inputs"].keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(batch["inputs"][key], value), key
    # each example's length is its longest sequence's, capped at the window
    lengths = tiny_backbone.lengths(long.splits["train"])
    assert lengths[0] == 32 and len(lengths) == 4
    choice = tiny_backbone.lengths(tasks[2].splits["train"])
    per_seq = [
        max(len(tiny_backbone.tokenizer(*c)["input_ids"]) for c in s)
        for s in (tasks[2].splits["train"].sequences(i) for i in range(8))
    ]
    assert choice.tolist() == per_seq


def test_token_cache_is_shared_by_backbone_copies(tiny_factory, tasks):
    """A grid's runs tokenise each split once: copies from one factory share the cache."""
    a, b = tiny_factory(), tiny_factory()
    assert a.model is not b.model and a.token_cache is b.token_cache
    split = tasks[0].splits["train"]
    a.lengths(split)
    assert len(a.token_cache._splits) == 1
    b.collate(split, [0, 1])
    assert len(b.token_cache._splits) == 1
