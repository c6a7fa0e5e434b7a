"""The settings every vendor shares; each adapter extends them with its credentials."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from config.zone import CHINA, TimeZone


class VendorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="unique vendor name")
    base_url: HttpUrl
    price_per_segment: float = Field(ge=0, description="money per segment, in yuan")
    rate_per_s: float = Field(default=10.0, gt=0, description="requests per second we allow")
    connect_timeout_s: float = Field(
        default=3.0, gt=0, description="connecting, within timeout_s: never adds to it"
    )
    timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "the whole exchange: waiting for a connection, connecting, sending and the answer;"
            " what a hung vendor costs"
        ),
    )
    enabled: bool = True
    timezone: TimeZone = Field(
        CHINA, description="the vendor's clock: its report and reply times carry no zone"
    )
    max_numbers: int | None = Field(
        default=None, ge=1, description="fewer numbers per request than the vendor's own cap"
    )
    # How the 【signature】 reaches the phone: "as_is" sends the text as the
    # client wrote it; "add" prefixes `signature` unless the text already
    # starts with one; "vendor" means the vendor adds it and a client's own
    # leading signature is removed (it would show twice); "required" skips the
    # vendor for text without one.
    signature: Literal["as_is", "add", "vendor", "required"] = "as_is"
    signature_text: str | None = Field(default=None, pattern=r"^【[^【】]{1,20}】$")

    @model_validator(mode="after")
    def _signature_text_for_add(self) -> VendorSettings:
        if self.signature == "add" and self.signature_text is None:
            raise ValueError('signature = "add" needs signature_text, e.g. "【ACME】"')
        return self

    @property
    def base(self) -> str:
        return str(self.base_url).rstrip("/")
