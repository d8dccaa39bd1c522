from __future__ import annotations

import pytest

from lethe.indices.registry import Put
from lethe.indices.sqlite_registry import SqliteRegistry
from tests.indices.registry_contract import RegistryContract, target, vectors


class TestSqliteRegistry(RegistryContract):
    """The registry contract on one SQLite file; every handle opens the same file."""

    @pytest.fixture
    def open_registry(self, tmp_path):
        opened: list[SqliteRegistry] = []

        def open_() -> SqliteRegistry:
            opened.append(SqliteRegistry.in_dir(tmp_path))
            return opened[-1]

        yield open_
        for reg in opened:
            reg.close()


def test_in_memory_registry_works(tmp_path):
    reg = SqliteRegistry(":memory:")
    reg.apply([Put(target(1), vectors())])
    assert reg.version() == 1 and reg.get("t1") is not None
    reg.close()


def test_patterns_are_recompiled_when_the_normalizer_changes(tmp_path):
    reg = SqliteRegistry.in_dir(tmp_path)
    reg.apply([Put(target(1, aliases=["P-One"]), vectors())])
    with reg._db.write() as conn:
        conn.execute("UPDATE targets SET patterns = '[]'")
        conn.execute("UPDATE meta SET value = 'old-rules' WHERE key = 'normalizer'")
    reg.close()
    again = SqliteRegistry.in_dir(tmp_path)
    with again.dump() as dump:
        (record,) = list(dump)
    assert [p.key for p in record.patterns] == ["person1", "pone"] and again.version() == 1
    again.close()
