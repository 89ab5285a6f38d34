# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one atomic file writer of the package.

Every file astrodeconv writes (FITS images, HDF5 training sets, training
checkpoints, weights files and model cards, reports and figures) goes
through `atomic_write` or `atomic_path`: the content is written to a
temporary file in the destination directory, flushed to disk with
``fsync`` and then moved in place with `os.replace`. A reader therefore
sees either the old file or the complete new one, never a partial file,
and an exception (or Ctrl-C) inside the ``with`` block leaves the old file
untouched and removes the temporary file.

Temporary files are named ``.<name>.astrodeconv-tmp-<host>-<pid>-<token>``
(hidden, next to the destination). A run killed by a signal cannot remove
its temporary file; the first write of a later process to the same
directory removes such leftovers: at once when they were made by a process
of this machine that no longer runs, and otherwise once they have not been
modified for `STALE_AGE` seconds.

The final file gets the permissions of a normal new file (``0o666`` minus
the umask): the temporary file is created with `os.open`, which applies
the umask itself, so the process umask is never read or changed.
"""

import contextlib
import hashlib
import os
import re
import secrets
import socket
import threading
import time
from pathlib import Path

__all__ = []

#: Marker in the name of every temporary file this module creates.
TMP_MARKER = '.astrodeconv-tmp-'

#: Seconds after which an unmodified temporary file is considered left by
#: a killed run, whichever machine made it.
STALE_AGE = 3600.0

_TMP_PATTERN = re.compile(
    r'^\..+' + re.escape(TMP_MARKER)
    + r'(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<token>[0-9a-f]{12})$')

_cleaned_dirs = set()
_cleaned_lock = threading.Lock()


def _host_tag():
    """Eight hex digits identifying this machine (pids are per machine)."""
    name = socket.gethostname().encode('utf-8', 'replace')
    return hashlib.sha256(name).hexdigest()[:8]


def _tmp_name(path):
    return (f'.{path.name}{TMP_MARKER}{_host_tag()}-{os.getpid()}-'
            f'{secrets.token_hex(6)}')


def is_temporary_file(path):
    """Whether ``path`` names a temporary file made by `atomic_write`."""
    return _TMP_PATTERN.match(Path(path).name) is not None


def _process_running(pid):
    if os.name == 'nt':  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists but belongs to another user
        return True
    return True


def _is_stale(entry, now, host):
    match = _TMP_PATTERN.match(entry.name)
    if match is None:
        return False
    try:
        age = now - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    if age > STALE_AGE:
        return True
    pid = int(match['pid'])
    if match['host'] != host or pid == os.getpid():
        return False
    return not _process_running(pid)


def clean_stale_temporary_files(directory):
    """
    Remove the temporary files a killed run left in ``directory``.

    A temporary file is stale when it was made on this machine by a process
    that no longer runs, or when it has not been modified for `STALE_AGE`
    seconds. Files that cannot be removed are skipped.

    Parameters
    ----------
    directory : str or path-like

    Returns
    -------
    removed : list of `~pathlib.Path`
        The files removed.
    """
    removed = []
    now = time.time()
    host = _host_tag()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and _is_stale(entry, now,
                                                              host):
            with contextlib.suppress(OSError):
                os.remove(entry.path)
                removed.append(Path(entry.path))
    return removed


def _clean_once(directory):
    """Clean ``directory`` the first time this process writes to it."""
    key = os.path.abspath(directory)
    with _cleaned_lock:
        if key in _cleaned_dirs:
            return
        _cleaned_dirs.add(key)
    clean_stale_temporary_files(directory)


def _exists_message(path):
    return (f'path {os.fspath(path)!r} already exists; pass overwrite=True '
            '(or --overwrite on the command line) to replace it')


def check_output_path(path, *, overwrite=False, name='path'):
    """
    Check that ``path`` may be written; return it as a `~pathlib.Path`.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    overwrite : bool, optional
        Whether an existing file may be replaced.
    name : str, optional
        The parameter name used in error messages.

    Raises
    ------
    TypeError
        If ``path`` is not a str or path-like.
    IsADirectoryError
        If ``path`` is a directory.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    if not isinstance(path, (str, os.PathLike)):
        msg = (f'{name} must be a str or os.PathLike, got '
               f'{type(path).__name__}')
        raise TypeError(msg)
    path = Path(path)
    text = os.fspath(path)
    if path.is_dir():
        msg = f'{name} {text!r} is a directory; give a file name'
        raise IsADirectoryError(msg)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise FileExistsError(_exists_message(path))
    parent = path.parent
    if not parent.is_dir():
        msg = (f'{name} {text!r} is in a directory that does not exist '
               f'({os.fspath(parent)!r}); create the directory first')
        raise FileNotFoundError(msg)
    return path


