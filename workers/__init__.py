"""The streaming worker, trainer and replay: the only code that talks to Kafka and Redis."""
