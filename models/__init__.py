"""Seq2Seq models, features, training, evaluation and the model registry (no Kafka, no Redis)."""
