"""Decoders: engines, the generation loop and logits processors.

The public face of this layer is small: a :class:`Turn` goes in, :class:`GenerationOutput`
deltas come out of :meth:`Engine.generate`, and per-request :class:`LogitsProcessor` factories
plug into the loop. Imports ``lethe.indices`` only.
"""

from lethe.decoders.engine import Capabilities, Engine, EngineStats
from lethe.decoders.output import FinishReason, GenerationOutput, TokenLogprob, TopLogprob, Usage
from lethe.decoders.params import SamplingParams
from lethe.decoders.processors import LogitsProcessor, ProcessorFactory, SequenceView
from lethe.decoders.turn import Message, Turn

__all__ = [
    "Capabilities",
    "Engine",
    "EngineStats",
    "FinishReason",
    "GenerationOutput",
    "LogitsProcessor",
    "Message",
    "ProcessorFactory",
    "SamplingParams",
    "SequenceView",
    "TokenLogprob",
    "TopLogprob",
    "Turn",
    "Usage",
]
