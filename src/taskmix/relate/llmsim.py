"""LLM similarity, a TaskShop F that asks a language model (Kim et al. 2023's LLM baseline).

For a source s and a target t, ``pairs`` seeded (source example, target example) pairs are shown
to the LLM with the question whether they come from similar tasks; F(s → t) is the mean of
log p("yes") − log p("no") over the pairs (the log of the ratio of the two probabilities). Each
answer is cached in the run store under a hash of the model and the prompt, so asking again —
another target, another command — costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskmix.config import LLMConfig
from taskmix.data.prompt import describe
from taskmix.data.task import Task
from taskmix.errors import ConfigError
from taskmix.models.llm import LLM, make_llm
from taskmix.relate.similarity import Similarity

log = logging.getLogger(__name__)

QUESTION = (
    "Task A: {a_task}\nExample of task A: {a}\n\nTask B: {b_task}\nExample of task B: {b}\n\n"
    "Are task A and task B similar tasks? Answer yes or no.\nAnswer:"
)


def example_text(task: Task, i: int) -> str:
    """Example ``i`` of the training split as one line: its inputs and, for classification and
    generation, its answer."""
    data = task.splits["train"]
    text = " | ".join(data.texts[i])
    if data.choices is not None:
        text += " | choices: " + " / ".join(data.choices[i])
    if task.kind == "classification":
        text += f" -> {(task.label_names or [])[int(data.labels[i])]}"
    elif task.kind == "generation":
        text += f" -> {data.labels[i]}"
    return text


class LLMSimilarity(Similarity):
    """F(s → t) = mean over example pairs of log p(yes) − log p(no), asked of an LLM.

    >>> llm = LLMConfig(endpoint="http://127.0.0.1:8000/v1")
    >>> F = LLMSimilarity(llm=llm, store="runs/taskmix.db")
    >>> F.fit(list(sources)).score([target])  # doctest: +SKIP
    """

    name = "llm"

    def __init__(
        self,
        *,
        llm=None,
        store: str | Path | None = None,
        pairs: int = 5,
        seed: int = 13,
        show_progress: bool = True,
    ):
        self.llm = llm
        self.store = store
        self.pairs = pairs
        self.seed = seed
        self.show_progress = show_progress

    def fit(self, sources: Sequence[Task]) -> LLMSimilarity:
        if not isinstance(self.llm, (LLM, LLMConfig)):
            raise ConfigError(
                "LLM similarity needs an LLM", hint="give --llm MODEL or --endpoint URL"
            )
        self.sources_ = list(sources)
        # an LLMConfig is loaded at the first question the cache cannot answer
        self._client = self.llm if isinstance(self.llm, LLM) else None
        self._identity = (
            self.llm.name
            if isinstance(self.llm, LLM)
            else json.dumps(
                self.llm.model_dump(mode="json", include={"model", "endpoint", "api"}),
                sort_keys=True,
            )
        )
        self.asked_ = 0  # questions sent to the LLM (not answered from the cache)
        return self

    def _ask(self, prompt: str, store) -> float:
        key = "llmsim:" + hashlib.sha256(f"{self._identity}\x1f{prompt}".encode()).hexdigest()[:32]
        hit = store.cached(key) if store is not None else None
        if hit is not None:
            return float(hit)
        if self._client is None:
            self._client = make_llm(self.llm)
        yes, no = self._client.option_logprobs(prompt, ["yes", "no"])
        self.asked_ += 1
        value = float(yes - no)
        if store is not None:
            store.remember(key, value)
        return value

    def prompts(self, source: Task, target: Task) -> list[str]:
        """The questions about one (source, target) pair: seeded example pairs."""
        rng = np.random.default_rng(self.seed)
        ns, nt = len(source.splits["train"]), len(target.splits["train"])
        si = rng.choice(ns, min(self.pairs, ns), replace=False)
        ti = rng.choice(nt, min(self.pairs, nt), replace=False)
        return [
            QUESTION.format(
                a_task=describe(source),
                a=example_text(source, int(a)),
                b_task=describe(target),
                b=example_text(target, int(b)),
            )
            for a, b in zip(si, ti, strict=False)
        ]

    def score(self, targets: Sequence[Task]) -> pd.DataFrame:
        from taskmix.progress import make_progress
        from taskmix.store import RunStore

        store = RunStore(self.store) if self.store else None
        jobs = [(t, s) for t in targets for s in self.sources_ if s.name != t.name]
        rows: dict[str, dict[str, float]] = {t.name: {} for t in targets}
        try:
            with make_progress(self.show_progress) as bar:
                task = bar.add_task("LLM similarity", total=len(jobs))
                for t, s in jobs:
                    rows[t.name][s.name] = float(
                        np.mean([self._ask(p, store) for p in self.prompts(s, t)])
                    )
                    bar.advance(task)
        finally:
            if store is not None:
                store.close()
        return pd.DataFrame.from_dict(rows, orient="index")
