from __future__ import annotations

import threading
import time

from lethe.indices.rwlock import RWLock


def test_readers_share_writers_exclude():
    lock = RWLock()
    inside: list[str] = []
    peak_readers = 0
    guard = threading.Lock()

    def reader():
        nonlocal peak_readers
        with lock.read():
            with guard:
                inside.append("r")
                peak_readers = max(peak_readers, inside.count("r"))
            time.sleep(0.05)
            with guard:
                inside.remove("r")

    def writer():
        with lock.write():
            with guard:
                assert not inside
                inside.append("w")
            time.sleep(0.01)
            with guard:
                inside.remove("w")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads += [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak_readers >= 2 and not inside


def test_waiting_writer_holds_back_new_readers():
    lock = RWLock()
    order: list[str] = []
    first_reader_in = threading.Event()

    def long_reader():
        with lock.read():
            first_reader_in.set()
            time.sleep(0.1)
            order.append("reader1")

    def writer():
        with lock.write():
            order.append("writer")

    def late_reader():
        with lock.read():
            order.append("reader2")

    t1 = threading.Thread(target=long_reader)
    t1.start()
    first_reader_in.wait()
    t2 = threading.Thread(target=writer)
    t2.start()
    time.sleep(0.03)  # the writer is waiting now
    t3 = threading.Thread(target=late_reader)
    t3.start()
    for t in (t1, t2, t3):
        t.join()
    assert order == ["reader1", "writer", "reader2"]
