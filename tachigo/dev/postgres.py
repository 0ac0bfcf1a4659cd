"""A private PostgreSQL 15 cluster for development, on loopback and its own port.

The cluster lives in ``<data_dir>/pg`` (``data/`` is PGDATA, ``socket/`` the unix
socket, ``postgres.log`` the server log). PostgreSQL refuses to run as root, so under
root the cluster belongs to the unprivileged system user ``tachigo`` and every server
command runs through ``runuser``. If that user cannot reach ``<data_dir>`` (a parent
folder such as ``/root`` blocks it) or the socket path would be too long, the cluster
goes to a folder of its own and ``<data_dir>/pg`` becomes a symlink to it.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tachigo.dev import processes
from tachigo.dev.processes import LOOPBACK, ComponentStatus, DevInfraError, say
from tachigo.settings import Settings

NAME = "postgres"
SYSTEM_USER = "tachigo"
SUPERUSER = "postgres"
APP_ROLE = "tachigo"
APP_DATABASES = ("tachigo", "tachigo_test")
BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
FALLBACK_BASE_AS_ROOT = Path("/var/lib/tachigo-dev")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
INITDB_TIMEOUT_S = 120.0
COMMAND_TIMEOUT_S = 30.0
# How long a killed server may stay an unreaped zombie before we try anyway.
ZOMBIE_WAIT_S = 60.0
# Linux holds a unix socket path in 108 bytes with the NUL; keep a little headroom.
SOCKET_PATH_BYTES_MAX = 100


@dataclass(frozen=True)
class ClusterLayout:
    """Where one cluster keeps its files; ``root`` is real, never a symlink."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"


def cluster_layout(data_dir: Path) -> ClusterLayout:
    """Return the layout of the cluster behind ``<data_dir>/pg``, created or not."""
    return ClusterLayout((data_dir / "pg").resolve())


def postgres_conf(settings: Settings, *, socket_dir: Path) -> str:
    """Render ``tachigo.conf``, which ``postgresql.conf`` includes."""
    socket_text = str(socket_dir).replace("'", "''")
    return "\n".join(
        [
            "# Written by tachigo dev up (tachigo/dev/postgres.py) on every start.",
            "listen_addresses = '127.0.0.1'",
            f"port = {settings.dev.postgres_port}",
            f"unix_socket_directories = '{socket_text}'",
            "max_connections = 200",
            "shared_buffers = '256MB'",
            "# The ledger's durability tests rely on these; never switch them off.",
            "fsync = on",
            "synchronous_commit = on",
            "full_page_writes = on",
            "",
        ]
    )


# DEV ONLY: every loopback connection is trusted without a password. The server
# listens on 127.0.0.1 alone, yet any local user can act as any role.
PG_HBA_CONF = """\
# Written by tachigo dev up. DEV ONLY: loopback and socket connections are trusted
# without a password. Never copy this file to a shared or production server.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
"""


def start_postgres(settings: Settings) -> None:
    """Create the cluster once, start it unless it runs, and create roles and databases.

    Idempotent: a running server is only checked and reported.

    Raises:
        DevInfraError: binaries missing, the port taken, or the server failed to start.
    """
    data_dir = processes.data_dir_of(settings)
    port = settings.dev.postgres_port
    layout = cluster_layout(data_dir)
    pid = postmaster_pid(layout)
    if pid is not None:
        processes.wait_until(
            lambda: is_ready(port),
            deadline_s=START_TIMEOUT_S,
            what=NAME,
            logs=[layout.log],
        )
        ensure_databases(settings)
        say(NAME, f"already running (pid {pid}, {LOOPBACK}:{port})")
        return

    # Preparing first also stops a server whose data dir was deleted (a reset).
    owner = cluster_owner()
    layout = prepare_cluster_root(data_dir, owner=owner, port=port)
    check_port_free(data_dir, port)
    if init_cluster(layout, owner=owner):
        say(NAME, f"created a new cluster in {layout.data}")
    conf = postgres_conf(settings, socket_dir=layout.socket_dir)
    write_owned(layout.data / "tachigo.conf", conf, owner=owner)
    write_owned(layout.data / "pg_hba.conf", PG_HBA_CONF, owner=owner)
    link_log(data_dir, layout)

    say(NAME, "starting ...")
    started = time.monotonic()
    clear_dead_postmaster(layout)
    run_pg_ctl(layout, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(layout.log))
    ensure_databases(settings)
    elapsed_s = time.monotonic() - started
    pid = postmaster_pid(layout)
    say(NAME, f"ready in {elapsed_s:.1f}s (pid {pid}, {LOOPBACK}:{port})")


