"""Tasks written as text for generative models: descriptions, a prompt template, label
verbalisers, and span / triple answers written as text and parsed back.

A classification label becomes its *verbalisation* (``"negated"``, or the text the suite's
``verbalizer`` map gives it) and a model's answer is mapped back to a label by
:class:`Verbaliser`. A generation task's answer is free text, or a list of items — spans, or
tuples such as (head, relation, tail) triples — written as ``item; item`` with a tuple's fields
joined by ``" | "`` (``"none"`` for an empty list). Evaluation compares the parsed items by exact
match after normalisation (case, spaces, trailing punctuation).

>>> answer_text([["aspirin", "treats", "headache"], ["ibuprofen", "treats", "fever"]])
'aspirin | treats | headache; ibuprofen | treats | fever'
>>> sorted(parse_answer("Aspirin | treats | headache;  ibuprofen | treats | fever."))
[('aspirin', 'treats', 'headache'), ('ibuprofen', 'treats', 'fever')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from taskmix.config import PromptConfig
from taskmix.data.answers import FIELD_SEP, ITEM_SEP, NONE, answer_text  # noqa: F401 (re-exported)
from taskmix.data.task import Task
from taskmix.errors import ConfigError

# ----------------------------------------------------------------------------- descriptions
# Sentence patterns by task kind (the Inspirational Pointer paper's); {what}, {text}, {texts},
# {source} filled in.
TEMPLATES = {
    "single": "Tell me the {what} of the {text}:",
    "pair": "Determine the relationship between the {texts} from {source}:",
    "regression": "Evaluate the {what} similarity of {texts}:",
    "multiple_choice": "Choose the {what} answer for the {texts}:",
    "generation": "Extract the answer from the {text}:",
}


def _words(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").strip()


def template_description(task: Task) -> str:
    """A description built from the task's kind: data-set name + sentence pattern + data-set words
    (its label names), e.g. ``"sst2. Tell me the label of the sentence: negative, positive."``."""
    fields = [_words(f) for f in task.text_fields] or ["text"]
    texts = " and ".join(fields)
    if task.kind == "regression":
        sentence = TEMPLATES["regression"].format(what="semantic", texts=f"the {texts}")
    elif task.kind == "multiple_choice":
        sentence = TEMPLATES["multiple_choice"].format(what="most plausible", texts=texts)
    elif task.kind == "generation":
        sentence = TEMPLATES["generation"].format(text=texts)
    elif task.is_pair:
        sentence = TEMPLATES["pair"].format(texts=texts, source=_words(task.name))
    else:
        sentence = TEMPLATES["single"].format(what="label", text=fields[0])
    labels = (
        f" {', '.join(task.label_names)}."
        if task.kind == "classification" and task.label_names
        else ""
    )
    return f"{_words(task.name)}. {sentence}{labels}"


def describe(task: Task) -> str:
    """The task's own ``description`` from the suite, or one built from the templates."""
    return (
        task.description.strip()
        if task.description and task.description.strip()
        else template_description(task)
    )


# ----------------------------------------------------------------------------- answers as text
def normalise(text: str) -> str:
    """Lower case, single spaces, no surrounding quotes or trailing punctuation."""
    text = re.sub(r"\s+", " ", text.strip().lower())
    return text.strip(" \"'`").rstrip(".!,;:").strip()


def cut_at(text: str, marker: str | None) -> str:
    """``text`` up to the first ``marker`` (all of it when the marker is empty or absent)."""
    return text[: text.index(marker)] if marker and marker in text else text


def parse_answer(text: str) -> frozenset[tuple[str, ...]]:
    """The normalised items of an answer (``none`` or nothing: no item)."""
    items = set()
    for part in text.split(ITEM_SEP.strip()):
        fields = tuple(normalise(f) for f in part.split(FIELD_SEP.strip()))
        if any(fields) and fields != (NONE,):
            items.add(fields)
    return frozenset(items)


