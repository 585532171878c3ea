"""Where jobs run: threads inside the web processes (the default), or Celery workers.

Both only hand a job id over; the worker side is always `JobRunner.claim` then `run`, so
a job behaves the same wherever it runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any, Protocol

from .jobs import JobRunner

log = logging.getLogger("modelserve.jobs")
CELERY_TASK = "modelserve.run_job"
_executors: weakref.WeakSet[Any] = weakref.WeakSet()


class Executor(Protocol):
    name: str

    def submit(self, job_id: str) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LocalExecutor:
    """A bounded pool of job threads in each process. Every process polls the database for
    queued jobs, so a job queued by a worker that restarts is taken by another."""

    name = "local"

    def __init__(self, runner: JobRunner, *, threads: int = 1, poll: float = 1.0) -> None:
        self.runner = runner
        self.threads = max(threads, 1)
        self.poll = poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pid = 0
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        _executors.add(self)

    def submit(self, job_id: str) -> None:
        self.start()
        self._wake.set()

    def start(self) -> None:
        """Start this process's job threads (threads do not survive fork: once per pid)."""
        if self._pid == os.getpid() and not self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid() and not self._stop.is_set():
                return
            self._pid = os.getpid()
            self._stop.clear()
            self.runner.stopping.clear()
            self._workers = [
                threading.Thread(target=self._loop, name=f"job-{i}", daemon=True)
                for i in range(self.threads)
            ]
            for thread in self._workers:
                thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.housekeeping()
                job_id = self.runner.claim_next(self.name)
                if job_id is not None:
                    self.runner.run(job_id)
                    continue
            except Exception:  # the loop must outlive a database hiccup
                log.exception("job loop error")
            self._wake.wait(self.poll)
            self._wake.clear()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop taking jobs; a running job stops at its next chunk and goes back to the queue."""
        if self._pid != os.getpid():
            return
        self._stop.set()
        self.runner.stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(deadline - time.monotonic(), 0.0))
        busy = [t.name for t in self._workers if t.is_alive()]
        if busy:
            # Still scoring: requeueing now would let another worker start the job while
            # this one writes the same files. Once this process is gone, `reap` fails it.
            log.warning("job threads still running at exit, their jobs are not requeued: %s", busy)
            return
        try:
            self.runner.requeue_mine()
        except Exception:
            log.exception("could not requeue this worker's jobs")


class CeleryExecutor:
    """Sends each job to the Celery workers (`modelserve worker`) through the broker."""

    name = "celery"

    def __init__(self, app: Any) -> None:
        self.app = app

    def submit(self, job_id: str) -> None:
        self.app.send_task(CELERY_TASK, args=[job_id])

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def stop_all() -> None:
    """A stopping web worker hands its jobs back (gunicorn's worker_exit, atexit)."""
    for executor in list(_executors):
        executor.stop()
