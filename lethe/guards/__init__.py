"""Guards: scope classifier, in-context unlearning, output filter, agentic unlearning.

Imports ``lethe.decoders`` and ``lethe.indices``; never raises HTTP errors.
"""
