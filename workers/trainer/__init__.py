"""The trainer process: durable buffer, per-task steps, the service loop."""
