"""Rumour fast tier inputs: normalisation, a word/char vocabulary for the GRU and hashed TF-IDF n-gram bags.

The lexical channel's features are hashed (sklearn's HashingVectorizer, murmurhash3, vectorised): word
1-2-grams, character n-grams (2-5 within words for English, 1-3 for Chinese) and the replies' word unigrams
in their own namespace (a column shift), weighted by sublinear tf x idf (idf from the training threads) and
L2-normalised per thread: the layout of an `nn.EmbeddingBag` with `per_sample_weights`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from seqsignal.models.text.tokenizer import HANDLE_RE, HASHTAG_RE, NUMBER_RE, URL_RE

PAD_ID, UNK_ID, SEP_ID = 0, 1, 2
MAX_SOURCE, MAX_REPLY, MAX_REPLIES = 48, 24, 50
_URL, _HANDLE = re.compile(URL_RE), re.compile(HANDLE_RE)
_HASHTAG, _NUMBER = re.compile(HASHTAG_RE), re.compile(NUMBER_RE)
_TOKEN_RE = r"[\u3400-\u9fff\uf900-\ufaff]|#?[^\W\u3400-\u9fff]+|[^\w\s]"
_TOKEN = re.compile(_TOKEN_RE)
_CJK = re.compile(r"[\u3400-\u9fff]")
# namespaces inside the one hash space: a different odd shift per feature family
_SHIFT = {"word": 0, "char": 104_729, "reply": 52_361}


def normalize(text: str, mask_topical: bool = False) -> str:
    """Lowercase, URLs -> 'url', handles -> '@user', squeezed whitespace; `mask_topical` also hashtags ->
    '#tag' and numbers -> '0' (the event-specific cues that do not carry to unseen events)."""
    t = _HANDLE.sub("@user", _URL.sub("url", text))
    if mask_topical:
        t = _NUMBER.sub("0", _HASHTAG.sub("#tag", t))
    return " ".join(t.lower().split())


def tokens(text: str) -> list[str]:
    """Words (with '#'), punctuation marks and single CJK characters of a normalised text."""
    return _TOKEN.findall(text)


def is_chinese(text: str) -> bool:
    """True when CJK characters make up a fair share of the text (the Weibo head's input)."""
    return len(_CJK.findall(text)) * 4 > max(len(text), 1)


@dataclass
class Vocab:
    """Token -> id for the GRU input (0 pad, 1 unk, 2 sep)."""

    itos: list[str]

    @classmethod
    def build(cls, texts: Sequence[str], min_count: int = 2, max_size: int = 30_000) -> Vocab:
        c = Counter(t for s in texts for t in tokens(s))
        return cls(["[PAD]", "[UNK]", "[SEP]", *[w for w, n in c.most_common(max_size) if n >= min_count]])

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def encode(self, text: str, max_tokens: int) -> list[int]:
        """Ids of a normalised text's first `max_tokens` tokens."""
        return [self.stoi.get(t, UNK_ID) for t in tokens(text)[:max_tokens]]

    def thread(self, source: str, replies: Sequence[str], max_len: int) -> list[int]:
        """source [SEP] reply1 [SEP] reply2 ... (normalised texts, earliest replies first), <= max_len ids;
        without replies the source gets the whole budget."""
        ids = self.encode(source, min(MAX_SOURCE, max_len) if replies else max_len) or [UNK_ID]
        for r in replies:
            room = max_len - len(ids) - 1
            if room <= 0:
                break
            ids.append(SEP_ID)
            ids.extend(self.encode(r, min(MAX_REPLY, room)))
        return ids


def pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id rows -> (B, T) int64 ids, (B,) int64 lengths."""
    lengths = np.array([max(len(r), 1) for r in rows], dtype=np.int64)
    out = np.zeros((len(rows), int(lengths.max(initial=1))), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


@dataclass
class Bags:
    """A batch of weighted bags in EmbeddingBag layout (a CSR matrix's indices / indptr / data)."""

    ids: np.ndarray  # (N,) int64 bucket ids
    offsets: np.ndarray  # (B,) int64 start of each bag
    weights: np.ndarray  # (N,) float32, each bag L2-normalised

    @classmethod
    def of(cls, m: sp.csr_matrix) -> Bags:
        return cls(m.indices.astype(np.int64), m.indptr[:-1].astype(np.int64), m.data.astype(np.float32))


def _hv(n: int, **kw: object) -> object:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=n, alternate_sign=False, norm=None, lowercase=False, **kw)


def _shift(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    out = m.copy()
    out.indices = ((out.indices.astype(np.int64) + k) % m.shape[1]).astype(out.indices.dtype)
    out.sum_duplicates()  # no-op unless a shift wrapped two columns together (never within one row's family)
    return out


class Hasher:
    """Hashed n-gram counts -> sublinear-tf x idf bags; idf fitted on the training threads."""

    def __init__(self, n_buckets: int = 1 << 18, idf: np.ndarray | None = None) -> None:
        self.n_buckets = n_buckets
        self.idf = idf if idf is not None else np.ones(n_buckets, dtype=np.float32)
        n = n_buckets
        self._word = _hv(n, analyzer="word", ngram_range=(1, 2), token_pattern=_TOKEN_RE)
        self._uni = _hv(n, analyzer="word", ngram_range=(1, 1), token_pattern=_TOKEN_RE)
        self._char_en = _hv(n, analyzer="char_wb", ngram_range=(2, 5))
        self._char_zh = _hv(n, analyzer="char", ngram_range=(1, 3))

    def counts(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """(B, n_buckets) raw counts of normalised sources and their replies (<= MAX_REPLIES each)."""
        word = self._word.transform(sources)  # type: ignore[attr-defined]
        zh = np.array([is_chinese(s) for s in sources], dtype=bool)
        char = sp.csr_matrix((len(sources), self.n_buckets), dtype=np.float64)
        rows = []
        for mask, vec in ((zh, self._char_zh), (~zh, self._char_en)):
            if mask.any():
                at = np.flatnonzero(mask)
                texts = [sources[int(i)].replace(" ", "") if zh[i] else sources[int(i)] for i in at]
                rows.append((at, vec.transform(texts)))  # type: ignore[attr-defined]
        if rows:
            order = np.concatenate([r for r, _ in rows])
            stacked = sp.vstack([m for _, m in rows]).tocsr()
            char = stacked[np.argsort(order)]
        rep = self._uni.transform([" ".join(r[:MAX_REPLIES]) for r in replies])  # type: ignore[attr-defined]
        return (word + _shift(char.tocsr(), _SHIFT["char"]) + _shift(rep, _SHIFT["reply"])).tocsr()

    def fit(self, counts: sp.csr_matrix) -> Hasher:
        df = np.bincount(counts.indices, minlength=self.n_buckets).astype(np.float64)
        self.idf = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
        return self

    def weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear tf x idf, each row L2-normalised."""
        from sklearn.preprocessing import normalize as l2

        m = counts.astype(np.float32).tocsr()
        m.data = (1 + np.log(m.data)) * self.idf[m.indices]
        return l2(m, norm="l2", copy=False).tocsr()

    def bags(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> Bags:
        return Bags.of(self.weigh(self.counts(sources, replies)))
