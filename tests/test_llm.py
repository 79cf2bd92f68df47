"""LLM clients and the few-shot baseline: an OpenAI-compatible endpoint served by the test on
127.0.0.1 (timeouts, retries, errors, malformed replies) and a tiny local GPT-2."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import run_cli
from taskmix.errors import ModelError
from taskmix.models.llm import EndpointLLM


class FakeOpenAI:
    """A tiny OpenAI-compatible server. ``script`` lists what the next requests get (then 'ok'):
    'ok', 'slow' (answers after 1.5 s), '500', '401', 'notjson', 'nochoices', 'notext'."""

    def __init__(self):
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, **body})
                fake.headers.append(dict(self.headers))
                what = fake.script.pop(0) if fake.script else "ok"
                if what == "slow":
                    time.sleep(1.5)
                if what in ("500", "401"):
                    return self._send(int(what), b'{"error": {"message": "nope"}}')
                if what == "notjson":
                    return self._send(200, b"<html>hello</html>")
                if what == "nochoices":
                    return self._send(200, b'{"object": "text_completion"}')
                choice = fake.answer(body)
                if what == "notext":
                    choice = {"index": 0}
                self._send(200, json.dumps({"choices": [choice]}).encode())

            def _send(self, code, data):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def answer(body: dict) -> dict:
        prompt = body["prompt"] if "prompt" in body else body["messages"][-1]["content"]
        query = prompt.rsplit("### Input:", 1)[-1]
        if body.get("logprobs"):  # similarity questions: "yes" when both examples are reviews
            yes = -0.1 if query.count("film") >= 2 else -3.0
            if "messages" in body:
                return {
                    "message": {"content": "yes"},
                    "logprobs": {
                        "content": [
                            {
                                "token": "yes",
                                "top_logprobs": [
                                    {"token": "yes", "logprob": yes},
                                    {"token": " No", "logprob": -2.0},
                                ],
                            }
                        ]
                    },
                }
            return {
                "text": " yes",
                "logprobs": {"top_logprobs": [{" yes": yes, " no": -2.0, "Yes": -4.0}]},
            }
        label = "pos" if re.search(r"great|excellent|lovely", query) else "neg"
        text = f"{label}\n\n### Input:\nmore text"  # runs on past the end marker, as models do
        if "stop" in body:
            text = text.split(body["stop"][0])[0]
        return (
            {"message": {"role": "assistant", "content": text}}
            if "messages" in body
            else {"text": text}
        )


@pytest.fixture(scope="module")
def server():
    fake = FakeOpenAI()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def fake(server):
    server.script.clear()
    server.requests.clear()
    server.headers.clear()
    return server


def test_completion_and_key(fake, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    llm = EndpointLLM(fake.url, model="m", api_key_env="MY_KEY", backoff=0.01)
    assert llm.complete(["### Input:\nthe film was great\n### Response:\n"], 5, stop="\n\n") == [
        "pos"
    ]
    assert fake.requests[0]["path"] == "/v1/completions" and fake.requests[0]["model"] == "m"
    assert fake.requests[0]["temperature"] == 0 and fake.requests[0]["stop"] == ["\n\n"]
    assert fake.headers[0]["Authorization"] == "Bearer sk-test"
    chat = EndpointLLM(fake.url + "/chat/completions", api="chat", api_key_env="NOT_SET_ANYWHERE")
    assert chat.complete(["### Input:\nawful\n"], 5, stop="\n\n") == ["neg"]
    assert (
        fake.requests[1]["path"] == "/v1/chat/completions"
        and "Authorization" not in fake.headers[1]
    )


def test_retries_timeouts_and_errors(fake):
    llm = EndpointLLM(fake.url, timeout=0.5, retries=2, backoff=0.01)
    fake.script[:] = ["500", "slow"]  # a server error, then a timeout, then an answer
    assert llm.complete(["### Input:\ngreat"], 3) == ["pos\n\n### Input:\nmore text"]
    assert len(fake.requests) == 3
    fake.script[:] = ["500", "500", "500"]
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match=r"did not answer after 3 attempts \(HTTP 500"):
        llm.complete(["x"], 3)
    assert time.perf_counter() - t0 < 5
    fake.script[:] = ["401"]
    with pytest.raises(ModelError, match="refused the request: HTTP 401") as e:
        llm.complete(["x"], 3)
    assert "key" in e.value.hint
    for what, message in (
        ("notjson", "not JSON"),
        ("nochoices", "without choices"),
        ("notext", "without text"),
    ):
        fake.script[:] = [what]
        with pytest.raises(ModelError, match=message):
            llm.complete(["x"], 3)
    dead = EndpointLLM("http://127.0.0.1:9/v1", timeout=0.5, retries=1, backoff=0.01)
    with pytest.raises(ModelError, match="did not answer after 2 attempts"):
        dead.complete(["x"], 3)
    with pytest.raises(ModelError, match="not an http"):
        EndpointLLM("127.0.0.1:8000")


def test_option_logprobs(fake):
    both = "### Input:\nthe film was great\nthe film was long"
    for api in ("completions", "chat"):
        llm = EndpointLLM(fake.url, api=api, backoff=0.01)
        yes, no = llm.option_logprobs(both, ["yes", "no"])
        assert yes == pytest.approx(-0.1) and no == pytest.approx(
            -2.0
        )  # " yes" and " No" match too
        yes, _ = llm.option_logprobs("### Input:\nthe film\nfever", ["yes", "no"])
        assert yes == pytest.approx(-3.0)
    fake.script[:] = ["notext"]  # a choice without logprobs
    with pytest.raises(ModelError, match="log-probabilities"):
        EndpointLLM(fake.url).option_logprobs("x", ["yes", "no"])


def test_fewshot_cli_with_the_endpoint(fake, keyword_suite, tmp_path, monkeypatch, capsys):
    out = tmp_path / "runs"
    args = [
        "fewshot",
        keyword_suite,
        "--endpoint",
        fake.url,
        "--llm",
        "served-model",
        "--tasks",
        "a",
        "--seeds",
        "1,2",
        "--out",
        out,
    ]
    code, stdout, stderr = run_cli(monkeypatch, capsys, *args)
    assert code == 0, stderr
    assert "few-shot LLM" in stdout and "acc 100.0" in stdout  # the fake answers every review right
    prompts = [r["prompt"] for r in fake.requests]
    assert len(prompts) == 2 * 20  # 20 test examples, 2 seeds
    # k = number of classes: two demonstrations (one per class) and the query
    assert all(p.count("### Input:") == 3 for p in prompts)
    assert all("Answer with one of: neg, pos." in p for p in prompts)
    n = len(fake.requests)
    code, stdout, _ = run_cli(monkeypatch, capsys, *args)  # done already: nothing asked again
    assert code == 0 and len(fake.requests) == n
    code, stdout, _ = run_cli(monkeypatch, capsys, "compare", "--out", out)
    assert code == 0 and "few-shot LLM" in stdout
    # an endpoint that sends junk fails every run with a message saying so
    fake.script[:] = ["notjson"] * 50
    code, _, stderr = run_cli(
        monkeypatch,
        capsys,
        "fewshot",
        keyword_suite,
        "--endpoint",
        fake.url,
        "--tasks",
        "a",
        "--seeds",
        "3",
        "--k",
        "1",
        "--out",
        out,
    )
    assert code == 2 and "not JSON" in stderr
    code, _, stderr = run_cli(monkeypatch, capsys, "fewshot", keyword_suite, "--out", out)
    assert code == 2 and "--llm" in stderr


def test_fewshot_with_a_local_model(keyword_suite, tiny_gpt2_dir, tmp_path, monkeypatch, capsys):
    code, stdout, stderr = run_cli(
        monkeypatch,
        capsys,
        "fewshot",
        keyword_suite,
        "--llm",
        tiny_gpt2_dir,
        "--tasks",
        "a",
        "--seeds",
        "1",
        "--limit",
        "4",
        "--max-new-tokens",
        "3",
        "--out",
        tmp_path / "runs",
    )
    assert code == 0, stderr
    assert "few-shot LLM" in stdout


def _review_and_clinical_suite(tmp_path):
    from conftest import keyword_rows, write_jsonl, write_suite

    write_jsonl(tmp_path / "a.jsonl", keyword_rows(40, 1))
    write_jsonl(tmp_path / "b.jsonl", keyword_rows(40, 2, pair=True))
    write_jsonl(
        tmp_path / "c.jsonl",
        [
            {
                "text": f"pt {'denies' if i % 2 else 'reports'} fever day {i}",
                "label": "neg" if i % 2 else "pos",
            }
            for i in range(40)
        ],
    )
    return write_suite(
        tmp_path / "s.yaml",
        {
            "name": "mix",
            "tasks": [
                {"name": "a", "text": "text", "label": "label", "splits": {"train": "a.jsonl"}},
                {
                    "name": "b",
                    "text": ["text", "text2"],
                    "label": "label",
                    "splits": {"train": "b.jsonl"},
                },
                {
                    "name": "clinical",
                    "text": "text",
                    "label": "label",
                    "splits": {"train": "c.jsonl"},
                },
            ],
        },
    )


def test_llm_similarity_is_a_log_ratio_and_cached(fake, tmp_path):
    from taskmix.config import LLMConfig
    from taskmix.data.suite import Suite
    from taskmix.relate.llmsim import LLMSimilarity
    from taskmix.store import RunStore

    suite = Suite.from_yaml(_review_and_clinical_suite(tmp_path))
    store = tmp_path / "runs" / "taskmix.db"
    sim = LLMSimilarity(llm=LLMConfig(endpoint=fake.url), store=store, pairs=3, show_progress=False)
    F = sim.fit(list(suite)).score([suite["a"]])
    # the fake says yes (log p = -0.1) to two reviews, and no (-2.0) beats yes (-3.0) otherwise
    assert F.loc["a", "b"] == pytest.approx(-0.1 - -2.0) and F.loc[
        "a", "clinical"
    ] == pytest.approx(-3.0 - -2.0)
    assert "a" not in F.columns and sim.asked_ == 6 and len(fake.requests) == 6
    assert "Are task A and task B similar tasks? Answer yes or no." in fake.requests[0]["prompt"]
    assert (
        "-> pos" in fake.requests[0]["prompt"] or "-> neg" in fake.requests[0]["prompt"]
    )  # the answer is shown
    again = LLMSimilarity(
        llm=LLMConfig(endpoint=fake.url), store=store, pairs=3, show_progress=False
    )
    assert again.fit(list(suite)).score([suite["a"]]).equals(F)
    assert (
        again.asked_ == 0 and len(fake.requests) == 6
    )  # every answer came from the run store's cache
    with RunStore(store) as s:
        assert s._conn.execute("SELECT count(*) FROM cache").fetchone()[0] == 6
    other = LLMSimilarity(
        llm=LLMConfig(endpoint=fake.url, model="another"), store=store, pairs=3, show_progress=False
    )
    other.fit(list(suite)).score([suite["a"]])
    assert other.asked_ == 6  # another model is asked afresh


def test_select_with_llm_similarity(fake, tmp_path, monkeypatch, capsys):
    suite = _review_and_clinical_suite(tmp_path)
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "select",
        "--sources",
        suite,
        "--target",
        "a",
        "--measure",
        "llm",
        "--endpoint",
        fake.url,
        "--k",
        "1",
        "--out",
        tmp_path / "runs",
    )
    assert code == 0, err
    assert "selected (top 1): b" in out
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "select",
        "--sources",
        suite,
        "--target",
        "a",
        "--measure",
        "llm",
        "--out",
        tmp_path / "runs",
    )
    assert code == 2 and "--endpoint" in err
