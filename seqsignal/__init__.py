"""seqsignal: real-time Seq2Seq signals (behavior, sentiment, rumor) for social-media streams."""

__version__ = "0.1.0"
