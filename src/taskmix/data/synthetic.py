"""The built-in demo suite: clinical-note style tasks with planted structure (seeded,
deterministic).

Tasks and what is planted in them:

- ``negation_site_a`` / ``negation_site_b``: is the finding negated? Site A writes terse notes
  with abbreviations, site B full sentences. They share most negation cues; site B is small and
  noisier, and its held-out notes (dev and test) are phrased the site A way — negated with site
  A's cues, affirmed with site A's templates — of which its training data holds one each: site
  B alone has hardly a clue, training with site A teaches it.
- ``uncertainty_site_a`` / ``uncertainty_site_b``: is the finding stated with uncertainty?
  The same two writing styles and the same shift: site B's held-out notes hedge with site A's
  cues and affirm with site A's templates.
- ``modality``: actual / hypothetical / hedged / generic mention; its *hedged* class uses the
  uncertainty tasks' hedge cues.
- ``sentiment`` (product and film reviews) and ``topic`` (news headlines, 4 topics): general
  tasks unrelated to the clinical ones.

Label noise and class imbalance differ between tasks so that they differ in difficulty.
The planted related groups are in the demo suite's ``groups``.
"""

from __future__ import annotations

import numpy as np

from taskmix.data.task import Task, TaskSplit

FINDINGS = [
    "chest pain",
    "shortness of breath",
    "fever",
    "pneumonia",
    "pulmonary embolism",
    "nausea",
    "headache",
    "rash",
    "leg swelling",
    "cough",
    "abdominal pain",
    "deep vein thrombosis",
    "myocardial infarction",
    "urinary tract infection",
    "syncope",
    "hematuria",
    "dizziness",
    "pleural effusion",
    "cellulitis",
    "sepsis",
    "vomiting",
    "back pain",
    "palpitations",
    "anemia",
]
FILLER_A = ["HPI:", "ROS:", "ED note:", "A/P:", "Triage:", "S/O:", "Hx:", "CC:"]
FILLER_B = [
    "On examination today,",
    "According to the history,",
    "At the time of admission,",
    "During the visit,",
    "Per the discharge summary,",
    "On review of systems,",
]
TAIL_A = ["VSS.", "BP 128/76.", "afebrile.", "f/u 2 wks.", "labs pending.", "HR 88.", ""]
TAIL_B = [
    "Vital signs were stable.",
    "Follow-up was arranged.",
    "Labs are pending.",
    "She was discharged home.",
    "He tolerated the visit well.",
    "",
]

# (shared cue templates, site-specific cue templates); {f} is the finding.
NEG_SHARED = ["denies {f}", "no {f}", "negative for {f}", "without {f}", "{f} was ruled out"]
NEG_A = ["neg {f}", "w/o {f}", "(-) {f}", "no c/o {f}", "{f}: none"]
NEG_B = [
    "there is no evidence of {f}",
    "the patient does not have {f}",
    "free of {f}",
    "absence of {f}",
    "no signs of {f} were found",
]
POS_A = ["c/o {f}", "+ {f}", "reports {f} x2d", "{f} noted", "presents w/ {f}", "hx of {f}"]
POS_B = [
    "the patient reports {f}",
    "she was found to have {f}",
    "he complains of {f}",
    "there is evidence of {f}",
    "the patient presented with {f}",
    "{f} was confirmed",
]
HEDGE_SHARED = [
    "possible {f}",
    "likely {f}",
    "cannot exclude {f}",
    "suspicious for {f}",
    "{f} is suspected",
    "probable {f}",
]
HEDGE_A = ["? {f}", "poss {f}", "r/o {f}", "ddx incl {f}", "{f} vs other"]
HEDGE_B = [
    "findings may represent {f}",
    "{f} cannot be excluded",
    "questionable {f}",
    "concerning for {f}",
    "features could suggest {f}",
]
HYPO = [
    "if {f} develops return to the ED",
    "should the patient experience {f} call the clinic",
    "return if {f} occurs",
    "in case of {f} seek care",
    "watch for {f}",
]
GENERIC = [
    "{f} is commonly associated with smoking",
    "patients with {f} typically improve",
    "{f} is a frequent cause of admission",
    "{f} often presents in older adults",
    "guidelines recommend screening for {f}",
]

