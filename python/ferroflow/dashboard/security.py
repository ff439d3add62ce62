"""The dashboard's security rules: bind check, Host allow-list, Origin check, token, headers.

See docs/dashboard.md: on a non-loopback address a token is required; a browser
presents it once as ``?token=`` and gets an HttpOnly SameSite=Strict cookie;
scripts send ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import FerroflowError

__all__ = ["COOKIE", "CSP", "Guard", "check_bind", "is_loopback", "secure_headers"]

COOKIE = "ferroflow_dashboard"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token.

    Raises:
        FerroflowError: ``host`` is not a loopback address and no token is set.
    """
    if not is_loopback(host) and not token:
        raise FerroflowError(
            f"the dashboard binds {host}, which other machines can reach: a token is needed "
            "(pass --token TOKEN, or token=... from Python), or bind 127.0.0.1"
        )


def secure_headers(response: Response) -> Response:
    """Add the strict CSP and the other headers every answer carries."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _host_name(value: str) -> str:
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _refuse(status: int, message: str) -> Response:
    return secure_headers(JSONResponse({"error": message}, status_code=status))


@dataclass
class Guard:
    """Checks one request against the rules; ``None`` means it may go on.

    Attributes:
        token: The token, or ``None`` for none (loopback only).
        allowed_hosts: Host names accepted in the ``Host`` header (DNS rebinding).
    """

    token: str | None = None
    allowed_hosts: set[str] = field(default_factory=lambda: set(_LOOPBACK_NAMES))

    def allow_host(self, host: str) -> None:
        """Also accept ``host`` (e.g. the address the server binds)."""
        if host not in ("0.0.0.0", "::", ""):
            self.allowed_hosts.add(host.strip("[]"))

    def _token_ok(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def check(self, request: Request, *, public: bool = False, base: str = "") -> Response | None:
        """The refusal for ``request``, or ``None`` when it passes.

        Args:
            request: The request.
            public: The endpoint answers without the token (``/health``).
            base: The URL prefix the dashboard is served under (for the cookie path).
        """
        host = _host_name(request.headers.get("host", ""))
        if "*" not in self.allowed_hosts and host not in self.allowed_hosts:
            return _refuse(400, f"Host header {host!r} is not allowed (DNS rebinding protection)")
        if public:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            bearer = request.headers.get("authorization", "").startswith("Bearer ")
            if origin is None and not bearer:
                return _refuse(403, "state-changing request without an Origin header")
            if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
                return _refuse(403, f"Origin {origin!r} does not match this dashboard")
        if self.token is None:
            return None
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and self._token_ok(auth[7:].strip()):
            return None
        if self._token_ok(request.cookies.get(COOKIE)):
            return None
        query_token = request.query_params.get("token")
        if query_token is not None and request.method == "GET" and self._token_ok(query_token):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                COOKIE, self.token, httponly=True, samesite="strict", path=(base or "") + "/", secure=False
            )
            return secure_headers(response)
        return _refuse(401, "a token is needed: open the dashboard with ?token=TOKEN or send Authorization: Bearer")