def _fsync_path(path):
    # write access: Windows cannot flush a file opened read-only
    fd = os.open(path, os.O_RDWR | getattr(os, 'O_BINARY', 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory):
    """Make the rename durable (not possible, nor needed, on Windows)."""
    if os.name == 'nt':
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _move_in_place(tmp, path, overwrite):
    if overwrite:
        os.replace(tmp, path)
        return
    # a hard link fails if ``path`` appeared since the check: never
    # replace a file that another process wrote meanwhile
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(_exists_message(path)) from None
    except OSError:  # no hard links on this file system
        if path.exists():
            raise FileExistsError(_exists_message(path)) from None
        os.replace(tmp, path)
    else:
        os.remove(tmp)


@contextlib.contextmanager
def atomic_path(path, *, overwrite=False, keep_permissions=False):
    """
    Context manager giving a temporary path to write ``path`` atomically.

    Use it for writers that need a file name rather than a file object
    (h5py, copying a file). The temporary file exists (empty) when the
    block starts; the writer may truncate or reopen it. When the block ends
    normally the file is synced to disk and moved to ``path``; when it
    raises, the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    overwrite : bool, optional
        Replace ``path`` if it exists. Otherwise an existing file raises
        `FileExistsError`, also when it appears while the block runs.
    keep_permissions : bool, optional
        When replacing an existing file, give the new file the permission
        bits of the old one instead of those of a new file.

    Yields
    ------
    tmp : `~pathlib.Path`
        The temporary file, in the directory of ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    """
    path = check_output_path(path, overwrite=overwrite)
    _clean_once(path.parent)
    tmp = path.with_name(_tmp_name(path))
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL
             | getattr(os, 'O_BINARY', 0))
    # os.open applies the umask to 0o666: the permissions of a normal new
    # file, without reading or changing the process-wide umask
    os.close(os.open(tmp, flags, 0o666))
    try:
        yield tmp
        _fsync_path(tmp)
        if keep_permissions and overwrite:
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        _move_in_place(tmp, path, overwrite)
        _fsync_directory(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path, *, overwrite=False, mode='wb', encoding=None,
                 keep_permissions=False):
    """
    Context manager writing the file ``path`` atomically.

    The block writes to a file object open on a temporary file in the
    directory of ``path``. When the block ends normally the file is
    flushed, synced to disk and moved to ``path`` with `os.replace`; when
    it raises, the temporary file is removed and ``path`` is left as it
    was.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    overwrite : bool, optional
        Replace ``path`` if it exists. Otherwise an existing file raises
        `FileExistsError`, also when it appears while the block runs.
    mode : {'wb', 'w'}, optional
        Binary or text.
    encoding : str, optional
        Text encoding for ``mode='w'`` (default ``'utf-8'``).
    keep_permissions : bool, optional
        When replacing an existing file, give the new file the permission
        bits of the old one instead of those of a new file.

    Yields
    ------
    fileobj : file object

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    ValueError
        If ``mode`` is not ``'wb'`` or ``'w'``.

    Examples
    --------
    >>> from astrodeconv.utils._files import atomic_write
    >>> path = getfixture('tmp_path') / 'notes.txt'
    >>> with atomic_write(path, mode='w') as f:
    ...     _ = f.write('done')
    >>> path.read_text()
    'done'
    """
    if mode not in ('wb', 'w'):
        msg = f"mode must be 'wb' or 'w', got {mode!r}"
        raise ValueError(msg)
    if mode == 'wb' and encoding is not None:
        msg = 'encoding must be None for the binary mode'
        raise ValueError(msg)
    if mode == 'w' and encoding is None:
        encoding = 'utf-8'
    with atomic_path(path, overwrite=overwrite,
                     keep_permissions=keep_permissions) as tmp:
        with open(tmp, mode, encoding=encoding) as fileobj:
            yield fileobj
            fileobj.flush()
