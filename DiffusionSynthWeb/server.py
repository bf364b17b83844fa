"""``diffusionsynth serve``: start the web app on one address and port, behind its login token."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from .access import TokenGate


def configure_rendering() -> None:
    """Off-screen rendering without an X server: EGL (a GPU, or Mesa's software rasteriser)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def page_urls(host: str, port: int, token: str) -> list[str]:
    """The addresses to open: this computer's, and the network name when listening on every interface."""

    def url(name: str) -> str:
        name = f"[{name}]" if ":" in name else name
        return f"http://{name}:{port}/?token={token}"

    if host in ("0.0.0.0", "::", ""):
        return [url("127.0.0.1"), url(socket.gethostname())]
    return [url(host)]


def announce(host: str, port: int, token: str) -> None:
    """What ``serve`` prints once it listens: the address with its token (like Jupyter)."""
    lines = "\n".join(f"    {address}" for address in page_urls(host, port, token))
    print(f"\nDiffusionSynth is running. Open this address in a browser (it holds the login token):\n{lines}\n", flush=True)
    if not is_loopback(host):
        print(
            "note: plain HTTP beyond this computer: the token and the images cross the network unencrypted; prefer an SSH tunnel.", file=sys.stderr, flush=True
        )


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    data: str | Path | None = None,
    token: str = "",
    models_dirs: Sequence[str | Path] = (),
) -> int:
    """Serve until interrupted; the volumes in ``data`` (a folder) are loaded first; every request needs ``token``."""
    gate = TokenGate(token)
    configure_rendering()
    sys.argv = sys.argv[:1]  # trame reads its own options from sys.argv; ours are parsed already
    from trame.app import get_server

    from .app import DiffusionSynthApp
    from .model_choices import ModelChoices

    server = get_server("DiffusionSynth", client_type="vue3")
    server.controller.on_server_bind.add(gate.install)
    server.controller.on_server_ready.add(lambda **_: announce(host, server.port, token))
    app = DiffusionSynthApp(server, models=ModelChoices(models_dirs))
    if data is not None:
        app.load_folder(data)
    try:
        server.start(host=host, port=port, open_browser=False, timeout=0, show_connection_info=False, backend="aiohttp")
    finally:
        app.shutdown()
    return 0
