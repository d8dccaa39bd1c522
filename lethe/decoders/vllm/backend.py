"""vLLM's ``AsyncLLM`` behind :class:`~lethe.decoders.vllm.engine.VLLMEngine`.

This module imports vLLM; the engine imports it in ``load()`` only, after checking that vLLM
is installed. It is the only place that builds vLLM objects: the engine arguments and the
sampling keyword arguments come from ``requests.py`` as plain data, and vLLM's outputs are read
by ``outputs.py``. vLLM's errors become Lethe's here: a request vLLM refuses (a ``ValueError``
or a ``VLLMClientError``: malformed Lethe data, too many log-probabilities, ...) is an
:class:`InvalidRequest`, any other failure an :class:`EngineError`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

from vllm import SamplingParams
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.inputs import TokensPrompt
from vllm.sampling_params import RequestOutputKind
from vllm.v1.engine.async_llm import AsyncLLM

from lethe.decoders.vllm.config import VLLMEngineConfig
from lethe.decoders.vllm.processor import LetheLogitsProcessor
from lethe.decoders.vllm.requests import engine_args
from lethe.errors import EngineError, InvalidRequest, LetheError

logger = logging.getLogger(__name__)


def _client_errors() -> tuple[type[Exception], ...]:
    """vLLM's errors for a request it refuses: ``ValueError`` (its validation errors, and the
    processor's ``validate_params``), and ``VLLMClientError`` where a release has it (there,
    validation errors need not be ``ValueError``s)."""
    try:
        client = importlib.import_module("vllm.exceptions").VLLMClientError
    except (ImportError, AttributeError):
        return (ValueError,)
    return (ValueError, client)


CLIENT_ERRORS = _client_errors()


class VLLMBackend:
    """One ``AsyncLLM`` with Lethe's logits processor registered."""

    def __init__(self, config: VLLMEngineConfig) -> None:
        args = AsyncEngineArgs(**engine_args(config, LetheLogitsProcessor))
        self._llm = AsyncLLM.from_engine_args(args)
        self.max_model_len: int = self._llm.model_config.max_model_len

    async def generate(
        self, prompt_ids: list[int], sampling: dict[str, Any], request_id: str
    ) -> AsyncGenerator[Any, None]:
        """vLLM's ``RequestOutput`` deltas for one request; closing the iterator aborts it."""
        try:
            params = SamplingParams(**sampling, output_kind=RequestOutputKind.DELTA)
            prompt = TokensPrompt(prompt_token_ids=prompt_ids)
            stream = self._llm.generate(prompt, params, request_id)
            async with contextlib.aclosing(stream):  # closed at once: vLLM aborts the request
                async for output in stream:
                    yield output
        except LetheError:
            raise
        except CLIENT_ERRORS as exc:
            raise InvalidRequest(str(exc)) from None
        except Exception as exc:
            logger.exception("event=vllm_error request_id=%s", request_id)
            raise EngineError(f"the vLLM engine failed: {type(exc).__name__}") from exc

    def shutdown(self) -> None:
        """Stop vLLM's engine core and free the GPU."""
        self._llm.shutdown()
