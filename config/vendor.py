"""The settings every vendor shares; each adapter extends them with its credentials."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class VendorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="unique vendor name")
    base_url: HttpUrl
    price_per_segment: float = Field(ge=0, description="money per segment, in yuan")
    rate_per_s: float = Field(default=10.0, gt=0, description="requests per second we allow")
    connect_timeout_s: float = Field(default=3.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0, description="whole request, after connecting")
    enabled: bool = True

    @property
    def base(self) -> str:
        return str(self.base_url).rstrip("/")
