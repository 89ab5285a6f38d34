# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the one atomic writer."""

import os
import subprocess
import sys
import threading
import time

import pytest

from astrodeconv.utils import _files
from astrodeconv.utils._files import (
    TMP_MARKER, atomic_path, atomic_write, clean_stale_temporary_files,
    is_temporary_file)


def leftovers(folder):
    return [p for p in os.listdir(folder) if TMP_MARKER in p]


def current_umask():
    # read in a child process: the tests must not touch our own umask
    out = subprocess.run(
        [sys.executable, '-c', 'import os; m = os.umask(0); print(m)'],
        capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.fixture(autouse=True)
def forget_cleaned_dirs(monkeypatch):
    monkeypatch.setattr(_files, '_cleaned_dirs', set())


def test_write_binary_and_text(tmp_path):
    path = tmp_path / 'a.bin'
    with atomic_write(path) as f:
        f.write(b'\x00\x01')
    assert path.read_bytes() == b'\x00\x01'
    text = tmp_path / 'a.txt'
    with atomic_write(text, mode='w') as f:
        f.write('é\n')
    assert text.read_text(encoding='utf-8') == 'é\n'
    assert leftovers(tmp_path) == []


def test_permissions_follow_umask(tmp_path):
    umask_before = os.umask(0o022)
    os.umask(umask_before)
    path = tmp_path / 'p.bin'
    with atomic_write(path) as f:
        f.write(b'x')
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~current_umask()
    # the process umask is unchanged
    now = os.umask(0o022)
    os.umask(now)
    assert now == umask_before


@pytest.mark.skipif(os.name == 'nt', reason='POSIX permission bits')
def test_keep_permissions(tmp_path):
    path = tmp_path / 'p.bin'
    path.write_bytes(b'old')
    os.chmod(path, 0o640)
    with atomic_write(path, overwrite=True, keep_permissions=True) as f:
        f.write(b'new')
    assert os.stat(path).st_mode & 0o777 == 0o640
    with atomic_write(path, overwrite=True) as f:
        f.write(b'newer')
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~current_umask()


def test_existing_file_needs_overwrite(tmp_path):
    path = tmp_path / 'x.fits'
    path.write_bytes(b'old')
    with pytest.raises(FileExistsError, match=r"x\.fits' already exists; "
                       'pass overwrite=True'):
        with atomic_write(path) as f:
            f.write(b'new')
    assert path.read_bytes() == b'old'
    with atomic_write(path, overwrite=True) as f:
        f.write(b'new')
    assert path.read_bytes() == b'new'
    assert leftovers(tmp_path) == []


def test_file_appearing_during_the_write_is_kept(tmp_path):
    path = tmp_path / 'race.bin'
    with pytest.raises(FileExistsError, match='already exists'):
        with atomic_write(path) as f:
            f.write(b'mine')
            path.write_bytes(b'theirs')
    assert path.read_bytes() == b'theirs'
    assert leftovers(tmp_path) == []


def test_missing_directory_raises_at_once(tmp_path):
    ran = []
    with pytest.raises(FileNotFoundError,
                       match=r"in a directory that does not exist "
                       r"\('.*nope'\)"):
        with atomic_write(tmp_path / 'nope' / 'x.bin'):
            ran.append(True)
    assert ran == []


def test_directory_and_bad_types(tmp_path):
    with pytest.raises(IsADirectoryError, match='is a directory'):
        with atomic_write(tmp_path):
            pass
    with pytest.raises(TypeError, match='path must be a str or os.PathLike'):
        with atomic_write(3):
            pass
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'"):
        with atomic_write(tmp_path / 'a', mode='a'):
            pass


def test_crash_inside_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / 'model.pt'
    path.write_bytes(b'old content')
    with pytest.raises(RuntimeError, match='boom'):
        with atomic_write(path, overwrite=True) as f:
            f.write(b'half of the new')
            raise RuntimeError('boom')
    assert path.read_bytes() == b'old content'
    assert os.listdir(tmp_path) == ['model.pt']
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / 'new.h5') as tmp:
            tmp.write_bytes(b'partial')
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ['model.pt']


def test_atomic_path(tmp_path):
    path = tmp_path / 'set.h5'
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.exists()
        assert is_temporary_file(tmp)
        assert tmp.name.startswith('.set.h5' + TMP_MARKER)
        tmp.write_bytes(b'data')  # reopened by name
    assert path.read_bytes() == b'data'
    assert leftovers(tmp_path) == []


def make_tmp(folder, name, *, pid, host=None, age=0.0):
    host = host or _files._host_tag()
    tmp = folder / f'.{name}{TMP_MARKER}{host}-{pid}-0123456789ab'
    tmp.write_bytes(b'partial')
    if age:
        stamp = time.time() - age
        os.utime(tmp, (stamp, stamp))
    return tmp


def dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_stale_files_of_a_killed_run_are_cleaned(tmp_path):
    dead = make_tmp(tmp_path, 'a.fits', pid=dead_pid())
    old = make_tmp(tmp_path, 'b.fits', pid=os.getpid(), host='ffffffff',
                   age=_files.STALE_AGE + 60)
    alive = make_tmp(tmp_path, 'c.fits', pid=os.getpid())
    elsewhere = make_tmp(tmp_path, 'd.fits', pid=dead_pid(), host='ffffffff')
    unrelated = tmp_path / '.e.fits.tmp'
    unrelated.write_bytes(b'not ours')
    assert is_temporary_file(dead) and not is_temporary_file(unrelated)
    with atomic_write(tmp_path / 'new.fits') as f:
        f.write(b'x')
    assert not dead.exists() and not old.exists()
    assert alive.exists() and elsewhere.exists() and unrelated.exists()
    assert clean_stale_temporary_files(tmp_path) == []
    assert clean_stale_temporary_files(tmp_path / 'missing') == []


def test_killed_writer_leaves_a_recognisable_file(tmp_path):
    code = ('import os, sys\n'
            'from astrodeconv.utils._files import atomic_write\n'
            'with atomic_write(sys.argv[1]) as f:\n'
            '    f.write(b"partial"); f.flush()\n'
            '    os._exit(9)\n')
    subprocess.run([sys.executable, '-c', code, str(tmp_path / 'out.bin')],
                   check=False)
    left = leftovers(tmp_path)
    assert len(left) == 1 and is_temporary_file(left[0])
    assert not (tmp_path / 'out.bin').exists()
    with atomic_write(tmp_path / 'out.bin') as f:
        f.write(b'complete')
    assert os.listdir(tmp_path) == ['out.bin']


def test_threads_write_to_one_directory(tmp_path):
    errors = []

    def write(i):
        try:
            with atomic_write(tmp_path / f'{i}.txt', mode='w') as f:
                f.write(str(i))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(os.listdir(tmp_path)) == sorted(f'{i}.txt'
                                                  for i in range(8))
