"""Token login for ``diffusionsynth serve``, as Jupyter does it: one secret per start, or ``--token``.

Every HTTP request (page, static files, websocket) must carry the token: ``?token=...`` in the URL,
an ``Authorization: token ...`` header, or the cookie set on the first request that had it
(HttpOnly, SameSite=Strict). Anything else gets 401 before it reaches trame; a websocket is refused
before its handshake. Comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

TOKEN_MIN_LENGTH = 32
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9_-]+")  # URL-safe: goes into a URL and a cookie as is
COOKIE_PREFIX = "diffusionsynth-token"
REFUSED = "DiffusionSynth: this server needs its login token. Open the address with ?token=... that 'diffusionsynth serve' printed when it started.\n"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    """43 random URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a login token (a sentence), or ``None`` when it can."""
    if len(token) < TOKEN_MIN_LENGTH:
        return (
            f"The token (--token or $DIFFUSIONSYNTH_TOKEN) must be at least {TOKEN_MIN_LENGTH} characters (it has {len(token)}); leave it out for a random one."
        )
    if not TOKEN_CHARACTERS.fullmatch(token):
        return "The token may hold only letters, digits, '-' and '_' (it goes into a URL and a cookie)."
    return None


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def same_origin(request: web.Request) -> bool:
    """No ``Origin`` header (not a browser), or one naming this very host and port."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc.lower() == request.host.lower()


class TokenGate:
    """The aiohttp middleware that lets in only requests with ``token``; ``install`` puts it on wslink's app."""

    def __init__(self, token: str) -> None:
        problem = token_problem(token)
        if problem:
            raise ValueError(problem)
        self.token = token
        self._secret = token.encode()
        self.installed = False

    def matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self._secret)

    @staticmethod
    def cookie_name(request: web.Request) -> str:
        """One cookie per listening port: two servers on one host do not overwrite each other's."""
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        return f"{COOKIE_PREFIX}-{sockname[1]}" if isinstance(sockname, tuple) and len(sockname) > 1 else COOKIE_PREFIX

    def explicit_token(self, request: web.Request) -> str | None:
        """The token the request names itself (URL or header), as opposed to the browser's cookie."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "token" and value.strip():
            return value.strip()
        return request.query.get("token")

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
            explicit = self.matches(self.explicit_token(request))
            from_cookie = not explicit and self.matches(request.cookies.get(self.cookie_name(request)))
            if not (explicit or from_cookie):
                raise web.HTTPUnauthorized(text=REFUSED, headers={"WWW-Authenticate": 'Token realm="DiffusionSynth"'})
            if from_cookie and is_websocket(request) and not same_origin(request):
                raise web.HTTPForbidden(text="DiffusionSynth: a websocket from another site is refused.\n")
            if not explicit or is_websocket(request):
                return await handler(request)
            try:
                response = await handler(request)
            except web.HTTPException as answer:  # a redirect ('/' -> index.html) keeps the login too
                self._set_cookie(request, answer)
                raise
            self._set_cookie(request, response)
            return response

        return require_token

    def _set_cookie(self, request: web.Request, response: web.StreamResponse) -> None:
        if not response.prepared:
            response.set_cookie(self.cookie_name(request), self.token, httponly=True, samesite="Strict", path="/")

    def install(self, wslink_server) -> None:
        """``on_server_bind`` hook: wslink's aiohttp app gets the middleware before it starts."""
        app = getattr(wslink_server, "app", None)
        if not isinstance(app, web.Application):
            raise TypeError("diffusionsynth serve needs wslink's aiohttp backend to check its login token.")
        app.middlewares.append(self.middleware())
        self.installed = True