class Verbaliser:
    """Label ids ↔ texts of a classification task; the round trip is exact.

    >>> v = Verbaliser(["neg", "pos"], {"neg": "negative", "pos": "positive"})
    >>> v.to_text(1), v.to_label("Positive."), v.to_label("positive, I think"), v.to_label("maybe")
    ('positive', 1, 1, None)
    """

    def __init__(self, names: Sequence[str], texts: dict[str, str] | None = None):
        texts = texts or {}
        unknown = [k for k in texts if k not in names]
        if unknown:
            raise ConfigError(
                f"verbalizer names unknown label(s) {', '.join(map(repr, unknown))}",
                hint=f"the task's labels are {', '.join(names)}",
            )
        self.texts = [texts.get(n, _words(n)) for n in names]
        keys = [normalise(t) for t in self.texts]
        if len(set(keys)) != len(keys) or not all(keys):
            raise ConfigError(
                f"verbalizer: the label texts {self.texts} are not distinct (after lower-casing)",
                hint="give each label its own text in 'verbalizer'",
            )
        self._index = {k: i for i, k in enumerate(keys)}
        # longest first, so that "not negated" is not read as "negated"
        self._prefixes = sorted(self._index, key=len, reverse=True)

    @classmethod
    def for_task(cls, task: Task) -> Verbaliser:
        return cls(task.label_names or [], task.verbalizer)

    def to_text(self, label: int) -> str:
        return self.texts[int(label)]

    def to_label(self, text: str) -> int | None:
        """The label an answer names: its whole text, else the label text it starts with; None
        when it names none."""
        key = normalise(text)
        if key in self._index:
            return self._index[key]
        for p in self._prefixes:
            if key.startswith(p) and not key[len(p) : len(p) + 1].isalnum():
                return self._index[p]
        return None


# ----------------------------------------------------------------------------- prompts
def fill(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced, in one pass: other braces (a JSON
    example in an instruction, ``{x}`` in a text) stay as they are, and a value that contains
    ``{input}`` is not filled again — unlike ``str.format``.

    >>> fill('Answer as {"label": ...}. {description}', description="Is it {negated}?")
    'Answer as {"label": ...}. Is it {negated}?'
    """
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


class TaskPrompt:
    """Prompts and answers of one task under a :class:`~taskmix.config.PromptConfig`.

    >>> from taskmix.data.suite import demo_suite
    >>> tp = TaskPrompt(demo_suite()["negation_site_a"])
    >>> tp.answer("train", 0) in ("affirmed", "negated")
    True
    """

    def __init__(self, task: Task, config: PromptConfig | None = None):
        if task.kind not in ("classification", "generation"):
            raise ConfigError(
                f"task {task.name!r} is a {task.kind} task; generative models take classification "
                "and generation tasks",
                hint="train it with the encoder trainer instead",
            )
        self.task = task
        self.config = config or PromptConfig()
        self.verbaliser = Verbaliser.for_task(task) if task.kind == "classification" else None
        instruction = describe(task)
        if self.verbaliser is not None:
            instruction += " Answer with one of: " + ", ".join(self.verbaliser.texts) + "."
        self.instruction = fill(self.config.instruction, description=instruction)

    def input_text(self, texts: Sequence[str]) -> str:
        if len(texts) == 1:
            return texts[0]
        return "\n".join(
            f"{_words(f)}: {t}" for f, t in zip(self.task.text_fields, texts, strict=True)
        )

    def query(self, texts: Sequence[str]) -> str:
        """The input and the response cue (no instruction), as in a few-shot demonstration."""
        return fill(self.config.input, input=self.input_text(texts)) + self.config.response

    def prompt(self, split: str, i: int) -> str:
        """Instruction, input and response cue of example ``i`` of ``split``: what the model
        reads."""
        return self.instruction + self.query(self.task.splits[split].texts[i])

    def message(self, split: str, i: int) -> str:
        """Instruction and input of example ``i`` of ``split``, without the response cue: the user
        message of a chat model, whose chat template cues the answer."""
        texts = self.task.splits[split].texts[i]
        return self.instruction + fill(self.config.input, input=self.input_text(texts)).rstrip()

    def answer(self, split: str, i: int) -> str:
        """The gold answer of example ``i`` as text (without the end marker)."""
        label = self.task.splits[split].labels[i]
        return self.verbaliser.to_text(label) if self.verbaliser is not None else str(label)

    def target(self, split: str, i: int) -> str:
        """What the model learns to write: the answer and the end marker."""
        return self.answer(split, i) + self.config.end

    def cut(self, generated: str) -> str:
        """A generated text up to the end marker."""
        return cut_at(generated, self.config.end).strip()
