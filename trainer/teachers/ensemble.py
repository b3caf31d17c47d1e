"""Which teachers make up the ensemble: a teachers file, or the default seven.

A teachers file is TOML with one `[[teachers]]` table per teacher, keyed as TeacherConfig::

    [[teachers]]
    name = "groq-llama-3.3-70b"
    provider = "openai"
    model = "llama-3.3-70b-versatile"
    base_url = "https://api.groq.com/openai/v1"
    api_key_env = "GROQ_API_KEY"
    temperature = 0.8

A teacher may also name its prices (`input_price_per_mtok`, `output_price_per_mtok`: USD per
million tokens), which make its cost known, and its provider's limits (`requests_per_minute`,
`tokens_per_minute`), which its calls are paced to.

Without a file the ensemble is the original system's seven teachers, each available when its
key (or, for Ollama, its host) is set; when none is, it is seven offline teachers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from models.errors import BadUserInput
from trainer.teachers.anthropic import AnthropicTeacher
from trainer.teachers.base import PROVIDERS, Teacher, TeacherConfig
from trainer.teachers.gemini import GeminiTeacher
from trainer.teachers.http import HttpTeacher
from trainer.teachers.offline import OfflineTeacher, offline_ensemble
from trainer.teachers.ollama import OllamaTeacher
from trainer.teachers.openai import OpenAITeacher
from trainer.teachers.pacing import Pacing
from trainer.teachers.retry import RetryPolicy
from trainer.teachers.tgi import TgiTeacher

GROQ_BASE_URL = "https://api.groq.com/openai/v1"
HF_ROUTER_BASE_URL = "https://router.huggingface.co/v1"

DEFAULT_ENSEMBLE = (
    TeacherConfig("gemini-2.5-flash", "gemini", "gemini-2.5-flash", api_key_env="GEMINI_API_KEY"),
    TeacherConfig(
        "gemini-2.5-flash-lite", "gemini", "gemini-2.5-flash-lite", api_key_env="GEMINI_API_KEY"
    ),
    TeacherConfig(
        "groq-llama-3.3-70b",
        "openai",
        "llama-3.3-70b-versatile",
        base_url=GROQ_BASE_URL,
        api_key_env="GROQ_API_KEY",
    ),
    TeacherConfig(
        "groq-llama-3.1-8b",
        "openai",
        "llama-3.1-8b-instant",
        base_url=GROQ_BASE_URL,
        api_key_env="GROQ_API_KEY",
    ),
    TeacherConfig(
        "hf-llama-3.1-8b",
        "openai",
        "meta-llama/Llama-3.1-8B-Instruct",
        base_url=HF_ROUTER_BASE_URL,
        api_key_env="HF_TOKEN",
    ),
    TeacherConfig(
        "hf-qwen-2.5-7b",
        "openai",
        "Qwen/Qwen2.5-7B-Instruct",
        base_url=HF_ROUTER_BASE_URL,
        api_key_env="HF_TOKEN",
    ),
    TeacherConfig("ollama-llama3.2", "ollama", "llama3.2", api_key_env="OLLAMA_HOST"),
)

_HTTP_TEACHERS: dict[str, type[HttpTeacher]] = {
    "openai": OpenAITeacher,
    "gemini": GeminiTeacher,
    "ollama": OllamaTeacher,
    "tgi": TgiTeacher,
    "anthropic": AnthropicTeacher,
}

_REQUIRED = ("name", "provider", "model")
# Each key of a `[[teachers]]` table: the types it accepts and how an error names them.
_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"),
    "provider": ((str,), "a string"),
    "model": ((str,), "a string"),
    "base_url": ((str,), "a string"),
    "api_key_env": ((str,), "a string"),
    "temperature": ((int, float), "a number"),
    "top_p": ((int, float), "a number"),
    "max_tokens": ((int,), "an integer"),
    "max_concurrency": ((int,), "an integer"),
    "timeout_s": ((int, float), "a number"),
    "input_price_per_mtok": ((int, float), "a number"),
    "output_price_per_mtok": ((int, float), "a number"),
    "requests_per_minute": ((int,), "an integer"),
    "tokens_per_minute": ((int,), "an integer"),
}
_PRICES = ("input_price_per_mtok", "output_price_per_mtok")


def load_teacher_configs(path: Path | None, env: Mapping[str, str]) -> list[TeacherConfig]:
    """The teachers of `path`, or the default ensemble when there is no file."""
    if path is not None:
        return _read_teachers_file(path)
    if any(is_available(config, env) for config in DEFAULT_ENSEMBLE):
        return list(DEFAULT_ENSEMBLE)
    return offline_ensemble()


def is_available(config: TeacherConfig, env: Mapping[str, str]) -> bool:
    """Whether the key or host the teacher needs is set (offline teachers always are)."""
    return unmet_requirement(config, env) is None


def unmet_requirement(config: TeacherConfig, env: Mapping[str, str]) -> str | None:
    """What the teacher needs and does not have (e.g. "GROQ_API_KEY is not set"), or None."""
    if config.provider == "offline":
        return None
    return _http_teacher_type(config).unmet_requirement(config, env)


def unavailable_teachers(teachers: Iterable[Teacher], env: Mapping[str, str]) -> dict[str, str]:
    """The teachers of the ensemble that cannot write, each with what it lacks."""
    return {
        teacher.name: unmet_requirement(teacher.config, env) or "not available"
        for teacher in teachers
        if not teacher.available
    }


def build_teacher(
    config: TeacherConfig,
    *,
    env: Mapping[str, str],
    offline_latency_ms: int = 0,
    retry: RetryPolicy | None = None,
    pacing: Pacing | None = None,
) -> Teacher:
    """The teacher a config describes; network teachers get one client each, and are paced
    to their limits by `pacing`."""
    if config.provider == "offline":
        return OfflineTeacher(config, simulated_latency_ms=offline_latency_ms)
    pace = pacing.pace(config) if pacing is not None else None
    return _http_teacher_type(config)(config, env=env, retry=retry, pace=pace)


def build_ensemble(
    configs: Iterable[TeacherConfig],
    *,
    env: Mapping[str, str],
    offline_latency_ms: int = 0,
    retry: RetryPolicy | None = None,
    pacing: Pacing | None = None,
) -> list[Teacher]:
    """A teacher per config, in order."""
    return [
        build_teacher(
            config,
            env=env,
            offline_latency_ms=offline_latency_ms,
            retry=retry,
            pacing=pacing,
        )
        for config in configs
    ]


def _http_teacher_type(config: TeacherConfig) -> type[HttpTeacher]:
    try:
        return _HTTP_TEACHERS[config.provider]
    except KeyError:
        raise BadUserInput(
            f"teacher {config.name!r}: unknown provider {config.provider!r}", field="provider"
        ) from None


def _read_teachers_file(path: Path) -> list[TeacherConfig]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadUserInput(f"{path}: cannot read the teachers file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadUserInput(f"{path}: invalid TOML: {exc}") from exc
    unknown = sorted(set(document) - {"teachers"})
    if unknown:
        raise BadUserInput(f"{path}: unknown top-level key {unknown[0]!r}; expected [[teachers]]")
    tables = document.get("teachers")
    if not isinstance(tables, list) or not tables:
        raise BadUserInput(f"{path}: no [[teachers]] tables")
    configs: list[TeacherConfig] = []
    for number, table in enumerate(tables, start=1):
        config = _teacher_config(table, f"{path}: teacher {number}")
        if any(other.name == config.name for other in configs):
            raise BadUserInput(
                f"{path}: teacher {number} ({config.name}): name: duplicate {config.name!r}",
                field="name",
            )
        configs.append(config)
    return configs


def _teacher_config(table: Any, where: str) -> TeacherConfig:
    if not isinstance(table, dict):
        raise BadUserInput(f"{where}: must be a [[teachers]] table")
    if isinstance(table.get("name"), str):
        where = f"{where} ({table['name']})"

    def fail(key: str, problem: str) -> BadUserInput:
        return BadUserInput(f"{where}: {key}: {problem}", field=key)

    for key in table:
        if key not in _KEYS:
            raise fail(key, f"unknown key; expected one of {', '.join(_KEYS)}")
    for key in _REQUIRED:
        if key not in table:
            raise fail(key, "required")
    for key, value in table.items():
        types, kind = _KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise fail(key, f"must be {kind}, got {value!r}")
    for key in _REQUIRED:
        if not table[key].strip():
            raise fail(key, "must not be empty")
    values: dict[str, Any] = {
        key: float(value) if float in _KEYS[key][0] else value for key, value in table.items()
    }
    config = TeacherConfig(**values)
    if config.provider not in PROVIDERS:
        raise fail(
            "provider", f"unknown {config.provider!r}; expected one of {', '.join(PROVIDERS)}"
        )
    if not 0 <= config.temperature <= 2:
        raise fail("temperature", f"must be between 0 and 2, got {config.temperature:g}")
    if not 0 < config.top_p <= 1:
        raise fail("top_p", f"must be greater than 0 and at most 1, got {config.top_p:g}")
    if config.max_tokens < 1:
        raise fail("max_tokens", f"must be at least 1, got {config.max_tokens}")
    if config.max_concurrency < 1:
        raise fail("max_concurrency", f"must be at least 1, got {config.max_concurrency}")
    if config.timeout_s <= 0:
        raise fail("timeout_s", f"must be greater than 0, got {config.timeout_s:g}")
    for key in _PRICES:
        price = getattr(config, key)
        if price is not None and not (0 <= price < 1_000_000):
            raise fail(key, f"must be a price in USD per million tokens, at least 0, got {price:g}")
    given = [key for key in _PRICES if key in table]
    if len(given) == 1:
        other = next(key for key in _PRICES if key not in table)
        raise fail(other, f"required with {given[0]}: a cost needs both prices")
    for key in ("requests_per_minute", "tokens_per_minute"):
        limit = getattr(config, key)
        if limit is not None and limit < 1:
            raise fail(key, f"must be at least 1, got {limit}")
    if config.provider == "tgi" and config.base_url is None:
        raise fail("base_url", "required for provider tgi")
    return config
