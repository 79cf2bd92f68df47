"""Generative models: a causal (GPT-2, Llama-like) or sequence-to-sequence (T5) language model
that reads a task's prompt and writes its answer.

:class:`LanguageModel` is the backbone (model, tokenizer, device, precision — the same settings as
an encoder's); :class:`GenerativeModel` is what a generative run trains: the language model and
the tasks it answers, with the teacher-forced loss of the answers and greedy decoding up to the
end marker. The loss counts only the answer's tokens (and the end token), never the prompt's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from taskmix.config import GenerationConfig, ModelConfig
from taskmix.data.prompt import TaskPrompt
from taskmix.data.task import Task
from taskmix.errors import ModelError
from taskmix.models.backbone import Backbone, quiet_transformers, resolve_model_path
from taskmix.models.saving import Pretrained, load_base, load_saved_base, save_base

log = logging.getLogger(__name__)

# model types that are encoders only: they cannot write an answer
ENCODERS = {
    "bert",
    "roberta",
    "deberta",
    "deberta-v2",
    "distilbert",
    "electra",
    "xlm-roberta",
    "mpnet",
    "albert",
    "camembert",
    "modernbert",
}
IGNORE = -100  # label of positions that carry no loss


class LanguageModel(Backbone):
    """A causal or seq2seq language model with its tokenizer, device and precision.

    >>> lm = LanguageModel.from_config(ModelConfig(name="gpt2"))                 # doctest: +SKIP
    >>> lm.generate(["Q: 2 + 2?\\nA:"], max_new_tokens=4)                        # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        *,
        name: str = "custom",
        config: ModelConfig | None = None,
    ):
        super().__init__(model, tokenizer, name=name, config=config)
        self.is_seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        self._token_ids: dict[tuple[str, bool], list[int]] = {}  # see _ids
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token_id is None:
                raise ModelError(
                    f"the tokenizer of {name!r} has neither a padding nor an end-of-text token",
                    hint="use a tokenizer with an eos token",
                )
            tokenizer.pad_token = tokenizer.eos_token
        # The token that ends an answer: eos, else [SEP] (a BERT-style vocabulary).
        self.stop_id = (
            tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
        )
        if self.stop_id is None:
            raise ModelError(
                f"the tokenizer of {name!r} has no end-of-text token",
                hint="use a tokenizer with one",
            )

    @classmethod
    def from_config(
        cls,
        config: ModelConfig,
        architecture: str = "auto",
        dtype: torch.dtype | None = None,
        tokenizer: str | None = None,
    ) -> LanguageModel:
        """Load a language model; its weights in ``dtype`` (default fp32: a model that trains
        keeps fp32 weights and computes under autocast), never the checkpoint's own choice;
        ``tokenizer``: a folder to take the tokenizer from instead of the model's."""
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForSeq2SeqLM,
            AutoTokenizer,
        )

        path = resolve_model_path(config.name)
        kw = {"trust_remote_code": config.trust_remote_code}
        try:
            hf = AutoConfig.from_pretrained(path, **kw)
            if architecture == "auto":
                if hf.model_type in ENCODERS:
                    raise ModelError(
                        f"{config.name!r} is an encoder ({hf.model_type}): it cannot write answers",
                        hint="give a causal or seq2seq model with --model (e.g. gpt2, t5-small, "
                        "Qwen/Qwen2.5-0.5B-Instruct, or a local folder of one)",
                    )
                architecture = "seq2seq" if getattr(hf, "is_encoder_decoder", False) else "causal"
            auto = AutoModelForSeq2SeqLM if architecture == "seq2seq" else AutoModelForCausalLM
            tokenizer = AutoTokenizer.from_pretrained(tokenizer or path, **kw)
            # weights missing from a checkpoint: seeded
            with torch.random.fork_rng(devices=[]), quiet_transformers():
                torch.manual_seed(0)
                model = auto.from_pretrained(path, **_dtype_arg(dtype or torch.float32), **kw)
        except (OSError, ValueError) as e:
            raise ModelError(
                f"cannot load language model {config.name!r}: {str(e).splitlines()[0]}",
                hint="give a local model folder, or a Hugging Face name (needs the hub)",
            ) from None
        return cls(model, tokenizer, name=config.name, config=config)

    @property
    def has_chat_template(self) -> bool:
        """Whether the tokenizer carries a chat template (an instruction-tuned model)."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    def chat(self, message: str) -> str:
        """``message`` as the user's turn in the model's chat template, followed by the cue of the
        assistant's answer."""
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
        )

    # ------------------------------------------------------------ batches
    def _ids(self, texts: Sequence[str], special: bool) -> list[list[int]]:
        """Token ids of each text; a text is tokenised once (training meets a prompt and its
        answer every epoch, evaluation the same prompts at every checkpoint)."""
        cache = self._token_ids
        missing = list(dict.fromkeys(t for t in texts if (t, special) not in cache))
        if missing:
            ids = self.tokenizer(missing, add_special_tokens=special)["input_ids"]
            cache.update({(t, special): row for t, row in zip(missing, ids, strict=True)})
        return [list(cache[t, special]) for t in texts]

    def teacher_batch(
        self, prompts: Sequence[str], answers: Sequence[str], end: bool = True
    ) -> dict:
        """Model inputs whose labels are the answers' tokens (and, with ``end``, the stop token);
        a long prompt loses its start (causal) or its end (seq2seq) so the answer always fits."""
        limit = self.config.max_length
        answer_ids = [
            a[: limit // 2] + ([self.stop_id] if end else []) for a in self._ids(answers, False)
        ]
        pad = self.tokenizer.pad_token_id
        if self.is_seq2seq:
            prompt_ids = [p[:limit] for p in self._ids(prompts, True)]
            return {
                "input_ids": _pad(prompt_ids, pad),
                "attention_mask": _pad([[1] * len(p) for p in prompt_ids], 0),
                "labels": _pad(answer_ids, IGNORE),
            }
        rows, labels = [], []
        for p, a in zip(self._ids(prompts, False), answer_ids, strict=True):
            p = p[max(0, len(p) + len(a) - limit) :]
            rows.append(p + a)
            labels.append([IGNORE] * len(p) + a)
        return {
            "input_ids": _pad(rows, pad),
            "attention_mask": _pad([[1] * len(r) for r in rows], 0),
            "labels": _pad(labels, IGNORE),
        }

    def to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device) for k, v in batch.items()}

    # ------------------------------------------------------------ scoring and writing
    def answer_logprobs(
        self, model: nn.Module, prompts: Sequence[str], answers: Sequence[str]
    ) -> torch.Tensor:
        """Summed log-probability of each answer's tokens after its prompt (no end token) [B]."""
        batch = self.to_device(self.teacher_batch(prompts, answers, end=False))
        labels = batch.pop("labels")
        if self.is_seq2seq:
            batch["labels"] = labels
        logits = model(**batch).logits.float()
        if not self.is_seq2seq:  # position i predicts token i + 1
            logits, labels = logits[:, :-1], labels[:, 1:]
        mask = labels != IGNORE
        lp = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (lp * mask).sum(-1)

    @torch.no_grad()
    def generate(
        self, model: nn.Module, prompts: Sequence[str], max_new_tokens: int = 32
    ) -> list[str]:
        """Greedy answers to ``prompts`` (decoded, special tokens dropped)."""
        limit = self.config.max_length
        pad = self.tokenizer.pad_token_id
        if self.is_seq2seq:
            ids = [p[:limit] for p in self._ids(prompts, True)]
            input_ids, mask = _pad(ids, pad), _pad([[1] * len(p) for p in ids], 0)
        else:  # left padding: every prompt ends where the answer starts
            ids = [p[-limit:] for p in self._ids(prompts, False)]
            width = max(len(p) for p in ids)
            input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in ids])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in ids])
        out = model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=self.stop_id,
            pad_token_id=pad,
        )
        new = out if self.is_seq2seq else out[:, input_ids.shape[1] :]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)


