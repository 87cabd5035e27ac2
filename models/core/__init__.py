"""Family-independent model parts: Seq2Seq, checkpoints, registry, promotion, metrics, serving contract."""
