"""A private single-node Slurm cluster for the tests: munged, slurmctld and slurmd on this
host, with all their configuration and state in a directory of their own.

Standard library only (like tests/container/harness.py, whose ``apt_install`` installs
Debian's ``slurm-wlm`` and ``munge`` here, announced, as root). Nothing of the system's
Slurm or munge is used or changed: not /etc/slurm, /etc/munge, /run/munge nor the default
ports. Each cluster lives in ``<test cache>/slurm/<random>/``:

- its own munge key, and munged on a socket in that directory (``AuthInfo=socket=...``);
- ``slurm.conf``, which slurmctld and slurmd get with ``-f`` and clients (sbatch, squeue,
  scontrol, scancel, and so Toil) through ``SLURM_CONF``; free loopback ports;
- one node, this host's short name, with the CPUs and memory ``slurmd -C`` finds, in one
  partition; ``SlurmUser=root``, ``ProctrackType=proctrack/linuxproc``,
  ``TaskPlugin=task/none``, no accounting storage (``sacct`` has nothing), and a job
  completion log (``jobcomp/filetxt``) that says how each job ended.

Several clusters can run at once (one per pytest-xdist worker): nothing is shared but the
host. ``start()`` first stops the daemons of clusters whose owner process is gone (a test
session that was killed), by the pids they recorded and only if their command line names
that cluster's files, and removes their directories.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.container import harness

APT_PACKAGES = ("slurm-wlm", "munge")
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
SKIP_HINT = 'skip the cluster tests with -m "not slurm"'
#: The daemons, in the order they start (and stop in reverse).
DAEMONS = ("munged", "slurmctld", "slurmd")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class ClusterUnavailableError(harness.HarnessUnavailableError):
    """This machine cannot run the test cluster (not root, no apt-get, ...)."""


def ensure_slurm() -> None:
    """Install slurm-wlm and munge with apt-get (root only, announced) when missing."""
    harness.apt_install(
        APT_PACKAGES,
        TOOLS,
        need="the cluster tests run a private Slurm cluster as root",
        why=f"(about 60 MB, once): the cluster tests run Toil's Slurm batch system on a "
        f"private single-node cluster; {SKIP_HINT}",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def node_line(node: str) -> str:
    """This host as a NodeName line: what ``slurmd -C`` finds (CPUs, sockets, cores,
    memory), with the loopback address."""
    found = subprocess.run(
        ["slurmd", "-C"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    words = [w for w in found.split() if "=" in w and not w.startswith(("NodeName=", "UpTime="))]
    return " ".join([f"NodeName={node}", "NodeAddr=127.0.0.1", *words, "State=UNKNOWN"])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class SlurmCluster:
    """One private cluster; ``with SlurmCluster.create() as cluster:`` starts and stops it."""

    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    daemons: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def create(cls) -> SlurmCluster:
        base = harness.cache_dir() / "slurm"
        base.mkdir(exist_ok=True)
        root = base / secrets.token_hex(4)
        root.mkdir(mode=0o700)
        return cls(root)

    # ------------------------------------------------------------------ files

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge.socket"

    @property
    def jobcomp_log(self) -> Path:
        return self.root / "jobcomp.log"

    @property
    def slurmd_log(self) -> Path:
        return self.root / "slurmd.log"

    @property
    def env(self) -> dict[str, str]:
        """What a client of this cluster needs in its environment (sbatch & co., Toil)."""
        return {"SLURM_CONF": str(self.conf)}

    def write_files(self) -> None:
        key = self.root / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(exist_ok=True)
        root = self.root
        lines = [
            "# Generated by tests/slurm.py: a private single-node cluster for the tests.",
            f"ClusterName=update-job-test-{root.name}",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}",
            f"SlurmdLogFile={self.slurmd_log}",
            "SlurmdDebug=info",
            "SlurmctldDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            # No accounting, but a line per finished job: its id, name, state, exit code.
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp_log}",
            "MpiDefault=none",
            "SwitchType=switch/none",
            # Jobs share the node by CPU, as Toil's jobs do on a real cluster.
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "ReturnToService=2",
            # Finished jobs stay visible to `scontrol show job` for the whole session.
            "MinJobAge=3600",
            node_line(self.node),
            f"PartitionName=test Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (root / "owner").write_text(f"{os.getpid()}\n", encoding="utf-8")

    # ------------------------------------------------------------------ daemons

    def daemon_command(self, name: str) -> list[str]:
        root = self.root
        if name == "munged":
            # --force: munged wants its socket's directory open to every user, since any
            # user may ask it for a credential; this cluster's is the tests' (root's) only.
            return [
                "munged", "--foreground", "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={root / 'munge.key'}",
                f"--pid-file={root / 'munged.pid'}",
                f"--log-file={root / 'munged.log'}",
                f"--seed-file={root / 'munged.seed'}",
            ]  # fmt: skip
        if name == "slurmctld":
            return ["slurmctld", "-D", "-i", "-f", str(self.conf)]
        return ["slurmd", "-D", "-f", str(self.conf), "-N", self.node]

    def start(self) -> None:
        ensure_slurm()
        stop_orphans(self.root.parent)
        self.write_files()
        for name in DAEMONS:
            output = (self.root / f"{name}.out").open("wb")
            self.daemons[name] = subprocess.Popen(
                self.daemon_command(name),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
            output.close()
            (self.root / f"{name}.daemon-pid").write_text(
                f"{self.daemons[name].pid}\n", encoding="utf-8"
            )
            if name == "munged":
                self.wait(self.munge_socket.exists, "munged's socket")
        self.wait(self.node_ready, f"node {self.node} idle in sinfo")

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not condition():
            for name, daemon in self.daemons.items():
                if daemon.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited ({daemon.returncode}) while waiting for {what}:\n"
                        + self.logs()
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")
            time.sleep(0.2)

    def node_ready(self) -> bool:
        result = self.client("sinfo", "--noheader", "--format=%T", "--nodes", self.node)
        return result.returncode == 0 and result.stdout.strip() in {"idle", "mixed"}

    def logs(self) -> str:
        parts = []
        for path in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out")):
            text = path.read_text(encoding="utf-8", errors="replace")
            parts.append(f"--- {path.name}\n{text[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel what still runs, stop the daemons (slurmd first), remove the directory."""
        if self.daemons.get("slurmctld") and self.daemons["slurmctld"].poll() is None:
            self.client("scancel", "--full", f"--nodelist={self.node}")
        for name in reversed(DAEMONS):
            daemon = self.daemons.get(name)
            if daemon is not None:
                stop_process(daemon.pid, exited(daemon))
        self.daemons.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ clients

    def client(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=timeout,
            check=False,
        )

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller knows of (finished ones too: MinJobAge is an hour), as
        ``scontrol show job --oneliner`` gives them: field name to value."""
        result = self.client("scontrol", "show", "job", "--oneliner")
        if result.returncode != 0 and "No jobs" not in result.stdout + result.stderr:
            raise RuntimeError(f"scontrol show job failed: {result.stderr}")
        return [job for job in map(parse_fields, result.stdout.splitlines()) if "JobId" in job]

    def completed(self) -> list[dict[str, str]]:
        """The job completion log's records (jobcomp/filetxt), one per finished job."""
        if not self.jobcomp_log.exists():
            return []
        text = self.jobcomp_log.read_text(encoding="utf-8", errors="replace")
        return [parse_fields(line) for line in text.splitlines() if line.strip()]


