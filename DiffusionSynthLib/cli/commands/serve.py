"""``diffusionsynth serve``: the browser front end: views, segment editor and every task (needs the web extra)."""

from __future__ import annotations

import argparse
import os
import sys

from ...errors import InputError


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the browser front end (``DiffusionSynthWeb``, the ``web`` extra) in this process's place: the library
    imports nothing of the web; the front end's own entry point checks the options and serves."""
    import importlib.util

    if importlib.util.find_spec("DiffusionSynthWeb") is None:
        raise InputError("'diffusionsynth serve' needs the web extra (DiffusionSynthWeb not installed); install it with: pip install \"DiffusionSynth[web]\"")
    argv = [sys.executable, "-m", "DiffusionSynthWeb", "--host", args.host, "--port", str(args.port)]
    argv += ["--data", args.data] if args.data is not None else []
    argv += [item for folder in args.models_dir or () for item in ("--models-dir", folder)]
    if args.token:  # through the environment: a command line is visible to every user of the machine
        os.environ["DIFFUSIONSYNTH_TOKEN"] = args.token
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached: the front end replaced this process


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the browser front end: views, segment editor and every task (needs the web extra)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--data", help="folder of volumes (NIfTI, NRRD, MHA) to load and show at start; *seg*/*mask*/*label* files become segmentations")
    p.add_argument("--token", help="login token (at least 32 of A-Z a-z 0-9 - _; default: $DIFFUSIONSYNTH_TOKEN, else a new random one at every start)")
    p.add_argument("--models-dir", action="append", metavar="DIR", help="a model package, or a folder of them, that the page may offer (repeatable)")
    p.set_defaults(run=cmd_serve)
