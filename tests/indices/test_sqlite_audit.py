from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lethe.indices.audit import AuditEvent, AuditQuery
from lethe.indices.sqlite_audit import SqliteAuditLog

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def log(tmp_path):
    audit = SqliteAuditLog.in_dir(tmp_path)
    events = [
        AuditEvent(
            f"req-{i % 3}",
            f"t{i % 2}",
            "output_filter",
            "redact",
            i,
            {"n": i},
            at=T0 + timedelta(minutes=i),
        )
        for i in range(10)
    ]
    audit.record(events)
    yield audit
    audit.close()


@pytest.mark.parametrize(
    ("query", "expected_versions"),
    [
        (AuditQuery(), list(range(10))),
        (AuditQuery(target_id="t1"), [1, 3, 5, 7, 9]),
        (AuditQuery(request_id="req-0"), [0, 3, 6, 9]),
        (AuditQuery(target_id="t0", request_id="req-0"), [0, 6]),
        (AuditQuery(technique="refusal"), []),
        (AuditQuery(since=T0 + timedelta(minutes=7)), [7, 8, 9]),
        (AuditQuery(until=T0 + timedelta(minutes=2)), [0, 1]),
        (AuditQuery(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)), [2, 3]),
        (AuditQuery(limit=3), [0, 1, 2]),
        (AuditQuery(after=8), [8, 9]),
    ],
)
def test_query_filters(log, query, expected_versions):
    assert [e.registry_version for e in log.query(query).events] == expected_versions


def test_pagination_covers_all_once(log):
    page = log.query(AuditQuery(limit=4))
    seen = [e.id for e in page.events]
    while page.next_cursor is not None:
        page = log.query(AuditQuery(limit=4, after=page.next_cursor))
        seen += [e.id for e in page.events]
    assert seen == list(range(1, 11))


def test_event_round_trip(log):
    (event,) = log.query(AuditQuery(request_id="req-1", target_id="t1", limit=1)).events
    assert event.detail == {"n": 1} and event.at == T0 + timedelta(minutes=1)
    assert event.technique == "output_filter" and event.action == "redact" and event.id == 2


@pytest.mark.parametrize(("store_bodies", "body"), [(False, None), (True, "the answer")])
def test_bodies_only_when_configured(tmp_path, store_bodies, body):
    audit = SqliteAuditLog(tmp_path / "a.sqlite3", store_bodies=store_bodies)
    audit.record([AuditEvent("r", "t", "refusal", "refuse", 1, body="the answer")])
    assert audit.query(AuditQuery()).events[0].body == body
    audit.close()


def test_time_defaults_to_now(tmp_path):
    audit = SqliteAuditLog(tmp_path / "a.sqlite3")
    before = datetime.now(UTC)
    audit.record([AuditEvent("r", "t", "refusal", "refuse", 1)])
    assert audit.query(AuditQuery()).events[0].at >= before
    audit.close()
