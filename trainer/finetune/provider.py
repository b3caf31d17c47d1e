"""An OpenAI-compatible fine-tuning API: upload a dataset, create a job on it, read the job
as it moves. Nothing here touches the database; the runner writes what it learns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from models.enums import FineTuneStatus
from trainer.teachers.base import TeacherError
from trainer.teachers.http import bearer, env_proxy, error_for, fetch, open_client

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"
MODEL_SUFFIX = "chorus"
_TIMEOUT_S = 120.0
_REASON_LENGTH = 300

_PROVIDER_STATUS = {
    "validating_files": FineTuneStatus.VALIDATING_FILES,
    "queued": FineTuneStatus.QUEUED,
    "running": FineTuneStatus.RUNNING,
    "succeeded": FineTuneStatus.SUCCEEDED,
    "failed": FineTuneStatus.FAILED,
    "cancelled": FineTuneStatus.CANCELLED,
}


class ProviderError(Exception):
    """A fine-tuning API call that failed; `transient` when asking again later may work."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class ProviderJob:
    """The provider's job as last read."""

    # None for a status this client does not know.
    status: FineTuneStatus | None
    payload: dict[str, Any]

    @property
    def outcome(self) -> dict[str, object]:
        """What a final job adds to its row: the model it made, or why it failed."""
        if self.status is FineTuneStatus.SUCCEEDED:
            return {"fine_tuned_model": self.payload.get("fine_tuned_model")}
        if self.status is FineTuneStatus.FAILED:
            error = self.payload.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            return {"error": message or "the provider gave no reason"}
        return {}


class FineTuningAPI:
    """One provider's fine-tuning API over one HTTP client, opened on first use."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        base_model: str = DEFAULT_BASE_MODEL,
    ) -> None:
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._base_model = base_model
        self._headers = bearer(api_key)
        self._proxy = env_proxy(self._base_url)
        self._http: aiohttp.ClientSession | None = None

    async def upload(self, content: bytes, filename: str) -> str:
        """Upload a JSONL training file; the provider's file id."""
        form = aiohttp.FormData()
        form.add_field("purpose", "fine-tune")
        form.add_field("file", content, filename=filename, content_type="application/jsonl")
        return _text_field(await self._request("POST", "/files", data=form), "id")

    async def create(self, training_file: str) -> str:
        """Create a job fine-tuning the base model on an uploaded file; the job's id."""
        created = await self._request(
            "POST",
            "/fine_tuning/jobs",
            json={
                "training_file": training_file,
                "model": self._base_model,
                "suffix": MODEL_SUFFIX,
            },
        )
        return _text_field(created, "id")

    async def job(self, job_id: str) -> ProviderJob:
        """The job as it is now."""
        payload = await self._request("GET", f"/fine_tuning/jobs/{job_id}")
        return ProviderJob(_PROVIDER_STATUS.get(str(payload.get("status"))), payload)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _request(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        self._http = open_client(self._http, headers=self._headers, timeout_s=_TIMEOUT_S)
        try:
            url = f"{self._base_url}{path}"
            reply = await fetch(self._http, method, url, proxy=self._proxy, **options)
        except TeacherError as error:
            raise ProviderError(error.reason, transient=True) from error
        if reply.is_error:
            failure = error_for(reply)
            raise ProviderError(failure.reason, transient=failure.retryable)
        try:
            payload = reply.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ProviderError(f"not a JSON object: {_snippet(reply.text)}")
        return payload


def _text_field(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"the answer has no {name!r}: {_snippet(json.dumps(payload))}")
    return value


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 3] + "..."
