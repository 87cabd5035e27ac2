"""The behavior model: features, predictor, training, evaluation and baselines."""
