"""The ``vllm`` engine: vLLM's ``AsyncLLM`` in-process on a GPU, with Lethe's forbidden-token
masking as one batch-level logits processor (the ``lethe[vllm]`` extra).

Importing this package imports no vLLM: ``config.py``, ``extra_args.py``, ``state.py`` and
``requests.py`` are plain Python and torch (tested on the CPU); ``engine.py`` imports vLLM only
when the engine loads, and ``processor.py`` (the vLLM adapter) only runs inside vLLM.
"""
