"""The browser front end's own entry point: ``diffusionsynth-serve`` (``python -m DiffusionSynthWeb``).

``diffusionsynth serve`` in the library's command line starts this program in its place (the library imports nothing
of the web). A refused option is one ``error: ...`` line and exit 2, as in the library's command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from DiffusionSynthLib.errors import InputError


def build_parser(prog: str = "diffusionsynth-serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="DiffusionSynth in a web browser: views, segment editor and every task.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--data", help="folder of volumes (NIfTI, NRRD, MHA) to load and show at start; *seg*/*mask*/*label* files become segmentations")
    parser.add_argument("--token", help="login token (at least 32 of A-Z a-z 0-9 - _; default: $DIFFUSIONSYNTH_TOKEN, else a new random one at every start)")
    parser.add_argument("--models-dir", action="append", metavar="DIR", help="a model package, or a folder of them, that the page may offer (repeatable)")
    return parser


def checked_token(args: argparse.Namespace) -> str:
    """The options checked before anything heavy is imported; the login token to use."""
    from . import missing_requirements

    missing = missing_requirements()
    if missing:
        raise InputError(
            f"'diffusionsynth serve' needs the web extra ({', '.join(missing)} not installed); install it with: pip install \"DiffusionSynth[web]\""
        )
    if args.data is not None and not Path(args.data).is_dir():
        raise InputError(f"--data '{args.data}' is not a folder; give the folder that holds the volumes to show.")
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} is not a port number (0 to 65535).")
    for folder in args.models_dir or ():
        if not Path(folder).is_dir():
            raise InputError(f"--models-dir '{folder}' is not a folder; give a model package or a folder of packages.")
    from .access import new_token, token_problem

    token = args.token or os.environ.get("DIFFUSIONSYNTH_TOKEN") or new_token()
    problem = token_problem(token)
    if problem:
        raise InputError(problem)
    return token


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        token = checked_token(args)
        from .server import serve

        return serve(args.host, args.port, args.data, token=token, models_dirs=args.models_dir or ())
    except InputError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
