"""Batched, left-padded decoding must give each row what it would get decoded alone."""

import pytest
import torch

from lethe.decoders.hf.kv_cache import BatchKV, GrowableLayer, new_cache
from tests.tiny_model import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=1)


def prefill(model, ids):
    cache, n = new_cache(), len(ids)
    out = model(
        input_ids=torch.tensor([ids]),
        position_ids=torch.arange(n)[None],
        attention_mask=torch.ones(1, n, dtype=torch.long),
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    kv = BatchKV(cache, torch.ones(1, n, dtype=torch.long), torch.tensor([n]))
    return kv, out.logits[:, -1]


def step(model, kv, tokens):
    mask = kv.append_column()
    out = model(
        input_ids=torch.tensor(tokens)[:, None],
        position_ids=kv.positions[:, None],
        attention_mask=mask,
        cache=kv.cache,
        use_cache=True,
        logits_to_keep=1,
    )
    kv.positions += 1
    return out.logits[:, -1]


def solo(model, ids, steps):
    kv, logits = prefill(model, ids)
    tokens = [int(logits.argmax())]
    for _ in range(steps - 1):
        tokens.append(int(step(model, kv, [tokens[-1]])[0].argmax()))
    return tokens


@torch.inference_mode()
def test_rows_joining_and_leaving_match_solo_decoding(model):
    prompts = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [20, 21, 22], [30, 31, 32, 33, 34, 35]]
    expected = [solo(model, p, 12) for p in prompts]
    kv, logits = prefill(model, prompts[0])
    got = {0: [int(logits.argmax())]}
    rows = [0]
    for t in range(16):
        if t in (3, 5):  # rows 1 and 2 join mid-way, with shorter histories
            new = 1 if t == 3 else 2
            kv_new, logits_new = prefill(model, prompts[new])
            kv.merge(kv_new)
            rows.append(new)
            got[new] = [int(logits_new.argmax())]
        logits = step(model, kv, [got[r][-1] for r in rows])
        for i, r in enumerate(rows):
            got[r].append(int(logits[i].argmax()))
        done = [i for i, r in enumerate(rows) if len(got[r]) >= 12]
        if done:
            keep = [i for i in range(len(rows)) if i not in done]
            kv.select(keep)
            rows = [rows[i] for i in keep]
        if not rows:
            break
    assert [got[i][:12] for i in range(3)] == expected


@torch.inference_mode()
def test_select_trims_left_padding_no_row_needs(model):
    kv, _ = prefill(model, list(range(5, 25)))
    short, _ = prefill(model, [5, 6, 7])
    kv.merge(short)
    assert kv.length == 20
    kv.select([1])
    assert kv.length == 3
    assert kv.layers()[0].keys.shape[-2] == 3


def test_growable_layer_appends_in_place_and_crops():
    layer = GrowableLayer()
    k = torch.randn(2, 1, 3, 4)
    keys, _ = layer.update(k, k.clone())
    assert keys.shape == (2, 1, 3, 4)
    buffer = layer._k
    one = torch.randn(2, 1, 1, 4)
    keys, _ = layer.update(one, one.clone())
    assert layer._k is buffer  # no reallocation: spare capacity
    assert torch.equal(keys[..., :3, :], k) and torch.equal(keys[..., 3:, :], one)
    layer.crop(-2)
    assert layer.get_seq_length() == 2
    layer.batch_select_indices(torch.tensor([1]))
    assert torch.equal(layer.keys, k[1:, :, :2])
