"""Hugging Face Text Generation Inference (`/generate`)."""

from __future__ import annotations

from typing import Any

from trainer.teachers.base import Generation
from trainer.teachers.http import ChatCall, HttpTeacher, bearer, count_of, text_of

# TGI rejects top_p >= 1.0 and temperature <= 0.
_MAX_TOP_P = 0.99
_MIN_TEMPERATURE = 0.01


class TgiTeacher(HttpTeacher):
    """`POST {base}/generate`; the key, when set, is sent as a bearer token."""

    def _headers(self, key: str | None) -> dict[str, str]:
        return bearer(key)

    def _endpoint(self) -> str:
        return "/generate"

    def _body(self, call: ChatCall) -> dict[str, Any]:
        parameters: dict[str, Any] = {
            "max_new_tokens": call.max_tokens,
            "temperature": max(call.temperature, _MIN_TEMPERATURE),
            "top_p": min(call.top_p, _MAX_TOP_P),
            "return_full_text": False,
            "details": True,
        }
        if call.seed is not None:
            parameters["seed"] = call.seed
        return {"inputs": f"{call.system}\n\n{call.prompt}", "parameters": parameters}

    def _read(self, payload: Any, latency_ms: int) -> Generation:
        details = payload.get("details") or {}
        return Generation(
            text=text_of(payload["generated_text"]),
            latency_ms=latency_ms,
            completion_tokens=count_of(details.get("generated_tokens")),
            finish_reason=details.get("finish_reason"),
        )
