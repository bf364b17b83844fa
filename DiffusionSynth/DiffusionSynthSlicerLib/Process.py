"""Running ``python -m DiffusionSynthLib.cli ... --progress json`` outside the GUI thread.

:class:`ProcessRunner` starts the command and stops it together with its children; the logic takes
one as an argument (``SynthesisLogic(process_runner=...)``) so another runner can be injected.
:class:`Job` is one running command: a reader thread turns its stderr into :class:`Progress`
records and keeps the ``error: ...`` sentence. Nothing here imports Qt.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Progress:
    """One progress line of the command line (``--progress json``)."""

    step: int
    total: int
    message: str
    elapsed_s: float = 0.0
    remaining_s: float | None = None

    def describe(self) -> str:
        """E.g. ``denoising 3/20 - step 5 of 24, about 1 min 10 s left``."""
        text = f"{self.message} - step {self.step} of {self.total}"
        if self.remaining_s is not None and self.step < self.total:
            text += f", about {format_seconds(self.remaining_s)} left"
        return text


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def parse_progress(line: str) -> Progress | None:
    """The :class:`Progress` in a stderr line, or ``None`` when the line is something else."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
        return Progress(
            int(record["progress"]),
            int(record["total"]),
            str(record.get("message", "")),
            float(record.get("elapsed_s", 0.0)),
            None if record.get("remaining_s") is None else float(record["remaining_s"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def library_root() -> Path:
    """The folder that holds ``DiffusionSynthLib`` (put on the child's ``PYTHONPATH``)."""
    import DiffusionSynthLib

    return Path(DiffusionSynthLib.__file__).resolve().parent.parent


def default_python() -> str:
    """``PythonSlicer`` inside the Slicer application, else this interpreter."""
    slicer = sys.modules.get("slicer")
    if slicer is not None and hasattr(slicer, "app"):
        found = shutil.which("PythonSlicer")
        if found:
            return found
    return sys.executable


class ProcessRunner:
    """Starts the library's command line in a new process group and stops the whole group."""

    def __init__(self, python: str | None = None, grace_s: float = 5.0) -> None:
        self.python = python or default_python()
        self.grace_s = grace_s

    def command(self, cli_args: Sequence[str]) -> list[str]:
        return [self.python, "-m", "DiffusionSynthLib.cli", *cli_args]

    def environment(self) -> dict[str, str]:
        env = os.environ.copy()
        root = str(library_root())
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self, cli_args: Sequence[str], cwd: str | os.PathLike | None = None) -> subprocess.Popen:
        options: dict = (
            {"start_new_session": True}
            if os.name == "posix"
            else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)}
        )
        return subprocess.Popen(
            self.command(cli_args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.environment(),
            cwd=cwd,
            **options,
        )

    def stop(self, process: subprocess.Popen) -> threading.Thread:
        """Ask the process group to stop and return at once; a background thread reaps it.

        SIGTERM first (the CLI exits 130 writing nothing); after ``grace_s`` the reaper sends SIGKILL
        to the group, which also reaches children that outlived their parent. Returns the reaper.
        """
        if os.name == "posix":
            self._signal_group(process, signal.SIGTERM)
        reaper = threading.Thread(target=self._reap, args=(process,), name="DiffusionSynth-reaper")  # not a daemon: exit waits for the kill
        reaper.start()
        return reaper

    def _reap(self, process: subprocess.Popen) -> None:
        if os.name == "posix":
            try:
                process.wait(self.grace_s)
            except subprocess.TimeoutExpired:
                pass
            self._signal_group(process, signal.SIGKILL)
        else:  # Windows: taskkill walks the process tree
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False)
        try:
            process.wait(self.grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(process.pid, sig)  # the child leads its own session, so its group id is its pid
        except (ProcessLookupError, PermissionError):
            pass


class Job:
    """One run of the command line in its own temporary folder, which it removes when done."""

    def __init__(
        self,
        runner: ProcessRunner,
        cli_args: Sequence[str],
        workdir: Path,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.runner, self.cli_args, self.workdir, self.on_progress = runner, list(cli_args), workdir, on_progress
        self.progress: Progress | None = None
        self.error_line: str | None = None
        self.log_tail: deque[str] = deque(maxlen=40)
        self.cancelled = False
        self.context: dict = {}  # what the caller needs to finish the job (request, reference node)
        self.process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.process = self.runner.start(self.cli_args, cwd=self.workdir)
        self._reader = threading.Thread(target=self._read, name="DiffusionSynth-progress", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            progress = parse_progress(line)
            if progress is not None:
                self.progress = progress
                if self.on_progress is not None:
                    try:
                        self.on_progress(progress)
                    except Exception:  # noqa: BLE001 - a display callback must not stop the reader
                        logging.exception("DiffusionSynth progress callback failed")
            elif line.startswith("error: "):
                self.error_line = line[len("error: ") :].strip()
            elif line.strip():
                self.log_tail.append(line.rstrip())
        self.process.wait()  # the output ended: the process and every child that held it have exited
        with self._lock:
            if self.cancelled:
                self.cleanup()

    def done(self) -> bool:
        """The process has ended and its output has been read (``wait`` then returns at once)."""
        reader_done = self._reader is None or not self._reader.is_alive()
        return self.process is not None and self.process.poll() is not None and reader_done

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, once the process has ended and its output has been read."""
        assert self.process is not None
        code = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code

    def error_message(self) -> str:
        """The command's ``error: ...`` sentence, or the end of its log when it crashed without one."""
        if self.error_line:
            return self.error_line
        tail = "\n".join(list(self.log_tail)[-10:])
        return f"The synthesis process failed (exit code {self.process.returncode if self.process else '?'}).\n{tail}".strip()

    def cancel(self) -> None:
        """Stop the process and its children without waiting (from any thread, the GUI's included).

        The temporary folder goes at once when nothing runs, else when the reader thread sees the
        process tree gone (SIGTERM, then SIGKILL after the runner's grace period).
        """
        with self._lock:
            self.cancelled = True
            if self.process is not None and not self.done():  # also children that outlived the process and hold its output
                self.runner.stop(self.process)
            else:
                self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
