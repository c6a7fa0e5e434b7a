"""Routing rules as the operator writes them: ordered, first match wins.

A rule with no ``match`` is a catch-all; one must come last (smsproxy adds
``all vendors, cheapest first`` when none is configured).  Cross-checks
against the vendors and clients happen in :class:`config.settings.Settings`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_STRICT = ConfigDict(extra="forbid", frozen=True)

MessageClass = Literal["verification", "notice", "marketing"]
CarrierName = Literal["mobile", "unicom", "telecom", "broadnet"]
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_hours(value: str) -> tuple[int, int]:
    """``"08:00-21:30"`` as minutes of the day (start, end); end may be before start."""
    m = _HOURS.match(value)
    if m is None:
        raise ValueError('hours must look like "08:00-21:30"')
    start = int(m[1]) * 60 + int(m[2])
    end = int(m[3]) * 60 + int(m[4])
    if start == end or end > 24 * 60:
        raise ValueError("hours must span some time within one day")
    return start, end


class RuleMatch(BaseModel):
    model_config = _STRICT
    clients: list[str] | None = Field(None, min_length=1)
    prefixes: list[str] | None = Field(None, min_length=1)
    carriers: list[CarrierName] | None = Field(None, min_length=1)
    classes: list[MessageClass] | None = Field(None, min_length=1)
    hours: str | None = Field(None, description="local time window, may wrap midnight")
    min_recipients: int | None = Field(None, ge=1)
    max_recipients: int | None = Field(None, ge=1)

    @field_validator("prefixes")
    @classmethod
    def _digits(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(p.isdigit() and 1 <= len(p) <= 11 for p in value):
            raise ValueError("prefixes are 1 to 11 digits of a mobile number, like 138 or 1390")
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)
        return value

    @model_validator(mode="after")
    def _range(self) -> RuleMatch:
        lo, hi = self.min_recipients, self.max_recipients
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("min_recipients is larger than max_recipients")
        return self

    @property
    def is_catch_all(self) -> bool:
        return all(getattr(self, f) is None for f in type(self).model_fields)


class RuleSettings(BaseModel):
    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    match: RuleMatch = RuleMatch()
    vendors: list[str] = Field(min_length=1, description="candidate vendors")
    strategy: Literal["cheapest", "priority", "weighted"] = "cheapest"
    weights: dict[str, float] = Field(default_factory=dict)
    # Sensitive-word lists differ between vendors, so by default another may take it.
    content_rejected: Literal["fail_over", "stop"] = "fail_over"
    # at_least_once resends after an ambiguous outcome: no SMS lost, a duplicate possible.
    ambiguous: Literal["at_most_once", "at_least_once"] = "at_most_once"

    @model_validator(mode="after")
    def _weights(self) -> RuleSettings:
        if len(set(self.vendors)) != len(self.vendors):
            raise ValueError("a vendor is listed twice in vendors")
        if self.strategy == "weighted":
            missing = [v for v in self.vendors if v not in self.weights]
            if missing:
                raise ValueError(f"weighted strategy needs weights for {', '.join(missing)}")
        stray = [v for v in self.weights if v not in self.vendors]
        if stray:
            raise ValueError(f"weights name vendors not in this rule: {', '.join(stray)}")
        if any(w <= 0 for w in self.weights.values()):
            raise ValueError("weights must be positive")
        return self


class ClassesSettings(BaseModel):
    """How a message's class is told: a client's fixed class, else keywords, else notice."""

    model_config = _STRICT
    verification: list[str] = Field(
        default_factory=lambda: ["验证码", "校验码", "动态码", "动态密码", "verification code"]
    )
    marketing: list[str] = Field(
        default_factory=lambda: ["退订", "回T", "回TD", "优惠", "促销", "unsubscribe"]
    )
    by_client: dict[str, MessageClass] = Field(default_factory=dict)