FIELD = re.compile(r"([A-Za-z][\w:/]*)=(.*?)(?=\s+[A-Za-z][\w:/]*=|$)")


def parse_fields(line: str) -> dict[str, str]:
    """``Key=value Key=value ...`` (a value may hold spaces) as a dict."""
    return {key: value.strip() for key, value in FIELD.findall(line.strip())}


def exited(process: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: process.poll() is not None


def no_longer_names(pid: int, text: str) -> Callable[[], bool]:
    """Whether process `pid` is gone, or (its pid reused) is another process now."""
    return lambda: text not in command_line(pid)


def stop_process(pid: int, gone: Callable[[], bool]) -> None:
    """SIGTERM, then SIGKILL if it is still there STOP_TIMEOUT seconds later."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if gone():
                return
            time.sleep(0.1)


def stop_orphans(base: Path) -> None:
    """Stop the daemons of clusters under `base` whose owner is gone (a test session that
    was killed before its fixture could stop them), then remove their directories. A pid
    is only signalled while its command line still names that cluster's directory."""
    for root in base.iterdir():
        owner = root / "owner"
        try:
            owner_pid = int(owner.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            owner_pid = None
        if owner_pid is not None and pid_alive(owner_pid):
            continue
        try:
            if owner_pid is None and time.time() - root.stat().st_mtime < START_TIMEOUT:
                continue  # being made by another session right now
        except FileNotFoundError:
            continue  # another session's start has just removed it
        for pid_file in root.glob("*.daemon-pid"):
            try:
                pid = int(pid_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if str(root) in command_line(pid):
                stop_process(pid, no_longer_names(pid, str(root)))
        shutil.rmtree(root, ignore_errors=True)
