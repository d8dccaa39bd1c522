"""A tiny, randomly initialised llama and a byte-level BPE tokenizer, built in-process.

For engine tests that need a model's shape and a real tokenizer's behaviour (byte-level BPE,
multi-byte characters split over tokens, a chat template, an EOS token) but not its knowledge.
Builds in well under a second.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from lethe.decoders.hf.loader import LoadedModel

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France. Berlin is the capital of Germany.",
    "Café, naïve, résumé, Müller, São Paulo, Ελληνικά, русский, 日本語, 中文, 🙂👍",
    "Hello world! How are you today? 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.",
]


@lru_cache(maxsize=1)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (GPT-2 style) with ChatML special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        unk_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    )


def tiny_model(seed: int = 0) -> LlamaForCausalLM:
    """A 2-layer llama over the tiny tokenizer's vocabulary, random weights from ``seed``."""
    tok = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    # Sharpen the output so that greedy decoding does not hit near-ties in float32.
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
    return model


def tiny_loaded(seed: int = 0, max_model_len: int = 256) -> LoadedModel:
    """A :class:`LoadedModel` for ``HFEngine.from_loaded``."""
    tok = tiny_tokenizer()
    return LoadedModel(
        model=tiny_model(seed),
        tokenizer=tok,
        model_id="tiny-llama",
        dtype=torch.float32,
        device=torch.device("cpu"),
        max_model_len=max_model_len,
        eos_token_ids=frozenset({tok.eos_token_id}),
    )
