"""Checks the server makes before it starts and on every request: the Host header, the data
folder, the port, and what a model can be given."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Sequence

from isyarat.errors import IsyaratError

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
ALL_INTERFACES = ("0.0.0.0", "::", "")


def check_port(port: int) -> int:
    """A TCP port a server can bind: 1 to 65535."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise IsyaratError(f"--port {port}: a port is a number from 1 to 65535 (e.g. 8000)")
    return port


def check_data_dir(data_dir: Path) -> Path:
    """The recordings folder may not exist yet, but it may not be a file (or inside one)."""
    for folder in (data_dir, *data_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise IsyaratError(f"--data-dir {data_dir}: {folder} is a file, not a folder; give a folder "
                               "for the recordings (it is created when missing)")
    return data_dir


def machine_addresses() -> list[str]:
    """This machine's names and addresses others may use to reach it (best effort, offline too)."""
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    try:  # the address of the default route's interface; a UDP connect sends nothing
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            names.add(probe.getsockname()[0])
    except OSError:
        pass
    return sorted(n for n in names if n and n not in ALL_INTERFACES)


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str]:
    """Host headers the server answers: loopback names, the bound address and, when bound to
    every interface, this machine's names and addresses; plus `extra` (--allow-host)."""
    hosts = [*LOCAL_HOSTS, *extra]
    if host in ALL_INTERFACES:
        hosts += machine_addresses()
    else:
        hosts.append(host)
    return list(dict.fromkeys(hosts))


def announce(host: str, port: int) -> str:
    """Where the server can be opened, said truthfully."""
    if host in ALL_INTERFACES:
        others = [a for a in machine_addresses() if a not in LOCAL_HOSTS and ":" not in a]
        reach = ", ".join(f"http://{a}:{port}/" for a in others[:3]) or "this machine's address"
        return (f"listening on every network interface ({host or '0.0.0.0'}:{port}): other machines on the "
                f"network can reach it at {reach}; on this machine open http://localhost:{port}/")
    shown = f"[{host}]" if ":" in host else host
    return f"open http://{shown}:{port}/ in a browser"


def photo_for_sequence_model(name: str) -> str:
    """Why a still photo is refused by a model of moving signs."""
    return (f"model '{name}' recognizes moving signs (words) and needs a video, not a photo: send a video "
            "(MP4, MOV, AVI or WebM), or use a letter model for photos")
