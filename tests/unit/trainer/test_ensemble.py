"""Loading the ensemble: the teachers file, its validation, the defaults and the fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import BadUserInput
from tests.support.fake_provider import TGI_MODEL, run_fake_provider
from trainer.teachers.base import GenerationRequest, TeacherConfig
from trainer.teachers.ensemble import (
    DEFAULT_ENSEMBLE,
    build_ensemble,
    build_teacher,
    is_available,
    load_teacher_configs,
)
from trainer.teachers.gemini import GeminiTeacher
from trainer.teachers.offline import OfflineTeacher, offline_ensemble
from trainer.teachers.ollama import OllamaTeacher
from trainer.teachers.openai import OpenAITeacher
from trainer.teachers.retry import RetryPolicy

ALL_KEYS = {
    "GEMINI_API_KEY": "g",
    "GROQ_API_KEY": "q",
    "HF_TOKEN": "h",
    "OLLAMA_HOST": "127.0.0.1:11434",
}

FULL_FILE = """
[[teachers]]
name = "groq-70b"
provider = "openai"
model = "llama-3.3-70b-versatile"
base_url = "https://api.groq.com/openai/v1"
api_key_env = "GROQ_API_KEY"
temperature = 1
top_p = 0.9
max_tokens = 800
max_concurrency = 4
timeout_s = 30

[[teachers]]
name = "local"
provider = "ollama"
model = "llama3.2"
"""

TEACHER = """
[[teachers]]
name = "t"
provider = "openai"
model = "m"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teachers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_teachers_file(tmp_path: Path) -> None:
    configs = load_teacher_configs(write(tmp_path, FULL_FILE), ALL_KEYS)
    assert configs == [
        TeacherConfig(
            name="groq-70b",
            provider="openai",
            model="llama-3.3-70b-versatile",
            base_url="https://api.groq.com/openai/v1",
            api_key_env="GROQ_API_KEY",
            temperature=1.0,
            top_p=0.9,
            max_tokens=800,
            max_concurrency=4,
            timeout_s=30.0,
        ),
        TeacherConfig(name="local", provider="ollama", model="llama3.2"),
    ]
    assert isinstance(configs[0].temperature, float)
    assert isinstance(configs[0].timeout_s, float)


def test_a_teachers_file_is_used_even_without_keys(tmp_path: Path) -> None:
    assert [c.name for c in load_teacher_configs(write(tmp_path, FULL_FILE), {})] == [
        "groq-70b",
        "local",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TEACHER.replace('"openai"', '"azure"'), "teacher 1 (t): provider: unknown 'azure'"),
        (TEACHER.replace('model = "m"', ""), "teacher 1 (t): model: required"),
        (TEACHER.replace('name = "t"', ""), "teacher 1: name: required"),
        (TEACHER.replace('"m"', '"  "'), "teacher 1 (t): model: must not be empty"),
        (TEACHER + TEACHER, "teacher 2 (t): name: duplicate 't'"),
        (TEACHER + "temprature = 0.5\n", "teacher 1 (t): temprature: unknown key"),
        (
            TEACHER + 'max_tokens = "600"\n',
            "teacher 1 (t): max_tokens: must be an integer, got '600'",
        ),
        (TEACHER + "max_tokens = 600.5\n", "teacher 1 (t): max_tokens: must be an integer"),
        (
            TEACHER + "temperature = true\n",
            "teacher 1 (t): temperature: must be a number, got True",
        ),
        (TEACHER + "base_url = 8080\n", "teacher 1 (t): base_url: must be a string, got 8080"),
        (
            TEACHER + "temperature = 2.5\n",
            "teacher 1 (t): temperature: must be between 0 and 2, got 2.5",
        ),
        (TEACHER + "temperature = -0.1\n", "temperature: must be between 0 and 2, got -0.1"),
        (
            TEACHER + "top_p = 0\n",
            "teacher 1 (t): top_p: must be greater than 0 and at most 1, got 0",
        ),
        (TEACHER + "top_p = 1.5\n", "top_p: must be greater than 0 and at most 1, got 1.5"),
        (TEACHER + "max_tokens = 0\n", "teacher 1 (t): max_tokens: must be at least 1, got 0"),
        (
            TEACHER + "max_concurrency = 0\n",
            "teacher 1 (t): max_concurrency: must be at least 1, got 0",
        ),
        (TEACHER + "timeout_s = 0\n", "teacher 1 (t): timeout_s: must be greater than 0, got 0"),
        (
            TEACHER.replace('"openai"', '"tgi"'),
            "teacher 1 (t): base_url: required for provider tgi",
        ),
        (
            "[[teachers]]\nname = 't'\nprovider = \n",
            "invalid TOML: Invalid value (at line 3, column 12)",
        ),
        ("", "no [[teachers]] tables"),
        ("teachers = [1]\n", "teacher 1: must be a [[teachers]] table"),
        ("[teacher]\nname = 't'\n", "unknown top-level key 'teacher'; expected [[teachers]]"),
    ],
)
def test_invalid_teachers_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadUserInput) as caught:
        load_teacher_configs(path, {})
    assert caught.value.message.startswith(f"{path}: ")
    assert message in caught.value.message


