# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The Dask plumbing shared by the catalogue and mosaic modes.

`open_client` gives a ``distributed.Client`` on a given scheduler or on a
local cluster of one-thread worker processes; `setup_worker` makes a
worker process use one thread for its FFTs and PyTorch, so that the
workers of a machine never oversubscribe its cores; `cached_deconvolver`
builds one deconvolver per worker process and method specification, so
that a learned model is loaded once per worker and not once per task.

Dask is imported only when `open_client` runs.
"""

import contextlib
import json
import logging
import os
import sys
import threading

__all__ = []

#: Environment variables read by the thread pools of numerical libraries
#: when they are first imported.
THREAD_ENV_VARS = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                   'OPENBLAS_NUM_THREADS', 'NUMEXPR_NUM_THREADS',
                   'VECLIB_MAXIMUM_THREADS')

_LOCK = threading.Lock()
_WORKER_THREADS = None
_DECONVOLVERS = {}
_CONSTRUCTED = 0


def _check_workers(workers):
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int):
        msg = (f'workers must be None or a positive int, got '
               f'{type(workers).__name__}')
        raise TypeError(msg)
    if workers < 1:
        msg = f'workers must be a positive int, got {workers}'
        raise ValueError(msg)
    return workers


@contextlib.contextmanager
def open_client(workers=None, scheduler=None):
    """
    Context manager yielding a ``distributed.Client``.

    Parameters
    ----------
    workers : int, optional
        Number of worker processes of the local cluster (default: one per
        core, ``os.cpu_count()``), each with one thread. Must not be given
        with ``scheduler``.
    scheduler : str, optional
        Address of a running scheduler (``'tcp://host:8786'``) to connect
        to instead of starting a local cluster; the cluster is left
        running on exit.

    Yields
    ------
    client : ``distributed.Client``
        Closed on exit, together with the local cluster if one was
        started.

    Raises
    ------
    ImportError
        If ``distributed`` is not installed.
    ValueError
        If both ``workers`` and ``scheduler`` are given, or ``workers`` is
        not positive.
    TypeError
        If ``scheduler`` is not a str.
    """
    workers = _check_workers(workers)
    if scheduler is not None:
        if not isinstance(scheduler, str):
            msg = (f'scheduler must be an address string such as '
                   f"'tcp://host:8786', got {type(scheduler).__name__}")
            raise TypeError(msg)
        if workers is not None:
            msg = ('workers must not be given with scheduler: the workers '
                   'of a running cluster are started with the cluster')
            raise ValueError(msg)
    distributed = import_optional_distributed()
    if scheduler is not None:
        client = distributed.Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
        processes=True, dashboard_address=None,
        silence_logs=logging.ERROR)
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def import_optional_distributed():
    """Import ``distributed`` or raise a helpful `ImportError`."""
    from ..utils._optional_deps import import_optional

    return import_optional('distributed',
                           purpose='to run on a Dask cluster')


def setup_worker(threads=1):
    """
    Make this process use ``threads`` threads for its numerical work.

    Sets ``astrodeconv.conf.fft_workers`` for the whole process, the
    PyTorch intra-op threads if PyTorch is already imported (it is never
    imported here), and the ``OMP_NUM_THREADS``-style environment variables
    read by libraries imported later. Calling it again with the same value
    does nothing.

    Parameters
    ----------
    threads : int, optional
        Threads per process (default 1: one-thread worker processes, one
        per core).
    """
    global _WORKER_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) \
            or threads < 1:
        msg = f'threads must be a positive int, got {threads!r}'
        raise ValueError(msg)
    with _LOCK:
        if _WORKER_THREADS == threads:
            return
        from .. import conf

        conf.fft_workers = threads
        for name in THREAD_ENV_VARS:
            os.environ[name] = str(threads)
        torch = sys.modules.get('torch')
        if torch is not None:
            torch.set_num_threads(threads)
        _WORKER_THREADS = threads


def method_key(method, options):
    """The canonical JSON text of a method specification."""
    try:
        return json.dumps([method, options or {}], sort_keys=True)
    except TypeError:
        msg = (f'method_options must hold only JSON values (str, numbers, '
               f'bool, None, lists), got {options!r}')
        raise TypeError(msg) from None


def cached_deconvolver(method, options):
    """
    The deconvolver of this process for ``method`` and ``options``.

    Built with `~astrodeconv.deconvolution.make_deconvolver` the first
    time a (method, options) pair is asked for in this process, and
    reused afterwards (deconvolver calls never change the instance).
    Calls `setup_worker` first.

    Parameters
    ----------
    method : str
        A method name of `~astrodeconv.deconvolution.make_deconvolver`.
    options : dict or None
        Its keyword arguments, JSON values only.

    Returns
    -------
    deconvolver : `~astrodeconv.deconvolution.DeconvolverBase`
    """
    global _CONSTRUCTED
    setup_worker()
    key = method_key(method, options)
    with _LOCK:
        deconvolver = _DECONVOLVERS.get(key)
        if deconvolver is None:
            from ..deconvolution import make_deconvolver

            deconvolver = make_deconvolver(method, **(options or {}))
            _DECONVOLVERS[key] = deconvolver
            _CONSTRUCTED += 1
    return deconvolver


def constructed_count():
    """Number of deconvolvers `cached_deconvolver` built in this process."""
    return _CONSTRUCTED


def process_id():
    """The id of this process (for ``client.run``)."""
    return os.getpid()
