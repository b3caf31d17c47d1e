"""OpenAI-compatible chat completions: OpenAI, Groq, the Hugging Face router, vLLM."""

from __future__ import annotations

from typing import Any, ClassVar

from trainer.teachers.base import BadResponse, Generation
from trainer.teachers.http import ChatCall, HttpTeacher, bearer, count_of, text_of


class OpenAITeacher(HttpTeacher):
    """`POST {base}/chat/completions` with a bearer key."""

    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"

    def _headers(self, key: str | None) -> dict[str, str]:
        return bearer(key)

    def _endpoint(self) -> str:
        return "/chat/completions"

    def _body(self, call: ChatCall) -> dict[str, Any]:
        # max_tokens, not max_completion_tokens: Groq and the HF router only know the former.
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": call.system},
                {"role": "user", "content": call.prompt},
            ],
            "temperature": call.temperature,
            "top_p": call.top_p,
            "max_tokens": call.max_tokens,
        }
        if call.seed is not None:
            body["seed"] = call.seed
        return body

    def _read(self, payload: Any, latency_ms: int) -> Generation:
        choices = payload["choices"]
        if not choices:
            raise BadResponse("no choices")
        choice = choices[0]
        usage = payload.get("usage") or {}
        return Generation(
            text=text_of(choice["message"].get("content")),
            latency_ms=latency_ms,
            prompt_tokens=count_of(usage.get("prompt_tokens")),
            completion_tokens=count_of(usage.get("completion_tokens")),
            finish_reason=choice.get("finish_reason"),
        )
