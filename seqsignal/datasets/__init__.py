"""Loaders that turn the real datasets (shared/data formats) into typed events."""