def _dtype_arg(dtype: torch.dtype) -> dict:
    """``from_pretrained``'s dtype argument: ``dtype`` since transformers 4.56, ``torch_dtype``
    before."""
    import transformers

    version = tuple(int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype" if version >= (4, 56) else "torch_dtype": dtype}


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


class GenerativeModel(Pretrained, nn.Module):
    """A language model trained to answer the prompts of several tasks (one model for all).

    >>> tasks = [suite["negation_site_a"]]  # doctest: +SKIP
    >>> model = GenerativeModel(lm, tasks, GenerationConfig())  # doctest: +SKIP
    >>> model.answers(0, "test", [0, 1])  # doctest: +SKIP
    ['negated', 'affirmed']
    """

    def __init__(
        self, lm: LanguageModel, tasks: Sequence[Task], config: GenerationConfig | None = None
    ):
        super().__init__()
        self.lm = lm
        self.model = lm.model  # registered, so that parameters() and state_dict() see it
        self.tasks = list(tasks)
        self.config = config or GenerationConfig()
        self.prompts = [TaskPrompt(t, self.config.prompt) for t in self.tasks]

    @property
    def backbone(self) -> LanguageModel:
        """The language model (what a :class:`~taskmix.models.hps.HardSharingModel` calls its
        backbone): device, precision, tokenizer."""
        return self.lm

    @property
    def chat(self) -> bool:
        """Whether prompts are written in the model's chat template (it has one, not turned off)."""
        return self.config.prompt.chat_template and self.lm.has_chat_template

    def prompt(self, k: int, split: str, i: int) -> str:
        """What the model reads for example ``i`` of task ``k``'s ``split``: the prompt, or with a
        chat template the instruction and input as a user message and the assistant's cue."""
        tp = self.prompts[k]
        return self.lm.chat(tp.message(split, i)) if self.chat else tp.prompt(split, i)

    def texts(self, items: Sequence[tuple[int, str, int]]) -> tuple[list[str], list[str]]:
        """Prompts and targets (answer + end marker) of (task index, split, example) items."""
        prompts = [self.prompt(k, split, i) for k, split, i in items]
        targets = [self.prompts[k].target(split, i) for k, split, i in items]
        return prompts, targets

    def forward(self, items: Sequence[tuple[int, str, int]]) -> torch.Tensor:
        """The mean token loss of the items' answers (teacher forcing)."""
        prompts, targets = self.texts(items)
        batch = self.lm.to_device(self.lm.teacher_batch(prompts, targets))
        with self.lm.autocast(), self.context(items):
            return self.model(**batch).loss

    def context(self, items: Sequence[tuple[int, str, int]]):
        """A context in which the language model reads ``items`` (a hook: nothing here; an
        Inspirational Pointer registers its layer hooks)."""
        return contextlib.nullcontext()

    @torch.no_grad()
    def answers(self, k: int, split: str, index: Sequence[int]) -> list[str]:
        """The model's answers (cut at the end marker) to examples ``index`` of task ``k``'s
        split."""
        was_training = self.training
        self.eval()
        out: list[str] = []
        try:
            tp = self.prompts[k]
            bs = self.config.batch_size
            for j in range(0, len(index), bs):
                items = [(k, split, int(i)) for i in index[j : j + bs]]
                prompts = [self.prompt(k, split, i) for _, _, i in items]
                with self.lm.autocast(), self.context(items):
                    out += [
                        tp.cut(a)
                        for a in self.lm.generate(self.model, prompts, self.config.max_new_tokens)
                    ]
        finally:
            self.train(was_training)
        return out

    def predict(self, texts: Sequence[str | Sequence[str]], task: str | None = None):
        """Answer ``texts`` (strings, or tuples of a task's text fields) for ``task`` (may be left
        out when the model has one): a DataFrame with ``answer`` (what the model wrote) and, for a
        classification task, ``prediction`` (the label it names; empty when it names none)."""
        import pandas as pd

        k = self.task_index(task)
        with self.inputs(k, texts) as split:
            answers = self.answers(k, split, range(len(texts)))
        verbaliser = self.prompts[k].verbaliser
        if verbaliser is None:
            return pd.DataFrame({"prediction": answers, "answer": answers})
        names = self.tasks[k].label_names or []
        labels = [verbaliser.to_label(a) for a in answers]
        return pd.DataFrame(
            {"prediction": [None if y is None else names[y] for y in labels], "answer": answers}
        )

    def _save_weights(self, folder: Path) -> dict:
        how = save_base(self.model, folder, "lm")
        return {"weights": how, "generation": self.config.model_dump(mode="json")}

    @staticmethod
    def saved_lm(
        folder: Path, meta: dict, model_config: ModelConfig
    ) -> tuple[LanguageModel, GenerationConfig]:
        """The base language model of a saved generative model, and its generation settings."""
        generation = GenerationConfig(**meta["generation"])
        load = LanguageModel.from_config
        lm = load_saved_base(folder, meta, model_config, load, architecture=generation.architecture)
        return lm, generation

    @classmethod
    def _from_saved(cls, folder: Path, meta: dict, model_config: ModelConfig, tasks):
        lm, generation = cls.saved_lm(folder, meta, model_config)
        lm.model = load_base(lm.model, folder, meta["weights"], lm.device)
        return cls(lm, tasks, generation)
