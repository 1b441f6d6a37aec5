"""Shared base for every message on the bus."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.version import SCHEMA_MAJOR, SCHEMA_VERSION


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """Frozen, versioned; unknown fields are ignored so minor versions can add fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: str = Field(
        default=SCHEMA_VERSION, description="Major.minor; consumers reject another major."
    )

    @field_validator("schema_version")
    @classmethod
    def _same_major(cls, value: str) -> str:
        if value.split(".", 1)[0] != SCHEMA_MAJOR:
            raise ValueError(
                f"unsupported schema version {value!r}: this service speaks {SCHEMA_VERSION}"
            )
        return value
