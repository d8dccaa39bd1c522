from __future__ import annotations

import threading
import time

from lethe.indices.maintenance import Maintainer


def test_wake_runs_work_and_errors_do_not_kill_the_thread():
    calls: list[int] = []
    second = threading.Event()

    def work():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        second.set()

    m = Maintainer(work, interval_s=60)
    m.wake()
    time.sleep(0.05)
    m.wake()
    assert second.wait(5)
    m.stop()
    assert len(calls) >= 2


def test_runs_periodically_without_wake():
    ran = threading.Event()
    m = Maintainer(ran.set, interval_s=0.01)
    assert ran.wait(5)
    m.stop()


def test_stop_ends_the_thread():
    m = Maintainer(lambda: None, interval_s=60)
    m.stop(timeout=5)
    assert not m._thread.is_alive()
