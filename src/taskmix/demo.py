"""`taskmix demo`: the synthetic suite, STL vs MTL over seeds, and an HTML report.

Settings are chosen so the whole demo runs in a few minutes on a 2-core laptop CPU with the
bundled MiniLM: short notes (max length 64), small batches, a step budget per task.
"""

from __future__ import annotations

from pathlib import Path

from taskmix.config import ModelConfig, RunConfig, TrainConfig
from taskmix.data.synthetic import demo_suite
from taskmix.evaluate.compare import Comparison
from taskmix.report.html import write_report
from taskmix.train.experiment import MultiTaskTrainer


def demo_config(seeds: list[int] | None = None, out: str = "runs/demo", model: str = "minilm") -> RunConfig:
    return RunConfig(
        model=ModelConfig(name=model, max_length=64),
        train=TrainConfig(max_steps=30, steps_per_task=True, batch_size=16, lr=1e-4, warmup_ratio=0.1,
                          patience=3, sampler="proportional", freeze_embeddings=True),
        seeds=seeds or [1, 2], out=out)


def demo_groups(suite) -> tuple[list[list[str]], list[list[str]]]:
    """(groups to train, the recommended partition): all tasks, and the planted related groups."""
    planted = list(suite.groups.values())
    in_planted = {t for g in planted for t in g}
    partition = planted + [[t] for t in suite.names if t not in in_planted]
    return [suite.names, *planted], partition


def run_demo(config: RunConfig | None = None, show_progress: bool = True) -> tuple[Comparison, Path, list[list[str]]]:
    config = config or demo_config()
    suite = demo_suite()
    train_groups, partition = demo_groups(suite)
    trainer = MultiTaskTrainer(config.train, config.model, seeds=config.seeds, out=config.out,
                               show_progress=show_progress)
    comparison = trainer.compare(suite, train_groups)
    notes = [f"Planted related groups: {'; '.join(', '.join(g) for g in suite.groups.values())}.",
             f"Model {config.model.name}, {len(config.seeds)} seeds ({', '.join(map(str, config.seeds))}), "
             f"{config.train.max_steps} steps per task, batch {config.train.batch_size}, lr {config.train.lr}."]
    report = write_report(comparison, Path(config.out) / "report", groups=partition,
                          title="taskmix demo — synthetic clinical suite", notes=notes)
    return comparison, report, partition
