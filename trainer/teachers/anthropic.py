"""Anthropic's Messages API."""

from __future__ import annotations

from typing import Any, ClassVar

from trainer.teachers.base import Generation
from trainer.teachers.http import ChatCall, HttpTeacher, count_of, text_of

ANTHROPIC_VERSION = "2023-06-01"
# Anthropic accepts temperatures up to 1.0; the teachers file allows up to 2.0.
_MAX_TEMPERATURE = 1.0


class AnthropicTeacher(HttpTeacher):
    """`POST {base}/v1/messages` with `x-api-key` and `anthropic-version`."""

    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"
    finish_field: ClassVar[str] = "stop_reason"

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if key:
            headers["x-api-key"] = key
        return headers

    def _endpoint(self) -> str:
        return "/v1/messages"

    def _body(self, call: ChatCall) -> dict[str, Any]:
        # Temperature only: newer models reject temperature and top_p together.
        return {
            "model": self.config.model,
            "system": call.system,
            "messages": [{"role": "user", "content": call.prompt}],
            "max_tokens": call.max_tokens,
            "temperature": min(call.temperature, _MAX_TEMPERATURE),
        }

    def _read(self, payload: Any, latency_ms: int) -> Generation:
        usage = payload.get("usage") or {}
        return Generation(
            text="".join(
                text_of(block.get("text"))
                for block in payload["content"]
                if block.get("type") == "text"
            ),
            latency_ms=latency_ms,
            prompt_tokens=count_of(usage.get("input_tokens")),
            completion_tokens=count_of(usage.get("output_tokens")),
            finish_reason=payload.get("stop_reason"),
        )
