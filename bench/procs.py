"""Server processes: start in their own process group, pin, measure CPU over the tree, stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from bench.scenarios import http_request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pin_prefix(core: int | None) -> list[str]:
    """``taskset -c CORE`` as a command prefix, or nothing when not pinning."""
    if core is None:
        return []
    taskset = shutil.which("taskset")
    if taskset is None:
        return []
    return [taskset, "-c", str(core)]


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, CPU ticks: utime+stime+cutime+cstime) of one process, None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (comm) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime + stime + cutime + cstime


def _start_time(pid: int) -> int | None:
    """Field 22 (start time in ticks since boot): tells a process from a later one with its pid."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(data[data.rindex(b")") + 2 :].split()[19])


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is not None:
            children.setdefault(st[0], []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """User+system CPU of ``root`` and all its descendants (live ones, plus reaped children's)."""
    ticks = 0
    for pid in process_tree(root):
        st = _stat(pid)
        if st is not None:
            ticks += st[1]
    return ticks / CLK_TCK


class ServerProcess:
    """A server started in its own session (process group), stopped with its whole group."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        base_url: str,
        ready_path: str,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.base_url = base_url
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout_s: float) -> None:
        """Poll ``ready_path`` until it answers 200; raise if the process dies or time runs out."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.name} exited with {code} before it was ready; its log:\n"
                    + self.log_tail()
                )
            try:
                status, body = http_request("GET", self.base_url + self.ready_path, timeout=2)
            except OSError as exc:
                last = str(exc)
            else:
                if status == 200:
                    return
                last = f"{status} {body[:200]!r}"
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not ready after {timeout_s:.0f}s ({last}); its log:\n" + self.log_tail()
        )

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it (and any stray descendant) after grace."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            tree = process_tree(proc.pid) if proc.poll() is None else []
            stray = [(pid, _start_time(pid)) for pid in tree]
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace_s)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            for pid, started in stray:  # a descendant that left the group (setsid) goes too
                if started is not None and _start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
