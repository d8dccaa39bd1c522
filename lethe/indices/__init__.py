"""Indices: forget targets, the durable registry, the embedder, the FAISS index, the lexical matcher.

The lowest layer: it knows nothing of decoding or HTTP.
"""
