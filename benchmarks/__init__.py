"""seqsignal benchmarks: end to end on the local stack, model micro-benchmarks, footprint, GPU."""
