"""Few-shot prompting baseline: what an LLM does with k demonstrations and no training.

The prompt is the task's instruction, k demonstrations from its training split (input, answer,
end marker) and the query; the answer is cut at the end marker and read as a label (verbaliser)
or as items, then scored like a fine-tuned generative model's (:func:`answer_metrics`). k
defaults to the number of classes, one demonstration of each (as the PVI paper did), and to
``GENERATION_K`` for generation tasks. Each (task, seed) is a run of kind "fewshot" in the run
store, so `taskmix compare` shows it beside the fine-tuned models and a re-run asks nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taskmix.config import LLMConfig, PromptConfig
from taskmix.data.metrics import answer_metrics
from taskmix.data.prompt import TaskPrompt
from taskmix.data.suite import Suite
from taskmix.data.task import Task
from taskmix.errors import ConfigError
from taskmix.evaluate.compare import Comparison
from taskmix.experiment.runs import STORE_FILE, run_grid
from taskmix.models.llm import LLM, make_llm
from taskmix.store import RunStore

GENERATION_K = 4


@dataclass(frozen=True)
class FewShotSpec:
    """Prompting ``task`` with demonstrations drawn by ``seed``."""

    task: str
    seed: int

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.task,)

    @property
    def setting(self) -> str:
        return f"fewshot:{self.task}"


class FewShot:
    """k-shot prompting of one LLM.

    >>> llm = make_llm(LLMConfig(endpoint="http://127.0.0.1:8000/v1"))  # doctest: +SKIP
    >>> fs = FewShot(llm, k=2)  # doctest: +SKIP
    >>> metrics, predictions = fs.evaluate(suite["negation_site_a"], seed=1)  # doctest: +SKIP
    """

    def __init__(
        self,
        llm: LLM | None,
        k: int | None = None,
        prompt: PromptConfig | None = None,
        max_new_tokens: int = 32,
        limit: int | None = None,
    ):
        self.llm, self.k, self.prompt_config = llm, k, prompt or PromptConfig()
        self.max_new_tokens, self.limit = max_new_tokens, limit

    def k_for(self, task: Task) -> int:
        if self.k is not None:
            return self.k
        return len(task.label_names or []) if task.kind == "classification" else GENERATION_K

    def demonstrations(self, task: Task, seed: int) -> list[int]:
        """Training examples shown: classification cycles through the classes (one of each, in a
        seeded order) until k; generation takes k at random."""
        rng = np.random.default_rng(seed)
        labels = task.splits["train"].labels
        k = min(self.k_for(task), len(labels))
        if task.kind != "classification":
            return [int(i) for i in rng.choice(len(labels), k, replace=False)]
        pools = [
            list(rng.permutation(np.flatnonzero(labels == c)))
            for c in rng.permutation(task.num_labels)
        ]
        pools = [p for p in pools if p]
        picked: list[int] = []
        while len(picked) < k:
            for p in pools:
                if p and len(picked) < k:
                    picked.append(int(p.pop()))
        return picked

    def prompt(self, tp: TaskPrompt, demos: Sequence[int], split: str, i: int) -> str:
        train = tp.task.splits["train"]
        shots = "".join(tp.query(train.texts[d]) + tp.target("train", d) for d in demos)
        return tp.instruction + shots + tp.query(tp.task.splits[split].texts[i])

    def evaluate(
        self, task: Task, seed: int = 1, split: str = "test", progress=None
    ) -> tuple[dict, dict]:
        """(metrics, predictions) of the LLM on ``split`` (its first ``limit`` examples)."""
        tp = TaskPrompt(task, self.prompt_config)
        demos = self.demonstrations(task, seed)
        data = task.splits[split]
        n = min(len(data), self.limit or len(data))
        answers = []
        for j in range(0, n, 8):
            prompts = [self.prompt(tp, demos, split, i) for i in range(j, min(n, j + 8))]
            answers += [
                tp.cut(a)
                for a in self.llm.complete(prompts, self.max_new_tokens, stop=tp.config.end or None)
            ]
            if progress is not None:
                progress(min(n, j + 8), n)
        gold = data.labels[:n]
        predictions = {
            **task.readable_predictions(split, answers, n),
            "demonstrations": [task.splits["train"].ids[d] for d in demos],
        }
        return answer_metrics(task, answers, gold), predictions


def run_fewshot(
    suite: Suite,
    tasks: Sequence[str],
    llm: LLMConfig,
    *,
    k: int | None = None,
    seeds: Sequence[int] = (1,),
    split: str = "test",
    limit: int | None = None,
    prompt: PromptConfig | None = None,
    max_new_tokens: int = 32,
    out: str | Path = "runs",
    show_progress: bool = True,
) -> list:
    """Prompt ``llm`` on ``tasks`` of ``suite`` with every seed's demonstrations, through the run
    store (a finished (task, seed) is not asked again); returns the run records."""
    prompt = prompt or PromptConfig()
    for t in tasks:
        TaskPrompt(suite[t], prompt)  # refuses a task kind it cannot prompt, before any work
    fewshot = FewShot(None, k, prompt, max_new_tokens, limit)

    def work(spec: FewShotSpec, run_id: str, progress):
        # loaded once, and only when some run is left to do
        fewshot.llm = fewshot.llm or make_llm(llm, chat_template=prompt.chat_template)
        metrics, preds = fewshot.evaluate(suite[spec.task], spec.seed, split, progress)
        return {
            "test": {spec.task: metrics},
            "dev": {},
            "k": fewshot.k_for(suite[spec.task]),
            "split": split,
            "trainable_parameters": 0,
            "demonstrations": preds["demonstrations"],
        }, None

    def run_config(spec: FewShotSpec) -> dict:
        return {
            "fewshot": spec.task,
            "task": suite[spec.task].fingerprint(),
            "seed": spec.seed,
            "k": k,
            "llm": llm.model_dump(mode="json", exclude={"timeout", "retries"}),
            "split": split,
            "limit": limit,
            "prompt": prompt.model_dump(mode="json"),
            "max_new_tokens": max_new_tokens,
            "kinds": {spec.task: suite[spec.task].kind},
        }

    specs = [FewShotSpec(t, s) for t in tasks for s in seeds]
    return run_grid(
        out,
        suite.name,
        [(s, "fewshot", run_config(s)) for s in specs],
        work,
        show_progress=show_progress,
    )


def fewshot_comparison(
    suite: Suite,
    llm: LLMConfig,
    *,
    tasks: Sequence[str] | None = None,
    out: str | Path = "runs",
    **kw,
) -> tuple[Comparison, dict[str, float], bool]:
    """Prompt ``llm`` on ``tasks`` (default: every classification and generation task) as
    :func:`run_fewshot` does (``kw``), and compare its answers with the single-task models already
    in the store. Returns (comparison, each task's share of answers naming no label, whether STL
    models were found)."""
    names = list(tasks or [t.name for t in suite if t.kind in ("classification", "generation")])
    if not names:
        raise ConfigError(
            f"suite {suite.name!r} has no classification or generation task to prompt"
        )
    records = run_fewshot(suite, names, llm, out=out, **kw)
    with RunStore(Path(out) / STORE_FILE, readonly=True) as store:
        stl = [
            r
            for r in store.runs(suite=suite.name, status="finished", kinds=("stl",))
            if r.tasks[0] in names
        ]
    invalid = {r.tasks[0]: r.metrics["test"][r.tasks[0]].get("invalid") for r in records}
    return Comparison(records + stl, suite), invalid, bool(stl)
