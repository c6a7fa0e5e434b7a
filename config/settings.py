"""The daemon's configuration: one TOML file, validated once at start-up.

Unknown keys are refused everywhere.  Secrets are literals or
``{ env = "NAME" }``; any top-level setting can also be overridden by an
environment variable ``SMSPROXY_<SECTION>__<KEY>`` (for example
``SMSPROXY_ADMIN__TOKEN``).  See ``config/example.toml`` for every option.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from config.rules import ClassesSettings, RuleSettings
from config.secret import Secret
from config.state import StateSettings as StateSettings
from config.vendor import VendorSettings
from config.vendor_kinds import VENDOR_SETTINGS
from config.zone import CHINA, TimeZone

if TYPE_CHECKING:
    VendorEntry = VendorSettings
else:
    _kinds = tuple(VENDOR_SETTINGS.values())
    VendorEntry = (
        Annotated[Union[_kinds], Field(discriminator="kind")]  # noqa: UP007
        if len(_kinds) > 1
        else _kinds[0]
    )

_STRICT = ConfigDict(extra="forbid", frozen=True)
HostPort = Annotated[str, Field(pattern=r"^[^\s:]*:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$")]


def _ip_networks(value: Any) -> Any:
    if isinstance(value, list):
        return [ip_network(v, strict=False) if isinstance(v, str) else v for v in value]
    return value


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class ListenSettings(BaseModel):
    model_config = _STRICT
    legacy: HostPort = Field("127.0.0.1:8080", description="the esms100-compatible port")
    admin: HostPort = Field("127.0.0.1:9100", description="/metrics, /healthz, admin API")
    push: HostPort = Field("127.0.0.1:9200", description="vendors' report and reply pushes")
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="load balancers whose PROXY header or X-Forwarded-For names the real client;"
        " empty: the peer address is the client",
    )
    proxy_protocol: bool = Field(
        False,
        description="trusted proxies open each connection with a PROXY header (v1 or v2,"
        " HAProxy's send-proxy / nginx's proxy_protocol); other peers connect plainly",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return _ip_networks(value)


class HttpSettings(BaseModel):
    """Limits on every connection to the legacy, admin and push ports, as bytes arrive."""

    model_config = _STRICT
    max_head_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="request headers beyond this (the request line not counted) answer 431,"
        " then the connection closes",
    )
    head_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="a request's head must arrive within this, else 408"
    )
    body_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="a request's body must arrive within this, else 408"
    )
    keepalive_s: float = Field(
        75.0, gt=0, le=3600, description="an idle keep-alive connection closes after this"
    )
    max_connections: int = Field(
        4096,
        ge=16,
        description="open connections per port; more are answered 503 and closed",
    )


class LoginSettings(BaseModel):
    """Throttling wrong passwords (cppwd, /ent/'s oldpwd) and /ent/'s password rules."""

    model_config = _STRICT
    window_s: float = Field(
        300.0, gt=0, le=86400, description="failures are counted over this, from the first"
    )
    max_failures_per_address: int = Field(
        20,
        ge=1,
        description="failed logins from one address, for any cpid, that lock the address out",
    )
    max_failures_per_client: int = Field(
        100,
        ge=1,
        description="failed logins for one cpid, from anywhere, that lock the cpid out"
        " (not for addresses that logged in to it within a day)",
    )
    lockout_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="how long a lock-out lasts: logins answer -9 (/ent/ -1), unchecked",
    )
    min_password_chars: int = Field(
        8,
        ge=1,
        le=20,
        description="/ent/ refuses shorter new passwords (esms100: 1 to 20; at most 20,"
        " printable ASCII without spaces)",
    )


class LegacySettings(BaseModel):
    model_config = _STRICT
    max_text_chars: int = Field(134, ge=1, le=2000, description="longer text answers -7")
    max_numbers: int = Field(1000, ge=1, le=100_000, description="more numbers answer -8")
    max_body_bytes: int = Field(
        256 * 1024, ge=4096, description="larger requests answer -8 (/ent/: -1)"
    )
    max_sends_in_flight: int = Field(
        400,
        ge=1,
        description="/mt/ requests handled at once; more wait for a turn, given round-robin"
        " across clients",
    )
    max_sends_in_flight_per_client: int = Field(
        100,
        ge=1,
        description="one client's /mt/ requests under way or waiting; more answer -15 at once",
    )
    max_sends_waiting: int = Field(
        2000,
        ge=0,
        description="/mt/ requests waiting for a turn, all clients; more answer -15 at once"
        " (a client with fewer waiting takes the place of the newest of the client with most)",
    )
    timezone: TimeZone = Field(
        CHINA, description="the zone of the times /qreport/ and /mo/ hand to clients"
    )
    unknown_balance_segments: int = Field(
        10_000,
        ge=1,
        description="/qamount/ answers at least this while a vendor whose balance is not known"
        " (sms10000 has no balance query) may take sends",
    )


class RoutingSettings(BaseModel):
    model_config = _STRICT
    send_deadline_s: float = Field(20.0, gt=0, le=300, description="attempts stop after this")
    rate_wait_s: float = Field(2.0, ge=0, description="longest wait for a vendor's rate limit")
    dedup_window_s: float = Field(
        600.0, ge=0, description="a client's resend of the same text within this is not resent"
    )
    unresolved_expire_s: float = Field(
        300.0,
        gt=0,
        description="a recipient a vendor may have (no clear answer, or the daemon died while"
        " sending) and that got no delivery report within this counts as not sent",
    )
    timezone: TimeZone = Field(CHINA, description="for rules' hours")
    balance_interval_override_s: float | None = Field(
        None, gt=0, description="simulators only: check every vendor's balance this often"
    )

    @model_validator(mode="after")
    def _expiry_outlasts_a_send(self) -> RoutingSettings:
        # A recipient still in flight at another daemon must not count as
        # expired: that daemon's send may yet reach the vendor.
        if self.unresolved_expire_s < self.send_deadline_s:
            raise ValueError(
                f"unresolved_expire_s ({self.unresolved_expire_s:g}) must be at least"
                f" send_deadline_s ({self.send_deadline_s:g})"
            )
        return self


class AdminSettings(BaseModel):
    model_config = _STRICT
    token: Secret | None = Field(
        None, description="bearer token for the admin API; none: the API is off"
    )


class ShutdownSettings(BaseModel):
    model_config = _STRICT
    grace_s: float = Field(10.0, ge=0, le=600, description="time in-flight sends get on SIGTERM")


class ReportsSettings(BaseModel):
    """Delivery reports and replies on their way back to the legacy clients."""

    model_config = _STRICT
    default_client: str | None = Field(
        None, description="gets replies from numbers no client sent to; none: kept unmatched"
    )
    retention_days: float = Field(
        7.0, gt=0, le=3650, description="send records, reports and replies older are purged"
    )
    unmatched_retry_s: float = Field(
        60.0, ge=0, le=86400, description="how long a report without its send record is retried"
    )
    reply_part_wait_s: float = Field(
        60.0, ge=0, le=86400, description="wait for the parts of a long reply, then deliver"
    )
    poll_interval_override_s: float | None = Field(
        None, gt=0, description="simulators only: poll every vendor this often"
    )
    spool_path: Path | None = Field(
        None,
        description="poll answers wait here, raw, until stored; none: beside state.path"
        " (state.path + '.polls')",
    )


class ClientSettings(BaseModel):
    model_config = _STRICT
    cpid: str = Field(min_length=1, max_length=64, pattern=r"^[^\s,&=]+$")
    password: Secret
    allowed_ips: list[IPv4Network | IPv6Network] = Field(
        default_factory=list, description="addresses allowed to call; empty: any"
    )
    rate_per_s: float = Field(
        10.0,
        gt=0,
        allow_inf_nan=False,
        description="requests in any one-second window (all daemons, in Redis mode); more: -15",
    )
    quota: int | None = Field(None, ge=0, description="segments it may send; none: unlimited")

    @field_validator("allowed_ips", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return _ip_networks(value)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="SMSPROXY_", env_nested_delimiter="__"
    )

    listen: ListenSettings = ListenSettings()
    http: HttpSettings = HttpSettings()
    login: LoginSettings = LoginSettings()
    state: StateSettings = StateSettings()
    legacy: LegacySettings = LegacySettings()
    routing: RoutingSettings = RoutingSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    admin: AdminSettings = AdminSettings()
    reports: ReportsSettings = ReportsSettings()
    clients: list[ClientSettings] = Field(default_factory=list)
    vendors: list[VendorEntry] = Field(default_factory=list)
    classes: ClassesSettings = ClassesSettings()
    rules: list[RuleSettings] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init arguments; the environment overrides it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for label, names in (
            ("clients", [c.cpid for c in self.clients]),
            ("vendors", [v.name for v in self.vendors]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{label}: the name {name!r} is used twice")
                seen.add(name)
        self._check_rules()
        return self

    def _check_rules(self) -> None:
        vendors = {v.name for v in self.vendors}
        clients = {c.cpid for c in self.clients}
        for cpid in self.classes.by_client:
            if cpid not in clients:
                raise ValueError(f"classes.by_client: unknown client {cpid!r}")
        names: set[str] = set()
        matches: dict[str, str] = {}
        catch_all: str | None = None
        for i, rule in enumerate(self.rules):
            where = f"rules[{i}]"
            if rule.name in names:
                raise ValueError(f"{where}.name: the name {rule.name!r} is used twice")
            names.add(rule.name)
            if catch_all is not None:
                raise ValueError(
                    f"{where}: rule {rule.name!r} can never match: "
                    f"the catch-all rule {catch_all!r} before it takes everything"
                )
            unknown = [v for v in rule.vendors if v not in vendors]
            if unknown:
                raise ValueError(f"{where}.vendors: unknown vendor {', '.join(map(repr, unknown))}")
            if not any(v.enabled for v in self.vendors if v.name in rule.vendors):
                raise ValueError(f"{where}.vendors: every vendor of this rule is disabled")
            for cpid in rule.match.clients or []:
                if cpid not in clients:
                    raise ValueError(f"{where}.match.clients: unknown client {cpid!r}")
            key = rule.match.model_dump_json()
            if key in matches:
                raise ValueError(
                    f"{where}: rule {rule.name!r} matches exactly what rule "
                    f"{matches[key]!r} matches, so it can never be used"
                )
            matches[key] = rule.name
            if rule.match.is_catch_all:
                catch_all = rule.name

    def effective_rules(self) -> list[RuleSettings]:
        """The configured rules, ending in a catch-all: all enabled vendors, cheapest first."""
        if self.rules and self.rules[-1].match.is_catch_all:
            return list(self.rules)
        enabled = [v.name for v in self.vendors if v.enabled]
        if not enabled:
            return list(self.rules)
        return [*self.rules, RuleSettings(name="default", vendors=enabled)]

    @model_validator(mode="after")
    def _check_state(self) -> Settings:
        if self.state.engine == "redis" and self.state.redis_target() is None:
            raise ValueError(
                'state.redis_url: required when state.engine is "redis" (or state.redis_sentinels)'
            )
        return self

    @model_validator(mode="after")
    def _check_reports(self) -> Settings:
        default = self.reports.default_client
        if default is not None and default not in {c.cpid for c in self.clients}:
            raise ValueError(f"reports.default_client: unknown client {default!r}")
        return self
