"""The intake rule catalogue: every rule has an id, a version and a severity, and its
message says, in Norwegian, what is wrong and how to fix it.

Message-level errors reject the message; record-level errors leave that record out
(the message is then accepted with errors); warnings never block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    severity: str
    rejects_message: bool
    text: Promise


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in [
        Rule("SCHEMA-001", 1, ERROR, True, _("The message does not follow the schema at %(path)s: %(problem)s")),
        Rule(
            "SCHEMA-002",
            1,
            ERROR,
            True,
            _("Schema version %(version)s is not supported. Send the message in version %(supported)s."),
        ),
        Rule(
            "RECIPIENT-001",
            1,
            ERROR,
            True,
            _(
                "The message is addressed to Helsedirektoratet's retired HER-id %(old)s. Since 12 March 2024 the "
                "registries are at FHI: use organisation HER-id %(new)s."
            ),
        ),
        Rule(
            "RECIPIENT-002",
            1,
            ERROR,
            True,
            _("The recipient organisation HER-id %(given)s is not the registry's. Use %(expected)s (FHI)."),
        ),
        Rule(
            "RECIPIENT-003",
            1,
            ERROR,
            True,
            _(
                "Service HER-id %(given)s is not an address of %(register)s. Use %(production)s for production "
                "or %(validation)s for validation."
            ),
        ),
        Rule(
            "SENDER-001",
            1,
            ERROR,
            True,
            _("The sender's organisation number %(value)s is not valid (9 digits with a mod-11 check digit)."),
        ),
        Rule(
            "SENDER-002",
            1,
            ERROR,
            True,
            _(
                "Organisation number %(value)s is not registered as a submitter. Contact the registry to be "
                "registered before you report."
            ),
        ),
        Rule(
            "SENDER-003",
            1,
            ERROR,
            True,
            _("HER-id %(given)s does not belong to %(name)s (expected %(expected)s). Check the sender address."),
        ),
        Rule(
            "SENDER-004",
            1,
            ERROR,
            True,
            _(
                "Municipality number %(value)s was not valid in %(year)s. Use the number valid in the reporting "
                "year (numbers changed in 2020 and 2024)."
            ),
        ),
        Rule("SENDER-005", 1, ERROR, True, _("A municipality must give its municipality number in sender.")),
        Rule(
            "PERIOD-001",
            1,
            ERROR,
            True,
            _("A full message must cover the period from 1 January: the period starts %(start)s."),
        ),
        Rule(
            "PERIOD-002",
            1,
            ERROR,
            True,
            _("The period must end in the same year it starts, on or after its start, and not in the future."),
        ),
        Rule(
            "DATE-001",
            1,
            ERROR,
            False,
            _("%(field)s %(date)s is outside the message's period %(start)s–%(end)s."),
        ),
        Rule("DATE-002", 1, ERROR, False, _("%(field)s %(date)s is in the future.")),
        Rule("DATE-003", 1, ERROR, False, _("end_date %(end)s is before event_date %(start)s.")),
        Rule("RECORD-001", 1, ERROR, False, _("record_id %(record)s occurs more than once in the message.")),
        Rule("RECORD-002", 1, WARNING, False, _("record_id %(record)s is deleted, but the registry does not have it.")),
        Rule(
            "RECORD-003",
            1,
            ERROR,
            False,
            _("%(field)s is required in %(register)s %(kind)s records."),
        ),
        Rule(
            "ICD-001",
            1,
            ERROR,
            False,
            _("%(code)s is not an ICD-10 code. Write a letter, two digits and an optional subdivision, e.g. F32.1."),
        ),
        Rule(
            "NPR-001",
            1,
            ERROR,
            False,
            _("contact_kind %(value)s is unknown. Allowed: %(allowed)s."),
        ),
        Rule(
            "KPR-001",
            1,
            ERROR,
            False,
            _("Service code %(code)s (%(name)s) expired in %(year)s. %(advice)s"),
        ),
        Rule("KPR-002", 1, ERROR, False, _("Service code %(code)s is unknown to KPR.")),
        Rule(
            "KPR-003",
            1,
            ERROR,
            False,
            _("The user's municipality number %(value)s was not valid in %(year)s."),
        ),
        Rule(
            "PROVIDER-001",
            1,
            ERROR,
            False,
            _(
                "provider_org_number %(value)s is not a valid organisation number. Bought services must carry "
                "the providing organisation's number."
            ),
        ),
        Rule(
            "IDENT-001",
            1,
            ERROR,
            False,
            _("The identity number for %(record)s fails its check (%(problem)s). Correct it in the patient record."),
        ),
        Rule(
            "IDENT-002",
            1,
            ERROR,
            False,
            _(
                "%(record)s is a synthetic test person. Test users must not be reported to production; "
                "remove them, or send test data to the validation address."
            ),
        ),
        Rule(
            "IDENT-003",
            1,
            WARNING,
            False,
            _("%(record)s is a synthetic test person. Accepted because the message is only validated."),
        ),
        Rule(
            "CONTACT-001",
            1,
            WARNING,
            True,
            _(
                "Contact %(name)s (type %(types)s) has no valid e-mail address and Norwegian mobile number: "
                "schema and content feedback cannot be opened. %(problem)s"
            ),
        ),
        Rule(
            "CONTACT-002",
            1,
            WARNING,
            True,
            _("Contact %(name)s has unknown contact types %(types)s; allowed are 1, 2, 3, 4 and 15."),
        ),
    ]
}

# Plain-language descriptions of pydantic's error types, for SCHEMA-001.
SCHEMA_PROBLEMS: dict[str, Promise] = {
    "missing": _("the field is missing"),
    "extra_forbidden": _("unknown field; remove it"),
    "string_type": _("must be text"),
    "int_type": _("must be a whole number"),
    "int_parsing": _("must be a whole number"),
    "bool_type": _("must be true or false"),
    "list_type": _("must be a list"),
    "dict_type": _("must be an object"),
    "model_type": _("must be an object"),
    "model_attributes_type": _("must be an object"),
    "date_type": _("must be a date written YYYY-MM-DD"),
    "date_parsing": _("must be a date written YYYY-MM-DD"),
    "date_from_datetime_parsing": _("must be a date written YYYY-MM-DD"),
    "date_from_datetime_inexact": _("must be a date written YYYY-MM-DD"),
    "uuid_type": _("must be a UUID"),
    "uuid_parsing": _("must be a UUID"),
    "literal_error": _("must be one of %(expected)s"),
    "string_too_short": _("must not be empty"),
    "string_too_long": _("is too long (at most %(max_length)s characters)"),
    "too_short": _("needs at least %(min_length)s entries"),
    "too_long": _("has too many entries (at most %(max_length)s)"),
    "value_error": _("%(error)s"),
    "json_invalid": _("is not valid JSON"),
}


@dataclass
class Findings:
    """Collects findings; messages are rendered in Norwegian whatever the request's language."""

    items: list[dict[str, Any]] = field(default_factory=list)
    limit: int = 1000
    truncated: int = 0
    # Counted past the limit too: intake refuses a record when the error count grows while checking it.
    errors: int = 0
    warnings: int = 0
    rejects: bool = False

    def add(self, rule_id: str, *, record_id: str | None = None, path: str | None = None, **params: Any) -> None:
        rule = RULES[rule_id]
        if rule.severity == ERROR:
            self.errors += 1
            self.rejects = self.rejects or rule.rejects_message
        else:
            self.warnings += 1
        if len(self.items) >= self.limit:
            self.truncated += 1
            return
        # The path is also a placeholder of some texts (SCHEMA-001 names where the schema breaks).
        values = {"path": path or "$", **params}
        with translation.override("nb"):
            message = str(rule.text) % {key: str(value) for key, value in values.items()}
        self.items.append(
            {
                "rule_id": rule.id,
                "rule_version": rule.version,
                "severity": rule.severity,
                "record_id": record_id,
                "path": path,
                "message": message,
            }
        )


def schema_problem(error: dict[str, Any]) -> str:
    template = SCHEMA_PROBLEMS.get(error["type"])
    with translation.override("nb"):
        if template is None:
            return str(error.get("msg", error["type"]))
        context = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
        try:
            return str(template) % context
        except (KeyError, ValueError):
            return str(error.get("msg", error["type"]))
