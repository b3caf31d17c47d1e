"""Global object identification: opaque ids that name a type and its key."""

from __future__ import annotations

import base64
import binascii

import strawberry

from models.errors import BadUserInput


@strawberry.interface(description="An object with a globally unique id, fetched by Query.node.")
class Node:
    id: strawberry.ID


def global_id(type_name: str, key: str | int) -> strawberry.ID:
    raw = f"{type_name}:{key}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


# Longer than any id this API gives: a type's name and a session id of 100 characters.
MAX_ID_CHARS = 600


def parse_global_id(value: str) -> tuple[str, str]:
    try:
        if len(value) > MAX_ID_CHARS:
            raise ValueError("too long for an id")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, key = raw.split(":", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadUserInput(f"{value!r} is not an id of this API.", field="id") from error
    return type_name, key
