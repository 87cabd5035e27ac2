"""Model serving in the worker: the inference engine and the one hot-swap path."""
