"""Event contracts v1: typed events, JSON Schema files, the codec and topic names."""
