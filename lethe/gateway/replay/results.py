"""The replay's out directory as a resumable log: ``run.json`` + ``results.jsonl``.

Every scored probe is appended to ``results.jsonl`` as one JSON line and flushed at once, so an
interrupted run (Ctrl-C, a crash, a lost connection) loses at most the probes in flight. Rerunning
the same command reads the log and replays only what is missing. ``run.json`` records what the
results belong to (the suite's fingerprint and the settings that change outputs); a rerun with a
different suite or settings in the same directory is refused (:class:`RunMismatch`) rather than
mixing two runs, unless it starts fresh.

Example:
    >>> log = ResultLog.open(tmp_dir, {"suite": "abc", "max_tokens": 48})   # doctest: +SKIP
    >>> log.done()  # {(endpoint, probe_id): ProbeResult} replayed already  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from lethe.gateway.logs import kv
from lethe.gateway.replay.scoring import ProbeResult

logger = logging.getLogger(__name__)

RUN_FILE: Final = "run.json"
RESULTS_FILE: Final = "results.jsonl"


class RunMismatch(Exception):
    """The out directory holds results of a different run."""


class ResultLog:
    """Append-only results of one run; see the module docstring."""

    def __init__(self, out_dir: Path, manifest: dict[str, Any]) -> None:
        self.out_dir = out_dir
        self.manifest = manifest
        self.path = out_dir / RESULTS_FILE
        self._results: dict[tuple[str, str], ProbeResult] = {}

    @classmethod
    def open(cls, out_dir: str | Path, manifest: dict[str, Any], fresh: bool = False) -> ResultLog:
        """The log in ``out_dir`` for a run described by ``manifest`` (JSON-serialisable)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        run_file = out / RUN_FILE
        log = cls(out, manifest)
        if fresh:
            log.path.unlink(missing_ok=True)
        elif run_file.exists() and log.path.exists():
            previous = json.loads(run_file.read_text("utf-8"))
            if previous != json.loads(json.dumps(manifest)):
                keys = {*previous, *manifest}
                changed = sorted(k for k in keys if previous.get(k) != manifest.get(k))
                raise RunMismatch(
                    f"{out} holds results of a different run (changed: {', '.join(changed)}); "
                    "use --fresh to discard them, or another --out"
                )
            log._read()
        run_file.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", "utf-8")
        return log

    def _read(self) -> None:
        """Load the results so far; a line cut short by an interruption is dropped from the
        file too, so that the next append starts on a line of its own."""
        text = self.path.read_text("utf-8")
        kept: list[str] = []
        for line in text.splitlines():
            try:
                result = ProbeResult.model_validate_json(line)
            except ValidationError:
                continue
            self._results[(result.endpoint, result.probe_id)] = result
            kept.append(line)
        skipped = len(text.splitlines()) - len(kept)
        if skipped or (text and not text.endswith("\n")):
            self.path.write_text("".join(f"{line}\n" for line in kept), "utf-8")
        logger.info(kv("replay_resume", results=len(self._results), skipped_lines=skipped))

    def done(self) -> dict[tuple[str, str], ProbeResult]:
        """Results so far, by ``(endpoint, probe_id)``."""
        return dict(self._results)

    def append(self, result: ProbeResult) -> None:
        """Record one result durably (one line, flushed)."""
        self._results[(result.endpoint, result.probe_id)] = result
        with self.path.open("a", encoding="utf-8") as f:
            f.write(result.model_dump_json() + "\n")
            f.flush()

    def results(self, endpoint: str | None = None) -> list[ProbeResult]:
        """All results, or one endpoint's."""
        return [r for (e, _), r in self._results.items() if endpoint is None or e == endpoint]