def check_port_free(data_dir: Path, port: int) -> None:
    """Raise if another server already listens on our port.

    Raises:
        DevInfraError: the port is taken.
    """
    if processes.is_port_open(port):
        raise DevInfraError(
            f"postgres: port {port} on {LOOPBACK} is taken by a server tachigo dev "
            f"does not know (one whose {data_dir} was deleted while it ran, or "
            "another program); stop it, or set TACHIGO_DEV__POSTGRES_PORT",
            port=port,
        )


def stop_postgres(settings: Settings) -> None:
    """Stop the server with ``pg_ctl stop -m fast``; idempotent.

    Raises:
        DevInfraError: ``pg_ctl`` failed to stop it in time.
    """
    layout = cluster_layout(processes.data_dir_of(settings))
    if postmaster_pid(layout) is None:
        say(NAME, "not running")
        return
    started = time.monotonic()
    run_pg_ctl(layout, "stop", "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S))
    say(NAME, f"stopped in {time.monotonic() - started:.1f}s")


def postgres_status(settings: Settings) -> ComponentStatus:
    layout = cluster_layout(processes.data_dir_of(settings))
    port = settings.dev.postgres_port
    pid = postmaster_pid(layout)
    if pid is None:
        return ComponentStatus(NAME, is_up=False, pid=None, port=port)
    if not is_ready(port):
        return ComponentStatus(NAME, False, pid, port, note="not accepting connections")
    return ComponentStatus(NAME, is_up=True, pid=pid, port=port)


def bin_dir() -> Path:
    """Return the folder holding ``pg_ctl`` and friends.

    Raises:
        DevInfraError: no PostgreSQL server binaries were found.
    """
    for candidate in BIN_DIRS:
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    if found is None:
        raise DevInfraError(
            "postgres: server binaries not found in /usr/lib/postgresql/15/bin or on "
            "PATH; install PostgreSQL 15 (Debian: apt-get install postgresql-15)"
        )
    return Path(found).parent


def cluster_owner() -> pwd.struct_passwd | None:
    """Return the user that owns the cluster when we are root, creating it once.

    None means the current (non-root) user owns and runs it.

    Raises:
        DevInfraError: ``useradd`` failed.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    run_checked(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ],
        what=f"useradd {SYSTEM_USER}",
    )
    say(NAME, f"created system user {SYSTEM_USER} (PostgreSQL refuses to run as root)")
    return pwd.getpwnam(SYSTEM_USER)


def as_owner(argv: list[str], owner: pwd.struct_passwd | None) -> list[str]:
    if owner is None:
        return argv
    return ["runuser", "-u", owner.pw_name, "--", *argv]


def prepare_cluster_root(
    data_dir: Path, *, owner: pwd.struct_passwd | None, port: int
) -> ClusterLayout:
    """Create the folder the cluster lives in, owned by ``owner`` and private to it.

    Uses ``<data_dir>/pg`` when the owner can reach it and the socket path fits;
    otherwise a folder outside ``data_dir``, linked from ``<data_dir>/pg``.
    """
    link = data_dir / "pg"
    data_dir.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        root = link.resolve()
    else:
        fallback = fallback_root(data_dir)
        if fallback.exists():
            discard_orphan_cluster(ClusterLayout(fallback), owner=owner)
        if can_owner_reach(data_dir, owner) and does_socket_fit(link, port):
            root = link
        else:
            root = fallback
            root.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            link.symlink_to(root, target_is_directory=True)
            say(
                NAME,
                f"the cluster lives in {root} ({link} links to it): "
                "the cluster owner cannot use a folder under the data dir",
            )
    for folder in (root, root / "socket"):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        if owner is not None:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
    return ClusterLayout(root)


def fallback_root(data_dir: Path) -> Path:
    """Return the cluster folder for a data dir the owner cannot use (one per path)."""
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    base = (
        FALLBACK_BASE_AS_ROOT
        if os.geteuid() == 0
        else Path("/tmp") / f"tachigo-dev-{os.geteuid()}"  # noqa: S108
    )
    return base / f"pg-{digest}"


def discard_orphan_cluster(
    layout: ClusterLayout, *, owner: pwd.struct_passwd | None
) -> None:
    """Stop and delete a fallback cluster whose ``<data_dir>/pg`` link was deleted.

    Deleting the data dir is how a developer resets everything, so its cluster goes.
    """
    if postmaster_pid(layout) is not None:
        run_pg_ctl(
            layout, "stop", "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S), owner=owner
        )
    shutil.rmtree(layout.root)
    say(NAME, f"deleted the cluster in {layout.root}: its data dir was reset")


def can_owner_reach(data_dir: Path, owner: pwd.struct_passwd | None) -> bool:
    """Return whether the cluster owner may traverse every folder to ``data_dir``."""
    if owner is None:
        return True
    result = subprocess.run(
        as_owner(["test", "-x", str(data_dir)], owner),
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return result.returncode == 0


def does_socket_fit(root: Path, port: int) -> bool:
    socket_path = root / "socket" / f".s.PGSQL.{port}"
    return len(str(socket_path).encode()) <= SOCKET_PATH_BYTES_MAX


def init_cluster(layout: ClusterLayout, *, owner: pwd.struct_passwd | None) -> bool:
    """Run ``initdb`` once; return whether it ran now.

    Initialises a scratch folder and renames it, so a crash never leaves half a
    cluster where the next start would find it.

    Raises:
        DevInfraError: ``initdb`` failed, or ``data`` holds something else.
    """
    if (layout.data / "PG_VERSION").exists():
        return False
    if layout.data.exists():
        raise DevInfraError(
            f"postgres: {layout.data} exists but holds no cluster; delete it to "
            "start with an empty database",
            path=str(layout.data),
        )
    scratch = layout.root / "data.initdb"
    shutil.rmtree(scratch, ignore_errors=True)
    argv = [
        str(bin_dir() / "initdb"),
        "-D",
        str(scratch),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--data-checksums",
        "--no-instructions",
    ]
    run_checked(as_owner(argv, owner), what="initdb", timeout_s=INITDB_TIMEOUT_S)
    with (scratch / "postgresql.conf").open("a") as conf:
        conf.write("\n# tachigo dev settings, rewritten on every start.\n")
        conf.write("include 'tachigo.conf'\n")
    scratch.rename(layout.data)
    return True


def write_owned(path: Path, text: str, *, owner: pwd.struct_passwd | None) -> None:
    path.write_text(text)
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def link_log(data_dir: Path, layout: ClusterLayout) -> None:
    """Make the server log visible as ``<data_dir>/logs/postgres.log``."""
    link = processes.log_path(data_dir, NAME)
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() == layout.log:
        return
    link.unlink(missing_ok=True)
    link.symlink_to(layout.log)


def run_pg_ctl(
    layout: ClusterLayout,
    action: str,
    *args: str,
    owner: pwd.struct_passwd | None = None,
) -> None:
    """Run ``pg_ctl <action> -D <data> <args>`` as the cluster owner.

    Raises:
        DevInfraError: ``pg_ctl`` failed; the message names the server log.
    """
    owner = owner if owner is not None else cluster_owner()
    argv = [str(bin_dir() / "pg_ctl"), action, "-D", str(layout.data), *args]
    run_checked(
        as_owner(argv, owner),
        what=f"pg_ctl {action}",
        timeout_s=max(START_TIMEOUT_S, STOP_TIMEOUT_S) + 10.0,
        log=layout.log,
    )


def run_checked(
    argv: list[str],
    *,
    what: str,
    timeout_s: float = COMMAND_TIMEOUT_S,
    log: Path | None = None,
) -> str:
    """Run ``argv`` from ``/`` (the cluster owner may not read our cwd); return stdout.

    Raises:
        DevInfraError: it failed or timed out.
    """
    hint = f"; read {log}" if log is not None else ""
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd="/",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise DevInfraError(
            f"postgres: {what} did not finish in {timeout_s:.0f}s{hint}"
        ) from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-800:]
        raise DevInfraError(
            f"postgres: {what} exited with code {result.returncode}: {output}{hint}",
            exit_code=result.returncode,
            logs=[str(log)] if log is not None else [],
        )
    return result.stdout


def postmaster_pid(layout: ClusterLayout) -> int | None:
    """Return the server's pid from ``postmaster.pid`` if that process is a postgres."""
    pid = recorded_postmaster_pid(layout)
    if pid is None or processes.process_start_ticks(pid) is None:
        return None  # No server, or a zombie nobody has reaped yet.
    return pid if is_postgres(pid) else None


def recorded_postmaster_pid(layout: ClusterLayout) -> int | None:
    try:
        return int((layout.data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def is_postgres(pid: int) -> bool:
    comm = Path(f"/proc/{pid}/comm")
    try:
        return comm.read_text().startswith("postgres")
    except FileNotFoundError:
        return not Path("/proc/self/comm").exists()  # Not Linux: trust the pid file.


def clear_dead_postmaster(layout: ClusterLayout) -> None:
    """Make way for a new server when ``postmaster.pid`` names a dead one.

    PostgreSQL will not start while the pid in that file exists. A killed server
    stays a zombie until its parent reaps it, so wait for that. Any other live
    process with that pid is not our server (``postmaster_pid`` said so), so the
    file is stale and goes.
    """
    pid = recorded_postmaster_pid(layout)
    if pid is None or not processes.is_pid_alive(pid):
        return
    if processes.process_start_ticks(pid) is None:
        say(NAME, f"waiting for the killed server (pid {pid}) to be reaped ...")
        processes.poll_until(
            lambda: not processes.is_pid_alive(pid), deadline_s=ZOMBIE_WAIT_S
        )
        return
    (layout.data / "postmaster.pid").unlink(missing_ok=True)


def is_ready(port: int) -> bool:
    """Return whether the server on loopback ``port`` accepts connections."""
    # Name a role that exists, or every probe logs "role root does not exist".
    argv = [
        str(bin_dir() / "pg_isready"),
        "-q",
        "-h",
        LOOPBACK,
        "-p",
        str(port),
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
        "-t",
        "1",
    ]
    result = subprocess.run(argv, capture_output=True, timeout=5, check=False)
    return result.returncode == 0


def run_sql(settings: Settings, sql: str, *, database: str = "postgres") -> str:
    """Run ``sql`` as the superuser over loopback with psql; return its plain output."""
    argv = [
        str(bin_dir() / "psql"),
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        LOOPBACK,
        "-p",
        str(settings.dev.postgres_port),
        "-U",
        SUPERUSER,
        "-d",
        database,
        "-c",
        sql,
    ]
    return run_checked(argv, what="psql")


def ensure_databases(settings: Settings) -> None:
    """Create the app role and the app and test databases if they are missing.

    The role is not a superuser: it owns its databases, which is all migrations need.
    """
    run_sql(
        settings,
        (
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"'{APP_ROLE}') THEN CREATE ROLE {APP_ROLE} LOGIN CREATEDB; END IF; END $$"
        ),
    )
    names = ", ".join(f"'{name}'" for name in APP_DATABASES)
    existing = run_sql(
        settings, f"SELECT datname FROM pg_database WHERE datname IN ({names})"
    ).split()
    for name in APP_DATABASES:
        if name not in existing:
            run_sql(settings, f'CREATE DATABASE "{name}" OWNER "{APP_ROLE}"')
            say(NAME, f"created database {name} owned by {APP_ROLE}")
