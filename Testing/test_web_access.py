"""``diffusionsynth serve``'s login token, checked over plain HTTP against a real server process.

No request reaches the page, its files or its websocket without the token printed at start; the
first request with it sets an HttpOnly, SameSite=Strict cookie that serves the later ones. The
same holds when the server listens on every interface (``--host 0.0.0.0``), reached by a
non-loopback address of this machine.
"""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.error
import urllib.request

import pytest

from DiffusionSynthWeb.cli import main as serve_main

from web_browser import serve

pytest.importorskip("trame_slicer", reason="the web extra is not installed (pip install -e '.[web]')")
aiohttp = pytest.importorskip("aiohttp")


def get(url: str, cookie: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """One GET, redirects not followed: (status, headers, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_args, **_kwargs):
            return None

    request = urllib.request.Request(url, headers={**({"Cookie": cookie} if cookie else {}), **(headers or {})})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def websocket_status(url: str, cookie: str | None = None, origin: str | None = None) -> int:
    """101 when the websocket opens (then closed by us), else the HTTP status that refused it."""

    async def connect() -> int:
        headers = {**({"Cookie": cookie} if cookie else {}), **({"Origin": origin} if origin else {})}
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers=headers, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                    assert not ws.closed
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    return asyncio.run(connect())


def cookie_from(headers: dict) -> tuple[str, str]:
    """The ``name=value`` pair of the login cookie, and its full Set-Cookie line."""
    line = headers.get("Set-Cookie", "")
    return line.split(";", 1)[0], line


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("served") / "server.log") as running:
        yield running


def test_the_printed_token_is_long_and_url_safe(served):
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", served.token)
    assert served.url == f"http://127.0.0.1:{served.port}/?token={served.token}"


def test_the_page_and_its_files_need_the_token(served):
    base = served.base
    for url in (base, base + "index.html", base + "index.html?token=wrong" + served.token[5:], base + "no-such-file"):
        status, _, body = get(url)
        assert status == 401, url
        assert served.token.encode() not in body

    status, headers, page = get(base + "index.html?token=" + served.token)
    assert status == 200 and b"<html" in page.lower()
    cookie, line = cookie_from(headers)
    assert cookie == f"diffusionsynth-token-{served.port}={served.token}"
    assert "HttpOnly" in line and "SameSite=Strict" in line and "Path=/" in line

    status, headers, _ = get(base + "?token=" + served.token)  # '/' redirects to the page and keeps the login
    assert status == 302 and cookie_from(headers)[0] == cookie

    status, _, again = get(base + "index.html", cookie=cookie)
    assert status == 200 and again == page
    status, _, _ = get(base + "index.html", cookie=cookie.split("=")[0] + "=" + "x" * len(served.token))
    assert status == 401
    status, _, _ = get(base + "index.html", headers={"Authorization": f"token {served.token}"})
    assert status == 200

    asset = re.search(rb'(?:src|href)="([^"?#]+\.(?:js|css))"', page)
    assert asset, "the page names no script or style sheet"
    asset_url = base + asset.group(1).decode().lstrip("./")
    assert get(asset_url)[0] == 401
    assert get(asset_url, cookie=cookie)[0] == 200


def test_the_websocket_needs_the_token(served):
    ws = served.base.replace("http://", "ws://") + "ws"
    cookie = f"diffusionsynth-token-{served.port}={served.token}"
    assert websocket_status(ws) == 401
    assert websocket_status(ws + "?token=not-the-token") == 401
    assert websocket_status(ws + "?token=" + served.token) == 101
    assert websocket_status(ws, cookie=cookie) == 101
    assert websocket_status(ws, cookie=cookie, origin=served.base.rstrip("/")) == 101
    assert websocket_status(ws, cookie=cookie, origin="http://evil.example") == 403  # another site's page riding the cookie


def outward_address() -> str | None:
    """A non-loopback address of this machine (no packet is sent), or ``None``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_on_every_interface_a_given_token_guards_the_page_and_the_websocket(tmp_path):
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    token = "given-" + "t" * 40
    with serve(tmp_path / "server.log", host="0.0.0.0", extra=("--token", token)) as running:
        assert running.token == token
        log = (tmp_path / "server.log").read_text()
        assert "plain HTTP" in log  # the warning for a server reachable beyond this computer
        base = f"http://{address}:{running.port}/"
        assert get(base + "index.html")[0] == 401
        assert get(base + "index.html?token=" + token)[0] == 200
        ws = base.replace("http://", "ws://") + "ws"
        assert websocket_status(ws) == 401
        assert websocket_status(ws + "?token=" + token) == 101


@pytest.mark.parametrize("token", ["short", "x" * 31, "y" * 40 + "/", "z" * 40 + " "])
def test_a_weak_or_unsafe_token_is_one_error_line(token, capsys):
    assert serve_main(["--token", token]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "token" in err[0]


def test_a_short_token_from_the_environment_is_refused_too(monkeypatch, capsys):
    monkeypatch.setenv("DIFFUSIONSYNTH_TOKEN", "too-short")
    assert serve_main([]) == 2
    assert "at least 32 characters" in capsys.readouterr().err
