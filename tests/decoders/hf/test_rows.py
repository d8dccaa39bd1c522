"""RowBatch bookkeeping on a tiny random llama: choices and companion rows join, count, rewind
and leave together; a batched step equals solo passes over each row's own history."""

from types import SimpleNamespace

import torch

from lethe.decoders.hf.rows import RowBatch
from lethe.decoders.params import SamplingParams
from lethe.decoders.sequence import Sequence, Step
from tests.tiny_model import tiny_loaded, tiny_tokenizer

CPU = torch.device("cpu")


def job_of(prompt: list[int], n: int) -> SimpleNamespace:
    """What RowBatch reads of a job: its sequences and whether it was cancelled."""
    decoder = tiny_tokenizer().backend_tokenizer
    seqs = [
        Sequence(i, prompt, SamplingParams(max_tokens=8), decoder, frozenset()) for i in range(n)
    ]
    return SimpleNamespace(sequences=seqs, cancelled=False)


class Fed:
    """A companion that keeps what it is fed."""

    def __init__(self) -> None:
        self.logits: list[torch.Tensor] = []

    def feed(self, logits: torch.Tensor) -> None:
        self.logits.append(logits)


def solo(model, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0, -1].float()


def test_rows_join_step_rewind_and_leave_with_their_choice() -> None:
    model = tiny_loaded().model
    batch = RowBatch(model, CPU)
    prompt, prefix = [5, 6, 7], [40, 41, 42, 43]
    job = job_of(prompt, 2)
    fed = [Fed(), Fed()]
    none = [Step("", None), Step("", None)]
    with torch.inference_mode():
        kv, _ = batch.prefill(prompt)
        batch.join(kv, job, [0], none, [None, None])  # the first choice's own row
        ckv, _ = batch.prefill([*prefix, *prompt])
        batch.join(ckv, job, [0], none, fed)  # its companion row (longer: left-padded)
        assert len(batch) == 2 and batch.choices() == 1  # companions do not count
        seq = job.sequences[0]
        for token in (9, 10, 11):
            seq.append(token)
            batch.refresh()
            logits = batch.feed_companions(batch.forward())
        assert logits == [0]  # only the choice's own row is returned
        assert torch.allclose(
            fed[0].logits[-1], solo(model, [*prefix, *prompt, 9, 10, 11]), atol=1e-4
        )
        batch.rewind(seq, 2)  # both rows lose the last two cache entries...
        batch.last = [10, 10]  # ...and are fed 10 again, as after a rollback to [9, 10]
        out = batch.forward()
        batch.feed_companions(out)
    assert torch.allclose(out[0], solo(model, [*prompt, 9, 10]), atol=1e-4)
    assert torch.allclose(fed[0].logits[-1], solo(model, [*prefix, *prompt, 9, 10]), atol=1e-4)
    job.cancelled = True
    batch.drop()
    assert len(batch) == 0 and batch.choices() == 0


def test_a_finished_choice_stops_counting_before_its_rows_go() -> None:
    batch = RowBatch(tiny_loaded().model, CPU)
    job = job_of([5, 6], 2)
    with torch.inference_mode():
        kv, _ = batch.prefill([5, 6])
        kv2, _ = batch.prefill([5, 6])
        kv.merge(kv2)
        batch.join(kv, job, [0, 1], [Step("", None)] * 2, [None, None])
    assert batch.choices() == 2
    job.sequences[1].finish_reason = "stop"
    assert batch.choices() == 1 and len(batch) == 2  # counted out at once, dropped later
    batch.drop()
    assert len(batch) == 1 and batch.seqs == [job.sequences[0]]
