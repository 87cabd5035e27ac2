"""Text baselines beside the models: VADER (lexicon) and TF-IDF word+char n-grams + logistic regression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from seqsignal.schemas.events import SENTIMENT_LABELS

VADER_THRESHOLD = 0.05  # the compound-score cut-offs VADER's authors recommend


def vader_labels(texts: Sequence[str]) -> list[str]:
    """negative / neutral / positive from VADER's compound score (>= 0.05 positive, <= -0.05 negative)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    out = []
    for t in texts:
        c = sia.polarity_scores(t)["compound"]
        out.append("positive" if c >= VADER_THRESHOLD else "negative" if c <= -VADER_THRESHOLD else "neutral")
    return out


def vader_probs(texts: Sequence[str]) -> np.ndarray:
    """(B, 3) VADER's neg/neu/pos proportions, renormalised, in SENTIMENT_LABELS order."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    rows = [[s["neg"], s["neu"], s["pos"]] for s in (sia.polarity_scores(t) for t in texts)]
    p = np.asarray(rows, dtype=np.float64).reshape(-1, 3) + 1e-9
    return p / p.sum(axis=1, keepdims=True)


class TfidfLR:
    """TF-IDF (word 1-2-grams + character 2-5-grams, so Chinese works too) -> class-balanced logistic
    regression (or, `svc`, a class-balanced LinearSVC: no `proba`). Labels are strings; `proba` columns
    follow `labels`."""

    def __init__(self, C: float = 1.0, max_features: int = 200_000, svc: bool = False) -> None:
        features = FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(
                        ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=max_features
                    ),
                ),
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(2, 5),
                        min_df=2,
                        sublinear_tf=True,
                        max_features=max_features,
                    ),
                ),
            ]
        )
        from sklearn.svm import LinearSVC

        clf = (LinearSVC(C=C, class_weight="balanced") if svc
               else LogisticRegression(C=C, max_iter=1000, class_weight="balanced"))
        self.pipe = Pipeline([("tfidf", features), ("clf", clf)])
        self.labels: list[str] = []

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TfidfLR:
        self.pipe.fit(list(texts), list(labels))
        self.labels = [str(c) for c in self.pipe.classes_]
        return self

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.pipe.predict_proba(list(texts)))

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(x) for x in self.pipe.predict(list(texts))]

    def score_of(self, texts: Sequence[str], positive: str) -> np.ndarray:
        """Probability of one class (e.g. 'rumour') per text."""
        return self.proba(texts)[:, self.labels.index(positive)]


def sentiment_label_order() -> list[str]:
    return list(SENTIMENT_LABELS)
