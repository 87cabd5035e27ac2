"""The text models (sentiment, rumor): tokenizer, Seq2Seq text model, training, evaluation, baselines."""
