"""Each vendor kind's options: what the config file says of a vendor of that kind.

Here, not beside each adapter, so that the configuration is read and checked
without importing any adapter or simulator.  A new kind adds its settings
class and one line in :data:`VENDOR_SETTINGS`, then its adapter in
:mod:`adapters.registry` and its simulator in :mod:`adapters.simulators`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from config.secret import Secret
from config.vendor import VendorSettings

C123_AC_PATTERN = r"^[^@\s]+@[^@\s]+$"  # c123's account: staff number @ enterprise number


class Esms100Settings(VendorSettings):
    kind: Literal["esms100"]
    cpid: str
    password: Secret


class SmscnSettings(VendorSettings):
    pushes: ClassVar[bool] = True  # replies (6.2), with no secret in them

    kind: Literal["smscn"]
    uid: str
    password: Secret
    mid: str | None = None  # sub-extension number, if the account has one


class ChuanglanSettings(VendorSettings):
    kind: Literal["chuanglan"]
    account: str = Field(min_length=1)
    password: Secret
    product: str | None = Field(default=None, pattern=r"^\S+$")
    extno: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    report_receiver: str | None = None  # what the vendor sends as ``receiver`` on a push
    report_password: Secret | None = None  # and as ``pswd``

    pushes: ClassVar[bool] = True
    push_secret_options: ClassVar[tuple[str, ...]] = ("report_password",)

    @property
    def push_secret_configured(self) -> bool:
        return bool(self.report_password and self.report_password.get_secret_value())


class C123Settings(VendorSettings):
    kind: Literal["c123"]
    ac: str = Field(pattern=C123_AC_PATTERN, description="account: staff number@enterprise number")
    authkey: Secret
    cgid: str = Field(min_length=1, description="channel group number")
    csid: str | None = Field(default=None, description="approved signature number")


class Sms10000Settings(VendorSettings):
    pushes: ClassVar[bool] = True  # reports and replies, with no secret in them

    kind: Literal["sms10000"]
    epr_id: int
    user_id: str
    password: Secret


# Kind name -> its settings; the config's vendors are a union discriminated by ``kind``.
VENDOR_SETTINGS: dict[str, type[VendorSettings]] = {
    "esms100": Esms100Settings,
    "smscn": SmscnSettings,
    "chuanglan": ChuanglanSettings,
    "c123": C123Settings,
    "sms10000": Sms10000Settings,
}
