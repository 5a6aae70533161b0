"""Runs the benchmark's commands from a small process, so their peak RSS is their own.

On Linux a child's ru_maxrss also counts the memory of the process it was forked from, up
to its exec: a child of the benchmark itself (which imports boto3 for moto) would report at
least the benchmark's RSS. This launcher runs as `python -I -S bench/launcher.py` and
imports only built-in modules, so it stays well under the smallest command measured
(`python -c pass`); it reports its own peak RSS first, so the benchmark can check that.

Protocol, marshal over stdin/stdout: it writes its peak RSS in KiB, then for each request
(argv, env, stdout path, stderr path) runs the command, waits with os.wait4 and writes
(wall seconds, peak RSS KiB, exit code). The wall time is taken around fork, exec and wait.
"""

from __future__ import annotations

import marshal
import os
import sys
import time


def own_peak_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run(
    argv: list[str], env: dict[str, str], out_path: str, err_path: str
) -> tuple[float, int, int]:
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: plumbing, then exec; nothing of Python's left running
        try:
            stdin = os.open(os.devnull, os.O_RDONLY)
            stdout = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            stderr = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(stdin, 0)
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
            os.execve(argv[0], argv, env)  # noqa: S606 (argv is a list: no shell)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main() -> None:
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    marshal.dump(own_peak_rss_kib(), replies)
    replies.flush()
    while True:
        try:
            argv, env, out_path, err_path = marshal.load(requests)  # noqa: S302 (only run.py writes here)
        except EOFError:
            return
        marshal.dump(run(argv, env, out_path, err_path), replies)
        replies.flush()


if __name__ == "__main__":
    main()
