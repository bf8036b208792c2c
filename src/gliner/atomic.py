"""Writes that readers never see half done: files, several files as one step, figures, built
directories, checkpoint directories. Every file written here gets the ordinary mode, 0o666 & ~umask.

A file goes to a temporary file beside its target and is renamed over it (`atomic_write`,
`atomic_write_all`, `save_figure`); a directory is built in a staging folder beside it and renamed
into place (`atomic_dir`). `save_pretrained(dir)` must replace the checkpoint's own files, touch nothing
else in `dir`, and leave a loadable checkpoint if it dies at any instant: the files are written
into a staging folder inside `dir`, which is then renamed to `.gliner_save.ready` (the commit
point); each file is hard-linked over its final name and the folder removed. While
`.gliner_save.ready` exists it holds the whole new checkpoint and loaders read from it
(`checkpoint_to_read`); before it exists the old files are untouched. A save holds an exclusive
lock on `dir` (a load a shared one) and first finishes or removes what a killed save left.
"""

from __future__ import annotations

import errno
import json
import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

STAGING_PREFIX = ".gliner_save.tmp-"
READY = ".gliner_save.ready"
# Files a checkpoint consists of; one of these the new save does not write is stale and removed.
CHECKPOINT_FILES = (
    "gliner_config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spm.model",
    "sentencepiece.bpe.model", "tokenizer.model", "chat_template.jinja",
)


def umask() -> int:
    """The process umask (read without changing it where /proc allows, so threads are not raced)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, data: bytes | str) -> Path:
    """Write one file: to a temporary file in the same folder, then renamed over `path`."""
    atomic_write_all({path: data})
    return Path(path)


def atomic_write_all(files: dict) -> None:
    """Several files ({path: bytes or str}) as one step: each goes to a temporary file beside it,
    and the renames start only once every one is written. A failure (a full disk, an interrupt)
    before then leaves every old file as it was and no temporary file behind."""
    staged = {}
    try:
        for path, data in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, staged[path] = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o666 & ~umask())  # mkstemp makes it private; the result is an ordinary file
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        for path in list(staged):
            os.replace(staged[path], path)
            del staged[path]
    finally:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)


def write_json(path, obj) -> Path:
    """JSON with sorted keys (metrics for `dvc metrics`, configs), written atomically."""
    return atomic_write(Path(path), json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_figure(fig, path, dpi: int = 120, bbox_inches: str | None = "tight") -> Path:
    """A matplotlib figure as PNG, written atomically and without a date stamp (stable bytes across runs)."""
    import io

    import matplotlib.pyplot as plt

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi, bbox_inches=bbox_inches, metadata={"Software": None})
    plt.close(fig)
    return atomic_write(path, png.getvalue())


@contextmanager
def atomic_dir(target, replace: bool = False):
    """Yield an empty staging folder beside `target`; when the block ends it is renamed to `target`
    (which must be missing or empty unless `replace`), and when the block fails it is removed.
    Staging folders that killed processes left beside `target` are removed first (not those of
    processes still running), and every file and folder staged gets the ordinary modes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}-build-"
    for leftover in target.parent.glob(f"{prefix}*-*"):
        pid = leftover.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{prefix}{os.getpid()}-"))
    try:
        yield staging
        mask = umask()
        for path in [staging, *staging.rglob("*")]:  # mkdtemp makes 0700, some writers (safetensors) 0600
            if not path.is_symlink():
                path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
        if replace:
            replace_dir(staging, target)
        else:
            if target.is_dir():
                target.rmdir()  # only an empty one: anything else is an error, never overwritten
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def target_dir(directory: str | os.PathLike) -> Path:
    """The directory a save writes into; an existing file (or a link to one) there is refused."""
    path = Path(directory)
    if path.is_symlink() and not path.is_dir():
        raise FileExistsError(f"{path}: is a symbolic link to {os.readlink(path)!r}, not to a directory; "
                              "refusing to save a checkpoint over it")
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path}: exists and is not a directory; refusing to replace it with a checkpoint")
    path.mkdir(parents=True, exist_ok=True)  # modes follow the umask (0755 under 022)
    return path.resolve()


@contextmanager
def checkpoint_to_read(directory: Path):
    """Yield where the checkpoint in `directory` is read from, holding a shared lock on it so that no
    save swaps files in meanwhile: the directory, or the committed files of a save that was killed."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not a directory: the caller's error message is the clearer one
        fd = None
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
            except OSError:  # a file system without locks: reading still works, unguarded
                pass
        yield directory / READY if _committed(directory) else directory
    finally:
        if fd is not None:
            os.close(fd)


def write_checkpoint(directory: str | os.PathLike, write_files) -> Path:
    """Call `write_files(staging_dir)`, then swap the files it wrote into `directory` as described above."""
    directory = target_dir(directory)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _recover(directory)
        staging = directory / f"{STAGING_PREFIX}{os.getpid()}"
        staging.mkdir()
        try:
            write_files(staging)
            mode = 0o666 & ~umask()  # some writers (safetensors) make files private; these are ordinary files
            for file in staging.iterdir():
                os.chmod(file, mode)
                with open(file, "rb") as f:
                    os.fsync(f.fileno())
            staging.rename(directory / READY)  # commit point
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            if err.errno == errno.ENOSPC:
                raise OSError(err.errno, f"{directory}: no space left on the device while saving; the previous "
                                         "checkpoint there is unchanged") from err
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _install(directory)
    finally:
        os.close(fd)  # releases the lock
    return directory


def _committed(directory: Path) -> bool:
    """Whether a save committed (its ready folder is complete) and its files are not all swapped in yet."""
    return (directory / READY / "gliner_config.json").is_file()


def _install(directory: Path) -> None:
    """Link every committed file over its final name, drop stale checkpoint files, remove the ready folder."""
    ready = directory / READY
    names = {p.name for p in ready.iterdir()}
    for name in sorted(names):
        tmp = directory / f".{name}.gliner-link"
        tmp.unlink(missing_ok=True)
        try:
            os.link(ready / name, tmp)
        except OSError:  # a file system without hard links: copy (the ready folder stays complete either way)
            shutil.copy2(ready / name, tmp)
        os.replace(tmp, directory / name)
    for name in CHECKPOINT_FILES:
        if name not in names and (directory / name).is_file():
            (directory / name).unlink()
    shutil.rmtree(ready)


def _recover(directory: Path) -> None:
    """Under the lock: finish a killed save's commit, remove a killed save's staging folder."""
    if _committed(directory):
        _install(directory)
    else:
        shutil.rmtree(directory / READY, ignore_errors=True)
    for leftover in directory.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in directory.glob(".*.gliner-link"):
        leftover.unlink(missing_ok=True)


def replace_dir(new: Path, directory: Path) -> None:
    """Put the fully written directory `new` at `directory` (a folder this package owns, such as a training
    checkpoint): swapped in one atomic step where the kernel can (Linux renameat2), and the old one removed."""
    if directory.is_dir() and _exchange(new, directory):
        shutil.rmtree(new)  # `new` now holds the old contents
        return
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    new.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where that is unavailable."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
