"""What a softphone needs to sign in (thông tin đăng nhập), built in one place."""

from dataclasses import asdict, dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from .models import Extension


@dataclass(frozen=True)
class LoginInfo:
    username: str
    password: str
    domain: str
    sip_uri: str
    display_name: str
    proxy: str
    transports: list[str]
    websocket_url: str

    def as_dict(self) -> dict:
        return asdict(self)

    def as_text(self) -> str:
        """One block to paste into a chat message."""
        transports = ", ".join(t.upper() for t in self.transports)
        return "\n".join(
            [
                f"{_('Domain / realm')}: {self.domain}",
                f"{_('Username')}: {self.username}",
                f"{_('Password')}: {self.password}",
                f"{_('SIP URI')}: {self.sip_uri}",
                f"{_('Display name')}: {self.display_name}",
                f"{_('Outbound proxy')}: {self.proxy} ({transports})",
                f"{_('WebSocket URL')}: {self.websocket_url}",
            ]
        )


@sensitive_variables()
def login_info(extension: Extension, password: str) -> LoginInfo:
    domain = extension.hotline.sip_domain
    return LoginInfo(
        username=extension.number,
        password=password,
        domain=domain,
        sip_uri=f"sip:{extension.number}@{domain}",
        display_name=extension.alias,
        proxy=settings.SIP_OUTBOUND_PROXY,
        transports=list(settings.SIP_TRANSPORTS),
        websocket_url=settings.SIP_WEBSOCKET_URL,
    )
