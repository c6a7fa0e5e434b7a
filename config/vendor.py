"""The settings every vendor shares; each kind adds its own in :mod:`config.vendor_kinds`."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from config.egress import EgressProxy, parse_proxy_url
from config.secret import Secret
from config.zone import CHINA, TimeZone

# URL-safe without escaping, so the path segment a vendor sends is the
# token byte for byte; 16 characters is 96 bits of secrets.token_urlsafe.
_PUSH_TOKEN = re.compile(r"[A-Za-z0-9_.~-]{16,128}")


class VendorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="unique vendor name")
    base_url: HttpUrl
    price_per_segment: float = Field(ge=0, description="money per segment, in yuan")
    rate_per_s: float = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="requests in any one-second window (all daemons, in Redis mode)",
    )
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
    # Who may push reports and replies to /push/<name>: both, when both are
    # set.  A vendor whose pushes carry no secret of their own has its pushes
    # refused until one of them is set (see proxy.ingest.push_auth).
    push_allowed_ips: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="addresses the vendor pushes from; empty: any (then the token must do)",
    )
    push_token: Secret | None = Field(
        default=None,
        description="secret path segment: register http://<push address>/push/<name>/<token>",
    )
    # A secret: the URL may carry the proxy's user:password@.
    proxy_url: Secret | None = Field(
        default=None,
        description=(
            "http://[user:password@]host:port: this vendor's calls go through it"
            " (https in a CONNECT tunnel)"
        ),
    )
    use_env_proxy: bool = Field(
        default=True,
        description=(
            "without proxy_url, HTTPS_PROXY/HTTP_PROXY apply (less NO_PROXY);"
            " false: this vendor is called directly"
        ),
    )

    # What the vendor's pushes are, for the push receiver.  A kind that
    # pushes says so; one whose pushes carry a secret (a password we
    # configured with the vendor) says when it is configured.
    pushes: ClassVar[bool] = False
    push_secret_options: ClassVar[tuple[str, ...]] = ()  # what to set for push_secret_configured

    @property
    def push_secret_configured(self) -> bool:
        return False

    @field_validator("push_allowed_ips", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [ip_network(v, strict=False) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("push_token")
    @classmethod
    def _token_shape(cls, value: Any) -> Any:
        # The message names the rule, never the value.
        if value is not None and not _PUSH_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "push_token must be 16 to 128 of A-Z a-z 0-9 _ . ~ -"
                " (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _no_user_info(cls, value: HttpUrl) -> HttpUrl:
        # The message never echoes the URL: it would show the password.
        if value.username or value.password:
            raise ValueError(
                "must not carry a user name or password (user:password@ before the host):"
                " give the vendor's credentials in its own options"
            )
        return value

    @field_validator("proxy_url")
    @classmethod
    def _proxy_form(cls, value: Any) -> Any:
        if value is not None:
            parse_proxy_url(value.get_secret_value())  # its error never quotes the URL
        return value

    @model_validator(mode="after")
    def _signature_text_for_add(self) -> VendorSettings:
        if self.signature == "add" and self.signature_text is None:
            raise ValueError('signature = "add" needs signature_text, e.g. "【ACME】"')
        return self

    @property
    def base(self) -> str:
        return str(self.base_url).rstrip("/")

    @property
    def egress_proxy(self) -> EgressProxy | None:
        """The vendor's own proxy; None leaves it to the environment (see use_env_proxy)."""
        if self.proxy_url is None:
            return None
        return parse_proxy_url(self.proxy_url.get_secret_value())
