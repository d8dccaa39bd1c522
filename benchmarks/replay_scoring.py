"""How fast the replay scores outputs, against a plain lower-cased substring check.

Scoring folds every output (and its reversed and base64-decoded variants) and looks for each
accepted answer on word boundaries; a suite of 100k probes must not wait on it. Both sides score
the same outputs (48-token-like answers, half of them containing an answer); the ratio says what
the word-boundary, spelling-proof matching costs over the naive check that would miss
``E-i-n-s-t-e-i-n`` and count ``Ron`` inside ``Ronald``.

    python -m benchmarks.replay_scoring [--outputs 2000] [--answers 1 3 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import time

from benchmarks.common import load_average, median, save
from lethe.gateway.replay.client import Completion
from lethe.gateway.replay.scoring import score_probe
from lethe.gateway.replay.suite import Probe

WORDS = [
    "the",
    "a",
    "of",
    "and",
    "in",
    "to",
    "is",
    "was",
    "he",
    "she",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "his",
    "her",
    "by",
    "at",
    "from",
    "which",
    "theory",
    "physicist",
    "capital",
    "city",
    "famous",
    "known",
    "wrote",
    "discovered",
    "company",
    "founded",
]


def outputs(n: int, answers: list[str], rng: random.Random) -> list[str]:
    """``n`` answer-length texts, every other one containing one of ``answers``."""
    texts = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(36)]
        if i % 2:
            words.insert(rng.randrange(len(words)), rng.choice(answers))
        texts.append(" ".join(words).capitalize() + ".")
    return texts


def naive(texts: list[str], answers: list[str]) -> int:
    lowered = [a.lower() for a in answers]
    return sum(any(a in t.lower() for a in lowered) for t in texts)


def lethe(texts: list[str], probe: Probe) -> int:
    hits = 0
    for text in texts:
        hits += score_probe(probe, "b", Completion((text,), 0.1, 1.0, 10, 36)).hit
    return hits


def run(n_outputs: int, answer_counts: list[int], rounds: int) -> dict[str, object]:
    rng = random.Random(0)
    rows = []
    for count in answer_counts:
        answers = [f"Answer{i} Name{i}" for i in range(count)]
        probe = Probe(id="p", kind="forget", prompt="q", answers=tuple(answers))
        texts = outputs(n_outputs, answers, rng)
        ours, base = [], []
        for _ in range(rounds):  # alternate, so machine noise hits both alike
            t0 = time.perf_counter()
            base_hits = naive(texts, answers)
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            our_hits = lethe(texts, probe)
            ours.append(time.perf_counter() - t0)
        assert our_hits == base_hits == n_outputs // 2
        row = {
            "answers": count,
            "lethe_outputs_per_s": n_outputs / median(ours),
            "naive_outputs_per_s": n_outputs / median(base),
            "slowdown": median(ours) / median(base),
        }
        rows.append(row)
        print(
            f"answers={count:3d}  lethe {row['lethe_outputs_per_s']:9.0f}/s  "
            f"naive {row['naive_outputs_per_s']:11.0f}/s  ratio {row['slowdown']:.0f}x"
        )
    return {"outputs": n_outputs, "rounds": rounds, "load": load_average(), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", type=int, default=2000)
    parser.add_argument("--answers", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(args.outputs, args.answers, args.rounds)
    print(f"load average {result['load']:.2f}; saved to {save('replay_scoring', result)}")


if __name__ == "__main__":
    main()
