"""Google's Gemini API (`generateContent`)."""

from __future__ import annotations

from typing import Any, ClassVar

from trainer.teachers.base import BadResponse, Generation, Refused
from trainer.teachers.http import ChatCall, HttpTeacher, count_of, text_of


class GeminiTeacher(HttpTeacher):
    """`POST {base}/v1beta/models/{model}:generateContent` with `x-goog-api-key`."""

    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com"
    finish_field: ClassVar[str] = "finishReason"
    # Gemini 2.5 models think before they answer, and their thoughts count against
    # maxOutputTokens: a 16-token limit would end every judging call with no answer.
    judge_max_tokens: ClassVar[int] = 1024

    def _headers(self, key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": key} if key else {}

    def _endpoint(self) -> str:
        return f"/v1beta/models/{self.config.model}:generateContent"

    def _body(self, call: ChatCall) -> dict[str, Any]:
        generation_config: dict[str, Any] = {
            "temperature": call.temperature,
            "topP": call.top_p,
            "maxOutputTokens": call.max_tokens,
        }
        if call.seed is not None:
            generation_config["seed"] = call.seed
        return {
            "systemInstruction": {"parts": [{"text": call.system}]},
            "contents": [{"role": "user", "parts": [{"text": call.prompt}]}],
            "generationConfig": generation_config,
        }

    def _read(self, payload: Any, latency_ms: int) -> Generation:
        candidates = payload.get("candidates") or []
        if not candidates:
            blocked = (payload.get("promptFeedback") or {}).get("blockReason")
            if blocked:
                raise Refused(f"prompt blocked: {blocked}")
            raise BadResponse("no candidates")
        candidate = candidates[0]
        # A thinking model that spends maxOutputTokens on thoughts answers with no content.
        parts = (candidate.get("content") or {}).get("parts") or []
        usage = payload.get("usageMetadata") or {}
        return Generation(
            text="".join(text_of(part.get("text")) for part in parts),
            latency_ms=latency_ms,
            prompt_tokens=count_of(usage.get("promptTokenCount")),
            completion_tokens=count_of(usage.get("candidatesTokenCount")),
            finish_reason=candidate.get("finishReason"),
        )
