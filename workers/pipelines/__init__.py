"""Batch handlers of the worker: decode, state, inference, output records, dead letters, delivery."""