REVIEW_POS = [
    "great",
    "excellent",
    "loved it",
    "works perfectly",
    "highly recommend",
    "wonderful",
    "a pleasure",
    "brilliant",
    "sturdy and reliable",
    "beautifully made",
]
REVIEW_NEG = [
    "terrible",
    "broke after a week",
    "waste of money",
    "disappointing",
    "awful",
    "would not recommend",
    "poorly made",
    "boring",
    "stopped working",
    "a letdown",
]
REVIEW_ITEMS = [
    "this blender",
    "the film",
    "the headphones",
    "this novel",
    "the hotel stay",
    "the charger",
    "the sequel",
    "this jacket",
    "the restaurant",
    "the app",
]
TOPICS = {
    "sports": [
        "the striker scored twice",
        "the team won the final",
        "the coach was sacked",
        "a new league record",
        "the match went to penalties",
        "the marathon winner",
    ],
    "business": [
        "shares fell sharply",
        "the merger was approved",
        "quarterly profits rose",
        "the startup raised funding",
        "the central bank held rates",
        "retail sales slowed",
    ],
    "science": [
        "researchers sequenced the genome",
        "the telescope found a new planet",
        "a study of ancient climate",
        "the vaccine trial results",
        "physicists measured the particle",
        "a new battery chemistry",
    ],
    "politics": [
        "the senate passed the bill",
        "the minister resigned",
        "voters go to the polls",
        "the coalition talks collapsed",
        "a new trade agreement",
        "the governor vetoed the law",
    ],
}


def _pick(rng: np.random.Generator, xs: list[str]) -> str:
    return xs[int(rng.integers(len(xs)))]


def _note(rng, style: str, phrase: str) -> str:
    if style == "a":
        return f"{_pick(rng, FILLER_A)} {phrase}. {_pick(rng, TAIL_A)}".strip()
    s = f"{_pick(rng, FILLER_B)} {phrase}. {_pick(rng, TAIL_B)}".strip()
    return s[0].upper() + s[1:]


