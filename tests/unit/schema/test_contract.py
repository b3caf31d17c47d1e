"""The exported schema keeps every promise of the contract, and the committed SDL is current.

The contract lives beside the repository, in `../shared/contract/`; a copy is kept in
`tests/contract/` so that a clone checked out anywhere still tests against it, and where the
original is there the copy must be the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, find_breaking_changes

from schema import SDL_PATH, export_sdl

ROOT = Path(__file__).resolve().parents[3]
CONTRACT = ROOT / "tests" / "contract" / "core.graphql"
SHARED_CONTRACT = ROOT.parent / "shared" / "contract" / "core.graphql"


def test_the_contract_copy_is_the_shared_contract() -> None:
    if not SHARED_CONTRACT.is_file():
        pytest.skip(f"no shared contract at {SHARED_CONTRACT}: the copy is tested alone")
    assert CONTRACT.read_text() == SHARED_CONTRACT.read_text(), (
        f"copy {SHARED_CONTRACT} to {CONTRACT}"
    )


def test_exported_schema_is_a_superset_of_the_contract() -> None:
    contract = build_schema(CONTRACT.read_text())
    exported = build_schema(export_sdl())
    assert [change.description for change in find_breaking_changes(contract, exported)] == []


def test_committed_sdl_is_current() -> None:
    assert SDL_PATH.read_text() == export_sdl(), "run `chorus schema > schema/schema.graphql`"
