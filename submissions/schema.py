"""The intake message and the receipt, as pydantic models (also published as OpenAPI).

Unknown fields are refused and types are strict, so a sender learns at once, with a
JSON path, where its message breaks the schema.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

SUPPORTED_SCHEMA_VERSIONS = ("1.0",)

Text = Annotated[str, Field(min_length=1, max_length=200)]
ShortText = Annotated[str, Field(min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Period(Strict):
    start: datetime.date
    end: datetime.date


class Recipient(Strict):
    org_her_id: int = Field(description="The registry's organisation HER-id: 85217 (FHI).")
    service_her_id: int = Field(description="The register's service address (production or validation).")


class Sender(Strict):
    org_number: Annotated[str, Field(min_length=1, max_length=20)]
    her_id: int | None = None
    municipality_number: Annotated[str, Field(min_length=1, max_length=8)] | None = None


class System(Strict):
    name: Text
    version: ShortText


class Contact(Strict):
    name: Text
    email: Annotated[str, Field(max_length=254)] | None = None
    mobile: Annotated[str, Field(max_length=32)] | None = None
    types: Annotated[list[int], Field(min_length=1, max_length=5)]


class ActivityRecord(Strict):
    record_id: ShortText
    operation: Literal["upsert", "delete"]
    patient_ref: ShortText | None = None
    event_date: datetime.date | None = None
    end_date: datetime.date | None = None
    unit_id: ShortText | None = None
    # KPR
    service_code: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    municipality_number: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    provider_org_number: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    # NPR
    contact_kind: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    condition_codes: Annotated[list[Annotated[str, Field(max_length=16)]], Field(max_length=50)] | None = None
    procedure_codes: Annotated[list[Annotated[str, Field(max_length=16)]], Field(max_length=50)] | None = None

    @model_validator(mode="after")
    def _upserts_carry_data(self) -> ActivityRecord:
        if self.operation == "upsert":
            missing = [name for name in ("patient_ref", "event_date") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"an upsert needs {' and '.join(missing)}")
        return self


class IdentRecord(Strict):
    record_id: ShortText | None = Field(default=None, description="Defaults to patient_ref.")
    operation: Literal["upsert", "delete"] = "upsert"
    patient_ref: ShortText
    national_id: Annotated[str, Field(max_length=32)] | None = None

    @model_validator(mode="after")
    def _upserts_carry_a_number(self) -> IdentRecord:
        if self.operation == "upsert" and self.national_id is None:
            raise ValueError("an upsert needs national_id")
        return self


class Message(Strict):
    message_id: UUID
    # Named through an alias: a field called `register` in a subclass picks up ABCMeta.register as its default.
    register_code: Literal["NPR", "KPR"] = Field(alias="register")
    kind: Literal["activity", "ident"]
    schema_version: Annotated[str, Field(max_length=16)]
    mode: Literal["change", "full"]
    period: Period | None = None
    recipient: Recipient
    sender: Sender
    system: System
    contacts: Annotated[list[Contact], Field(max_length=50)] = []
    records: Annotated[list[dict[str, Any]], Field(max_length=100_000)]

    @model_validator(mode="after")
    def _full_needs_period(self) -> Message:
        if self.mode == "full" and self.period is None:
            raise ValueError("a full message needs period")
        return self


class Counts(BaseModel):
    received: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    invalid: int


class Finding(BaseModel):
    rule_id: str
    rule_version: int
    severity: Literal["error", "warning"]
    record_id: str | None = None
    path: str | None = None
    message: str


class Receipt(BaseModel):
    """The kvittering: the validation result, returned at once."""

    message_id: str | None
    status: Literal["accepted", "accepted_with_errors", "rejected"]
    received_at: datetime.datetime
    validate_only: bool
    counts: Counts
    findings: list[Finding]


class ErrorBody(BaseModel):
    error: str
    detail: str


def json_path(location: tuple[Any, ...]) -> str:
    """pydantic's error location as a JSON path: ('records', 3, 'event_date') -> $.records[3].event_date."""
    path = "$"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