def _flip(rng, labels: np.ndarray, noise: float, n_classes: int) -> np.ndarray:
    out = labels.copy()
    flip = rng.random(len(out)) < noise
    out[flip] = (out[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return out


def _binary_clinical(
    rng, n: int, style: str, pos_rate: float, cues_pos: list[str], cues_neg: list[str]
) -> tuple[list[str], np.ndarray]:
    labels = (rng.random(n) < pos_rate).astype(np.int64)
    texts = []
    for y in labels:
        f = _pick(rng, FINDINGS)
        phrase = _pick(rng, cues_pos if y else cues_neg).format(f=f)
        texts.append(_note(rng, style, phrase))
    return texts, labels


def _site_task(
    rng,
    n: dict[str, int],
    style: str,
    pos_rate: float,
    noise: float,
    pos_shared: list[str],
    pos_own: list[str],
    pos_other: list[str],
    neg_own: list[str],
    neg_other: list[str],
    shifted: bool,
) -> dict[str, tuple[list[str], np.ndarray]]:
    """A binary site task. With ``shifted``, the held-out splits (dev and test) are phrased the
    other site's way: positives from its cue list, negatives from its affirmed templates — of
    each, this site's training data holds one."""
    out = {}
    for split, size in n.items():
        if split != "train" and shifted:
            pos, neg = pos_other, neg_other
        elif shifted:
            pos, neg = pos_shared + pos_own + pos_other[:1], neg_own + neg_other[:1]
        else:
            pos, neg = pos_shared + pos_own, neg_own
        texts, labels = _binary_clinical(rng, size, style, pos_rate, pos, neg)
        if split == "train":
            labels = _flip(rng, labels, noise, 2)
        out[split] = (texts, labels)
    return out


def _modality(rng, n: int, actual: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Modality notes; the *actual* class is phrased with ``actual`` (default: both sites'
    affirmed templates)."""
    probs = [0.45, 0.2, 0.2, 0.15]  # actual, hypothetical, hedged, generic
    labels = rng.choice(4, size=n, p=probs)
    sources = [actual or POS_A + POS_B, HYPO, HEDGE_SHARED + HEDGE_A + HEDGE_B, GENERIC]
    texts = [
        _note(
            rng,
            "a" if rng.random() < 0.5 else "b",
            _pick(rng, sources[y]).format(f=_pick(rng, FINDINGS)),
        )
        for y in labels
    ]
    return texts, labels.astype(np.int64)


def _sentiment(rng, n: int) -> tuple[list[str], np.ndarray]:
    labels = (rng.random(n) < 0.55).astype(np.int64)
    texts = []
    for y in labels:
        item = _pick(rng, REVIEW_ITEMS)
        main = _pick(rng, REVIEW_POS if y else REVIEW_NEG)
        # A contrasting aside makes some reviews harder.
        aside = (
            f", although {_pick(rng, REVIEW_NEG if y else REVIEW_POS)} at first"
            if rng.random() < 0.25
            else ""
        )
        texts.append(f"{item.capitalize()} was {main}{aside}.")
    return texts, labels


REPORTED = [
    "reports say",
    "officials said",
    "sources confirmed",
    "according to analysts",
    "it emerged today",
]


def _topic(rng, n: int) -> tuple[list[str], np.ndarray]:
    names = list(TOPICS)
    labels = rng.choice(4, size=n, p=[0.3, 0.3, 0.2, 0.2])
    texts = [
        f"{_pick(rng, TOPICS[names[y]]).capitalize()}, {_pick(rng, REPORTED)}." for y in labels
    ]
    return texts, labels.astype(np.int64)


def _make(
    name: str,
    splits: dict[str, tuple[list[str], np.ndarray]],
    label_names: list[str],
    description: str,
) -> Task:
    return Task(
        name=name,
        kind="classification",
        label_names=label_names,
        description=description,
        splits={
            s: TaskSplit(
                [(t,) for t in texts], labels, [f"{name}:{s}:{i}" for i in range(len(texts))]
            )
            for s, (texts, labels) in splits.items()
        },
        split_info={"all": "synthetic"},
    )


def demo_tasks(seed: int = 13, scale: float = 1.0) -> tuple[list[Task], dict[str, list[str]]]:
    """The synthetic demo suite's tasks and its planted related groups (the suite itself is
    :func:`taskmix.data.suite.demo_suite`). Same seed → identical tasks."""
    rng = np.random.default_rng(seed)

    def sizes(train: int, dev: int = 80, test: int = 200) -> dict[str, int]:
        return {
            "train": max(8, int(train * scale)),
            "dev": max(4, int(dev * scale)),
            "test": max(4, int(test * scale)),
        }

    tasks = [
        _make(
            "negation_site_a",
            _site_task(
                rng, sizes(400), "a", 0.35, 0.03, NEG_SHARED, NEG_A, NEG_B, POS_A, POS_B, False
            ),
            ["affirmed", "negated"],
            "Is the finding in this site A note negated?",
        ),
        _make(
            "negation_site_b",
            _site_task(
                rng, sizes(100), "b", 0.35, 0.10, NEG_SHARED, NEG_B, NEG_A, POS_B, POS_A, True
            ),
            ["affirmed", "negated"],
            "Is the finding in this site B note negated?",
        ),
        _make(
            "uncertainty_site_a",
            _site_task(
                rng, sizes(300), "a", 0.3, 0.05, HEDGE_SHARED, HEDGE_A, HEDGE_B, POS_A, POS_B, False
            ),
            ["certain", "uncertain"],
            "Is the finding in this site A note stated with uncertainty?",
        ),
        _make(
            "uncertainty_site_b",
            _site_task(
                rng, sizes(100), "b", 0.3, 0.12, HEDGE_SHARED, HEDGE_B, HEDGE_A, POS_B, POS_A, True
            ),
            ["certain", "uncertain"],
            "Is the finding in this site B note stated with uncertainty?",
        ),
        _make(
            "modality",
            {s: _modality(rng, k) for s, k in sizes(200).items()},
            ["actual", "hypothetical", "hedged", "generic"],
            "Tell me the modality of the finding in this note:",
        ),
        _make(
            "sentiment",
            {s: _sentiment(rng, k) for s, k in sizes(200).items()},
            ["negative", "positive"],
            "Tell me the sentiment of the review:",
        ),
        _make(
            "topic",
            {s: _topic(rng, k) for s, k in sizes(200).items()},
            list(TOPICS),
            "Tell me the topic of the headline:",
        ),
    ]
    groups = {
        "negation": ["negation_site_a", "negation_site_b"],
        "uncertainty": ["uncertainty_site_a", "uncertainty_site_b", "modality"],
    }
    return tasks, groups
