"""Does `torch.compile` speed up training here? The training step taskmix runs (bundled MiniLM
with a classification head, fp32 or bf16 as `precision: auto` chooses, fused AdamW), on RTE's
length-grouped batches of 32, eager against `torch.compile(dynamic=True)` (lengths vary from
batch to batch), in one run: the same batches, a warm-up (where compilation happens, timed apart),
then the timed steps; rounds interleaved.

    python bench/compile_try.py --data-dir ../shared/data --json bench/out/compile.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import glue_suite_config, write_json  # noqa: E402

from taskmix.config import ModelConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.models.backbone import BackboneFactory  # noqa: E402
from taskmix.train.sampling import make_batcher, make_sampler  # noqa: E402


def batches(backbone, task, n: int, size: int) -> list[tuple[dict, torch.Tensor]]:
    """``n`` length-grouped training batches of ``size`` (padded tensors, labels)."""
    split = task.splits["train"]
    rng = np.random.default_rng(1)
    order = make_batcher(
        "length", make_sampler("proportional"), [backbone.lengths(split)], size, rng
    )
    out = []
    for _ in range(n):
        idx = [i for _, i in order.next()]
        out.append((backbone.collate(split, idx)[0], torch.as_tensor(split.labels[idx])))
    return out


def step_time(model, head, optim, data, autocast) -> float:
    t0 = time.perf_counter()
    for inputs, labels in data:
        with autocast():
            hidden = model(**inputs).last_hidden_state[:, 0]
            loss = torch.nn.functional.cross_entropy(head(hidden).float(), labels)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")
    a = ap.parse_args()
    suite = Suite.from_config(glue_suite_config(a.data_dir, ["rte"], train_rows=4000), a.data_dir)
    task = suite["rte"]
    factory = BackboneFactory(ModelConfig(max_length=128))
    runs: dict[str, list[float]] = {"eager": [], "compiled": []}
    warm: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(a.rounds):
        for mode in ("eager", "compiled"):
            torch.manual_seed(1)
            backbone = factory()
            head = torch.nn.Linear(backbone.hidden_size, task.num_labels)
            params = [*backbone.model.parameters(), *head.parameters()]
            optim = torch.optim.AdamW(params, lr=5e-5, fused=True)
            model = backbone.model.train()
            if mode == "compiled":
                model = torch.compile(model, dynamic=True)
            data = batches(backbone, task, a.warmup + a.steps, 32)
            warm[mode].append(step_time(model, head, optim, data[: a.warmup], backbone.autocast))
            seconds = step_time(model, head, optim, data[a.warmup :], backbone.autocast)
            runs[mode].append(a.steps * 32 / seconds)
            print(f"{mode:9} {runs[mode][-1]:6.1f} examples/s (warm-up {warm[mode][-1]:.0f} s)")
    rate = {m: statistics.median(v) for m, v in runs.items()}
    ratio = rate["compiled"] / rate["eager"]
    print(
        f"eager {rate['eager']:.1f}, compiled {rate['compiled']:.1f} examples/s: {ratio:.2f}x; "
        f"warm-up (compilation) {statistics.median(warm['compiled']):.0f} s vs "
        f"{statistics.median(warm['eager']):.0f} s"
    )
    write_json(
        a.json,
        {
            "compile": {
                "examples_per_s": rate,
                "ratio": {"compiled_vs_eager": ratio},
                "warmup_seconds": {m: statistics.median(v) for m, v in warm.items()},
            },
            "settings": {"task": "rte", "batch": 32, "steps": a.steps, "rounds": a.rounds},
        },
    )


if __name__ == "__main__":
    main()
