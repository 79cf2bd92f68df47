"""Rows per second of ``taskmix predict`` on a 10,000-row file, beside the same model's plain
forward pass over the same rows in the same run.

The model: the bundled MiniLM with a two-class head (SST-2's labels; throughput does not depend on
training), saved with ``save_pretrained`` and loaded back as a user would. The input: the first
``--rows`` sentences of SST-2's training file written as a CSV. Measured, each the best of
``--repeats``:

- ``taskmix_predict``: ``model.predict(texts)`` (what ``taskmix predict`` calls: length-sorted
  token-budget batches, inference mode);
- ``cli_end_to_end``: the ``taskmix predict MODEL FILE`` process from start to exit (start-up, model
  loading, reading and writing the files included) — rows over its wall time;
- ``plain_file_order``: the plain pass a user would write — tokenizer on batches of 64 rows in file
  order (padding to the longest, truncation at the model's 128 tokens), encoder, mean pooling,
  head, softmax, under ``torch.inference_mode``;
- ``plain_sorted``: the same with the rows sorted by length first (the stronger baseline).

    python bench/predict_throughput.py --data-dir ../shared/data --json bench/out/predict.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from common import write_json  # noqa: E402

from taskmix.data.task import Task  # noqa: E402
from taskmix.models.backbone import Backbone, pool  # noqa: E402
from taskmix.models.hps import HardSharingModel  # noqa: E402
from taskmix.models.load import load_model  # noqa: E402


def plain_pass(model: HardSharingModel, texts: list[str], sort: bool, batch: int = 64) -> float:
    """Seconds for the plain forward pass over ``texts``; returns the time."""
    bb, head = model.backbone, model.heads["sst2"]
    order = np.argsort([-len(t) for t in texts], kind="stable") if sort else np.arange(len(texts))
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            rows = [texts[j] for j in order[i : i + batch]]
            enc = bb.tokenizer(
                rows,
                padding="longest",
                truncation=True,
                max_length=bb.config.max_length,
                return_tensors="pt",
            )
            hidden = model.encoder(**enc).last_hidden_state
            torch.softmax(head(pool(hidden, enc["attention_mask"], "mean")), -1)
    return time.perf_counter() - start


def best(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()

    sst2 = pd.read_csv(Path(a.data_dir) / "glue/sst2/train.tsv", sep="\t", quoting=3)
    texts = [str(s) for s in sst2["sentence"].head(a.rows)]
    tmp = Path(tempfile.mkdtemp())
    pd.DataFrame({"text": texts}).to_csv(tmp / "input.csv", index=False)
    meta = Task(name="sst2", kind="classification", splits={}, label_names=["negative", "positive"])
    HardSharingModel(
        Backbone.load("minilm", device="cpu", precision="auto"), [meta]
    ).save_pretrained(tmp / "model")
    model = load_model(tmp / "model", device="cpu")
    print(
        f"{len(texts):,} rows of SST-2, MiniLM, {torch.get_num_threads()} threads, "
        f"autocast {model.backbone.amp_dtype or 'none (fp32)'}"
    )

    def ours() -> float:
        start = time.perf_counter()
        model.predict(texts)
        return time.perf_counter() - start

    model.predict(texts[:256])  # warm-up
    seconds = {
        "taskmix_predict": best(ours, a.repeats),
        "plain_file_order": best(lambda: plain_pass(model, texts, sort=False), a.repeats),
        "plain_sorted": best(lambda: plain_pass(model, texts, sort=True), a.repeats),
    }
    walls = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "taskmix.cli",
                "predict",
                str(tmp / "model"),
                str(tmp / "input.csv"),
                "--device",
                "cpu",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        walls.append(time.perf_counter() - start)
    seconds["cli_end_to_end"] = min(walls)
    cli_rows = json.loads(done.stdout)["rows_per_s"]
    written = pd.read_csv(tmp / "input.predictions.csv")
    assert len(written) == len(texts) and (written.text == pd.Series(texts)).all()

    rate = {k: len(texts) / v for k, v in seconds.items()}
    rate["cli_predict_step"] = cli_rows
    ratio = {
        "vs_plain_file_order": rate["taskmix_predict"] / rate["plain_file_order"],
        "vs_plain_sorted": rate["taskmix_predict"] / rate["plain_sorted"],
    }
    for k, v in rate.items():
        print(f"  {k:18s} {v:8.0f} rows/s")
    for k, v in ratio.items():
        print(f"  taskmix predict {k}: {v:.2f}x (goal >= 0.8x)")
    if a.json:
        write_json(
            a.json,
            {
                "predict": {
                    "rows_per_s": rate,
                    "ratio": ratio,
                    "rows": len(texts),
                    "threads": torch.get_num_threads(),
                }
            },
        )


if __name__ == "__main__":
    main()
