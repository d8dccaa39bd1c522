"""A batched KV cache whose rows can join, leave and be masked between decoding steps.

transformers' ``DynamicLayer`` grows by ``torch.cat`` on every step, copying the whole cache each
time: at batch 8 and 1,000 tokens that is hundreds of MB per step on the CPU. ``GrowableLayer``
keeps a buffer with spare capacity (doubling), so a step writes one column in place.

``BatchKV`` holds one cache for all running rows, right-aligned: every row writes its next token
into the same column, and a row that joined with a shorter history is padded on the left. The
attention mask marks real columns (1) and padding or rolled-back columns (0); each row keeps its
own position ids, so padding never shifts rotary positions.

Example:
    >>> kv = BatchKV.empty()
    >>> kv.batch_size, kv.length
    (0, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

_MIN_CAPACITY = 64


class GrowableLayer(DynamicLayer):
    """A ``DynamicLayer`` that appends in place into a buffer with spare capacity."""

    def __init__(self) -> None:
        super().__init__()
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._len = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new keys/values after the current length; return views of the filled part."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        need = self._len + key_states.shape[-2]
        if self._k is None or need > self._k.shape[-2]:
            self._reserve(key_states, value_states, need)
        assert self._k is not None and self._v is not None
        self._k[..., self._len : need, :] = key_states
        self._v[..., self._len : need, :] = value_states
        self._set_length(need)
        return self.keys, self.values

    def _reserve(self, key_states: torch.Tensor, value_states: torch.Tensor, need: int) -> None:
        old = 0 if self._k is None else self._k.shape[-2]
        capacity = max(need, 2 * old, _MIN_CAPACITY)
        shape_k = (*key_states.shape[:-2], capacity, key_states.shape[-1])
        shape_v = (*value_states.shape[:-2], capacity, value_states.shape[-1])
        new_k = key_states.new_zeros(shape_k)
        new_v = value_states.new_zeros(shape_v)
        if self._k is not None and self._v is not None and self._len:
            new_k[..., : self._len, :] = self._k[..., : self._len, :]
            new_v[..., : self._len, :] = self._v[..., : self._len, :]
        self._k, self._v = new_k, new_v

    def _set_length(self, length: int) -> None:
        assert self._k is not None and self._v is not None
        self._len = length
        self.keys = self._k[..., :length, :]
        self.values = self._v[..., :length, :]

    def load(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the content with ``keys``/``values`` (batch, heads, length, dim)."""
        self.is_initialized = True
        self.device = keys.device
        self._k, self._v, self._len = None, None, 0
        self._reserve(keys, values, keys.shape[-2])
        assert self._k is not None and self._v is not None
        self._k[..., : keys.shape[-2], :] = keys
        self._v[..., : values.shape[-2], :] = values
        self._set_length(keys.shape[-2])

    def crop(self, tokens_to_remove: int) -> None:
        """Drop the last ``-tokens_to_remove`` columns (transformers' negative convention)."""
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative count of columns to remove")
        if tokens_to_remove and self._k is not None:
            self._set_length(max(self._len + tokens_to_remove, 0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the rows in ``indices``, in that order."""
        if self._k is not None and self._v is not None:
            self._k = self._k.index_select(0, indices)
            self._v = self._v.index_select(0, indices)
            self._set_length(self._len)

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat every row ``repeats`` times (n choices sharing one prompt)."""
        if self._k is not None and self._v is not None:
            self._k = self._k.repeat_interleave(repeats, dim=0)
            self._v = self._v.repeat_interleave(repeats, dim=0)
            self._set_length(self._len)


def new_cache() -> Cache:
    """An empty cache whose layers are created on first use."""
    return Cache(layer_class_to_replicate=GrowableLayer)


@dataclass(slots=True)
class BatchKV:
    """The running batch's KV cache, its attention mask and each row's next position id."""

    cache: Cache
    mask: torch.Tensor  # (rows, columns) int64, 1 = attend
    positions: torch.Tensor  # (rows,) int64, position id of each row's next token

    @classmethod
    def empty(cls, device: torch.device | None = None) -> BatchKV:
        """A batch with no rows."""
        dev = device or torch.device("cpu")
        return cls(
            new_cache(),
            torch.zeros((0, 0), dtype=torch.long, device=dev),
            torch.zeros((0,), dtype=torch.long, device=dev),
        )

    @property
    def batch_size(self) -> int:
        """Number of rows."""
        return int(self.mask.shape[0])

    @property
    def length(self) -> int:
        """Number of cache columns (the longest row's history plus left padding)."""
        return int(self.mask.shape[1])

    def layers(self) -> list[GrowableLayer]:
        """The cache layers (all ``GrowableLayer``)."""
        return [layer for layer in self.cache.layers if isinstance(layer, GrowableLayer)]

    def append_column(self) -> torch.Tensor:
        """Extend the mask by one attended column for the step about to run; returns the mask."""
        ones = torch.ones((self.batch_size, 1), dtype=self.mask.dtype, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        return self.mask

    def rewind(self, row: int, columns: int) -> None:
        """Take back ``row``'s last ``columns`` cache entries (a rollback of that row alone).

        The entries are masked out rather than removed, so the other rows are untouched; the
        row's position id moves back with them.
        """
        attended = self.mask[row].nonzero().squeeze(1)
        self.mask[row, attended[len(attended) - columns :]] = 0
        self.positions[row] -= columns

    def select(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in that order) and drop the left columns no row attends to."""
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        for layer in self.layers():
            layer.batch_select_indices(index)
        self.mask = self.mask.index_select(0, index)
        self.positions = self.positions.index_select(0, index)
        self._trim_left()

    def merge(self, other: BatchKV) -> None:
        """Append ``other``'s rows after this batch's, left-padding the shorter history."""
        if self.batch_size == 0:
            self.cache, self.mask, self.positions = other.cache, other.mask, other.positions
            return
        width = max(self.length, other.length)
        mine, theirs = self.layers(), other.layers()
        for a, b in zip(mine, theirs, strict=True):
            keys = torch.cat([_left_pad(a.keys, width), _left_pad(b.keys, width)], dim=0)
            values = torch.cat([_left_pad(a.values, width), _left_pad(b.values, width)], dim=0)
            a.load(keys, values)
        self.mask = torch.cat([_left_pad_mask(self.mask, width), _left_pad_mask(other.mask, width)])
        self.positions = torch.cat([self.positions, other.positions])

    def _trim_left(self) -> None:
        if self.batch_size == 0:
            self.cache, self.mask = new_cache(), self.mask[:, :0]
            return
        attended = self.mask.any(dim=0).nonzero()
        first = int(attended[0]) if attended.numel() else self.length
        if first == 0:
            return
        for layer in self.layers():
            layer.load(layer.keys[..., first:, :], layer.values[..., first:, :])
        self.mask = self.mask[:, first:]


def _left_pad(t: torch.Tensor, width: int) -> torch.Tensor:
    pad = width - t.shape[-2]
    if pad == 0:
        return t
    zeros = t.new_zeros((*t.shape[:-2], pad, t.shape[-1]))
    return torch.cat([zeros, t], dim=-2)


def _left_pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    pad = width - mask.shape[1]
    if pad == 0:
        return mask
    return torch.cat([mask.new_zeros((mask.shape[0], pad)), mask], dim=1)