def test_field_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(BadUserInput) as caught:
        load_teacher_configs(write(tmp_path, TEACHER + "top_p = 2\n"), {})
    assert caught.value.field == "top_p"


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadUserInput, match="cannot read the teachers file: No such file"):
        load_teacher_configs(tmp_path / "absent.toml", {})


def test_the_default_seven_with_every_key() -> None:
    configs = load_teacher_configs(None, ALL_KEYS)
    assert configs == list(DEFAULT_ENSEMBLE)
    assert [(c.provider, c.model) for c in configs] == [
        ("gemini", "gemini-2.5-flash"),
        ("gemini", "gemini-2.5-flash-lite"),
        ("openai", "llama-3.3-70b-versatile"),
        ("openai", "llama-3.1-8b-instant"),
        ("openai", "meta-llama/Llama-3.1-8B-Instruct"),
        ("openai", "Qwen/Qwen2.5-7B-Instruct"),
        ("ollama", "llama3.2"),
    ]
    assert all(is_available(config, ALL_KEYS) for config in configs)
    assert len({config.name for config in configs}) == 7


def test_the_default_seven_with_one_key_lists_the_others_unavailable() -> None:
    env = {"GROQ_API_KEY": "q"}
    configs = load_teacher_configs(None, env)
    assert configs == list(DEFAULT_ENSEMBLE)
    assert [c.name for c in configs if is_available(c, env)] == [
        "groq-llama-3.3-70b",
        "groq-llama-3.1-8b",
    ]
    groq = [c for c in configs if c.api_key_env == "GROQ_API_KEY"]
    assert {c.base_url for c in groq} == {"https://api.groq.com/openai/v1"}
    hf = [c for c in configs if c.api_key_env == "HF_TOKEN"]
    assert {c.base_url for c in hf} == {"https://router.huggingface.co/v1"}


def test_ollama_alone_keeps_the_default_seven() -> None:
    env = {"OLLAMA_HOST": "gpu-box"}
    assert load_teacher_configs(None, env) == list(DEFAULT_ENSEMBLE)
    assert [c.name for c in DEFAULT_ENSEMBLE if is_available(c, env)] == ["ollama-llama3.2"]


@pytest.mark.parametrize("env", [{}, {"GROQ_API_KEY": ""}, {"UNRELATED": "x"}])
def test_no_key_at_all_falls_back_to_the_offline_seven(env: dict[str, str]) -> None:
    configs = load_teacher_configs(None, env)
    assert configs == offline_ensemble()
    assert len(configs) == 7
    assert {config.provider for config in configs} == {"offline"}
    assert all(is_available(config, env) for config in configs)


async def test_build_ensemble_builds_each_provider() -> None:
    env = {"GEMINI_API_KEY": "g"}
    configs = [*DEFAULT_ENSEMBLE, offline_ensemble()[0]]
    teachers = build_ensemble(configs, env=env, offline_latency_ms=5)
    try:
        assert [type(t) for t in teachers] == [
            GeminiTeacher,
            GeminiTeacher,
            OpenAITeacher,
            OpenAITeacher,
            OpenAITeacher,
            OpenAITeacher,
            OllamaTeacher,
            OfflineTeacher,
        ]
        assert [t.available for t in teachers] == [
            True,
            True,
            False,
            False,
            False,
            False,
            False,
            True,
        ]
        assert [t.offline for t in teachers] == [False] * 7 + [True]
        assert [t.name for t in teachers] == [c.name for c in configs]
    finally:
        for teacher in teachers:
            await teacher.aclose()


def test_build_teacher_rejects_an_unknown_provider() -> None:
    config = TeacherConfig(name="x", provider="azure", model="m")
    with pytest.raises(BadUserInput, match="teacher 'x': unknown provider 'azure'"):
        build_teacher(config, env={})


async def test_an_ensemble_from_a_file_talks_to_each_protocol(tmp_path: Path) -> None:
    async with run_fake_provider() as fake:
        tables = "".join(
            f"""
[[teachers]]
name = "{provider}"
provider = "{provider}"
model = "{TGI_MODEL if provider == "tgi" else provider + "-model"}"
base_url = "{fake.base_url(provider)}"
api_key_env = "FAKE_KEY"
"""
            for provider in ("openai", "gemini", "ollama", "tgi", "anthropic")
        )
        configs = load_teacher_configs(write(tmp_path, tables), {})
        teachers = build_ensemble(configs, env={"FAKE_KEY": "k"}, retry=RetryPolicy(max_attempts=1))
        try:
            request = GenerationRequest(system="Write.", prompt="A fox learns to sail.")
            generations = [await teacher.generate(request) for teacher in teachers]
        finally:
            for teacher in teachers:
                await teacher.aclose()
    assert all("A fox learns to sail" in generation.text for generation in generations)
    assert [received.path for received in fake.requests] == [
        "/v1/chat/completions",
        "/v1beta/models/gemini-model:generateContent",
        "/api/chat",
        "/generate",
        "/v1/messages",
    ]
