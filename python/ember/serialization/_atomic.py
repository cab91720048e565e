"""Replacing a file atomically, so that a crash or a SIGKILL mid-save never costs the old file.

On Linux the new contents go into an unnamed file (``O_TMPFILE``): a process killed while
writing leaves nothing behind. Only once the data is on disk does the file get a name, a fixed
one derived from the target, and that name is renamed over the target. Where ``O_TMPFILE`` is
missing (other systems, some filesystems) the fixed name is written directly; a leftover from a
killed save is then removed by the next save rather than piling up.
"""

import errno
import os


def temporary_name(path):
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{base}.ember-tmp")


def _open_unnamed(folder):
    """An fd of an unnamed file in ``folder``, or None where the OS or filesystem has no O_TMPFILE."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o644)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None
        raise


def _remove(name):
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass


def write_atomically(path, write):
    """Calls ``write(file)`` on a fresh file, then puts that file at ``path`` in one rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = temporary_name(path)
    fd = _open_unnamed(folder)
    named = fd is None
    if named:
        _remove(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    linked = named
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            write(out)
            out.flush()
            os.fsync(fd)
        if not named:
            _remove(tmp)  # a leftover of a save killed between link and rename
            try:
                _link_unnamed(fd, tmp)
                linked = True
            except OSError:  # e.g. EXDEV where /proc links are refused: write a named file instead
                linked = True
                with open(tmp, "xb") as out:
                    write(out)
                    out.flush()
                    os.fsync(out.fileno())
        os.replace(tmp, path)
        linked = False
    finally:
        os.close(fd)
        if linked:
            _remove(tmp)
    _fsync_folder(folder)


def _link_unnamed(fd, name):
    """Gives the unnamed file ``fd`` the name ``name``. Only linkat with AT_SYMLINK_FOLLOW does
    this: os.link without a dir fd calls link(2), which links the /proc symlink itself (EXDEV)."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _fsync_folder(folder):
    """Makes the rename itself durable: without it a power cut may bring back the old entry."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows, where folders cannot be opened; the rename is already atomic
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the data itself is already synced
    finally:
        os.close(fd)
