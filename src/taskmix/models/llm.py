"""Large language models used as they are (no training): a local Hugging Face model, or an
OpenAI-compatible HTTP endpoint (vLLM, llama.cpp's server, Ollama, OpenAI, …).

Two small strategy objects with the same two methods: ``complete`` (greedy continuations of
prompts, cut at a stop string) and ``option_logprobs`` (the log-probability of each of a few
one-word options as the next word, e.g. "yes" / "no"). The endpoint client sets a timeout on
every request, retries connection failures, timeouts, 429 and 5xx answers with exponential
back-off, and turns any reply it cannot read into a :class:`~taskmix.errors.ModelError` that
says what came back.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from taskmix.config import LLMConfig, ModelConfig
from taskmix.data.prompt import cut_at
from taskmix.errors import ModelError

log = logging.getLogger(__name__)


class LLM:
    """An LLM used for prompting: ``name`` says which, for tables and cache keys."""

    name = "llm"

    def complete(
        self, prompts: Sequence[str], max_tokens: int, stop: str | None = None
    ) -> list[str]:
        """Greedy continuations of ``prompts``, each cut at ``stop``."""
        return [cut_at(text, stop) for text in self._complete(list(prompts), max_tokens, stop)]

    def _complete(self, prompts: list[str], max_tokens: int, stop: str | None) -> list[str]:
        raise NotImplementedError

    def option_logprobs(self, prompt: str, options: Sequence[str]) -> list[float]:
        raise NotImplementedError


class LocalLLM(LLM):
    """A causal or seq2seq Hugging Face model run here
    (:class:`~taskmix.models.generative.LanguageModel`)."""

    def __init__(self, lm, batch_size: int = 8, chat_template: bool = True):
        self.lm = lm
        self.name = lm.name
        self.batch_size = batch_size
        # an instruction-tuned model reads each prompt as a user message in its chat template
        self.chat = chat_template and lm.has_chat_template
        lm.model.eval()

    def _prompts(self, prompts: Sequence[str]) -> list[str]:
        return [self.lm.chat(p) for p in prompts] if self.chat else list(prompts)

    @classmethod
    def from_config(cls, config: LLMConfig, chat_template: bool = True) -> LocalLLM:
        from taskmix.models.backbone import resolve_device, weights_dtype
        from taskmix.models.generative import LanguageModel

        model = ModelConfig(
            name=config.model or "",
            max_length=config.max_length,
            device=config.device,
            precision=config.precision,
        )
        dtype = weights_dtype(config.precision, resolve_device(config.device))
        lm = LanguageModel.from_config(model, architecture=config.architecture, dtype=dtype)
        return cls(lm, chat_template=chat_template)

    def _complete(self, prompts, max_tokens, stop):
        out = []
        prompts = self._prompts(prompts)
        for i in range(0, len(prompts), self.batch_size):
            with self.lm.autocast():
                out += self.lm.generate(self.lm.model, prompts[i : i + self.batch_size], max_tokens)
        return out

    def option_logprobs(self, prompt, options):
        import torch

        with torch.no_grad(), self.lm.autocast():
            lp = self.lm.answer_logprobs(
                self.lm.model, self._prompts([prompt]) * len(options), [" " + o for o in options]
            )
        return [float(x) for x in lp]


RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class EndpointLLM(LLM):
    """An OpenAI-compatible endpoint: ``url`` is its base (``http://host:8000/v1``; the path
    ``/completions`` or ``/chat/completions`` is added unless the URL already ends with it), the
    key is read from the environment variable ``api_key_env`` (never from a file).

    >>> llm = EndpointLLM("http://127.0.0.1:8000/v1", model="qwen2.5-7b-instruct")  # doctest: +SKIP
    >>> llm.complete(["2 + 2 ="], max_tokens=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        model: str | None = None,
        api: str = "completions",
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        top_logprobs: int = 20,
    ):
        if not url.startswith(("http://", "https://")):
            raise ModelError(
                f"endpoint {url!r} is not an http(s) URL", hint="e.g. http://127.0.0.1:8000/v1"
            )
        path = "/chat/completions" if api == "chat" else "/completions"
        self.url = url if url.rstrip("/").endswith(path) else url.rstrip("/") + path
        self.model, self.api, self.timeout, self.retries, self.backoff = (
            model,
            api,
            timeout,
            retries,
            backoff,
        )
        self.top_logprobs = top_logprobs
        self.name = model or url
        self._key = os.environ.get(api_key_env) if api_key_env else None

    @classmethod
    def from_config(cls, config: LLMConfig) -> EndpointLLM:
        return cls(
            config.endpoint or "",
            config.model,
            config.api,
            config.api_key_env,
            config.timeout,
            config.retries,
        )

    # ------------------------------------------------------------ HTTP
    def _post(self, body: dict) -> dict:
        data = json.dumps({**({"model": self.model} if self.model else {}), **body}).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300]
                if e.code in RETRY_STATUS:
                    problem = f"HTTP {e.code}: {detail}"
                    log.info("endpoint %s: %s (attempt %d)", self.url, problem, attempt + 1)
                    continue
                hint = (
                    "check the key (read from the environment variable named by api_key_env)"
                    if e.code in (401, 403)
                    else "check the URL, the model name and the API kind (completions/chat)"
                )
                raise ModelError(
                    f"endpoint {self.url} refused the request: HTTP {e.code}: {detail}", hint=hint
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                problem = str(getattr(e, "reason", e)) or type(e).__name__
                log.info("endpoint %s: %s (attempt %d)", self.url, problem, attempt + 1)
                continue
            try:
                reply = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ModelError(
                    f"endpoint {self.url} sent a reply that is not JSON: {raw[:200]!r}",
                    hint="is the URL an OpenAI-compatible API (…/v1)?",
                ) from None
            if not isinstance(reply, dict):
                raise ModelError(
                    f"endpoint {self.url} sent {type(reply).__name__} JSON, not an object: "
                    f"{raw[:200]!r}"
                )
            return reply
        raise ModelError(
            f"endpoint {self.url} did not answer after {self.retries + 1} attempts ({problem})",
            hint="check that the server runs and the URL; raise timeout / retries for a slow "
            "server",
        )

    def _choice(self, reply: dict) -> dict:
        try:
            choice = reply["choices"][0]
            if not isinstance(choice, dict):
                raise TypeError
            return choice
        except (KeyError, IndexError, TypeError):
            raise ModelError(
                f"endpoint {self.url} sent a reply without choices: {json.dumps(reply)[:300]}",
                hint=f"the {self.api} API of an OpenAI-compatible server answers "
                "{'choices': [...]}; is --api right?",
            ) from None

    def _text(self, choice: dict) -> str:
        text = (
            choice.get("message", {}).get("content") if self.api == "chat" else choice.get("text")
        )
        if not isinstance(text, str):
            raise ModelError(
                f"endpoint {self.url} sent a choice without text: {json.dumps(choice)[:300]}",
                hint="is --api right (completions or chat)?",
            )
        return text

    # ------------------------------------------------------------ the two methods
    def _body(self, prompt: str, max_tokens: int) -> dict:
        if self.api == "chat":
            return {
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens,
                "temperature": 0,
            }
        return {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}

    def _complete(self, prompts, max_tokens, stop):
        out = []
        for p in prompts:
            body = self._body(p, max_tokens)
            if stop:
                body["stop"] = [stop]
            out.append(self._text(self._choice(self._post(body))))
        return out

    def option_logprobs(self, prompt, options):
        """Log-probabilities of the options as the first answer word, read from the endpoint's top
        log-probabilities of the first token (an option not among them gets the lowest one shown:
        an upper bound of its own)."""
        body = self._body(prompt, 1)
        if self.api == "chat":
            body.update(logprobs=True, top_logprobs=min(self.top_logprobs, 20))
        else:
            body["logprobs"] = min(self.top_logprobs, 5)
        top = self._top_logprobs(self._choice(self._post(body)))
        best: dict[str, float] = {}
        for token, lp in top.items():
            key = token.strip().lower()
            if key and (key not in best or lp > best[key]):
                best[key] = lp
        floor = min(top.values())
        return [best.get(o.strip().lower(), floor) for o in options]

    def _top_logprobs(self, choice: dict) -> dict[str, float]:
        try:
            lp: Any = choice["logprobs"]
            if self.api == "chat":
                entries = lp["content"][0]["top_logprobs"]
                top = {e["token"]: float(e["logprob"]) for e in entries}
            else:
                top = {str(k): float(v) for k, v in lp["top_logprobs"][0].items()}
            if not top or any(math.isnan(v) for v in top.values()):
                raise ValueError
            return top
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise ModelError(
                f"endpoint {self.url} sent no readable log-probabilities: "
                f"{json.dumps(choice)[:300]}",
                hint="the server must support logprobs (vLLM and OpenAI's completions API do)",
            ) from None


def make_llm(config: LLMConfig, chat_template: bool = True) -> LLM:
    """The endpoint client when ``endpoint`` is set, else the local model ``model`` (reading
    prompts in its chat template, if it has one, unless ``chat_template`` is false)."""
    if config.endpoint:
        return EndpointLLM.from_config(config)
    if not config.model:
        raise ModelError(
            "no LLM given",
            hint="give --llm MODEL (a local or Hugging Face model) or --endpoint URL",
        )
    return LocalLLM.from_config(config, chat_template=chat_template)
