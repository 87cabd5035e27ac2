"""Byte-level BPE tokenizer for English and Chinese, trained on the training texts, saved with models."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, UNK, SEP = "[PAD]", "[UNK]", "[SEP]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, SEP)
URL_RE = r"(?:https?://|www\.)\S+"
HANDLE_RE = r"@\w+"
HASHTAG_RE = r"#\w+"
NUMBER_RE = r"\d+(?:[.,:]\d+)*"


def _normalizer(mask_topical: bool = False) -> normalizers.Normalizer:
    """NFKC, lowercase, URLs -> 'url', handles -> '@user' (as TweetEval), squeezed whitespace; with
    `mask_topical` also hashtags -> '#tag' and numbers -> '0' (event-specific cues).

    It lives inside tokenizer.json, so serving normalises exactly as training did.
    """
    topical = (
        [normalizers.Replace(Regex(HASHTAG_RE), "#tag"), normalizers.Replace(Regex(NUMBER_RE), "0")]
        if mask_topical
        else []
    )
    return normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.Replace(Regex(URL_RE), "url"),
            normalizers.Replace(Regex(HANDLE_RE), "@user"),
            *topical,
            normalizers.Lowercase(),
            normalizers.Replace(Regex(r"\s+"), " "),
            normalizers.Strip(),
        ]
    )


def train_bpe(
    texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2, mask_topical: bool = False
) -> Tokenizer:
    """Train a byte-level BPE (any script: Chinese characters merge from their UTF-8 bytes)."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = _normalizer(mask_topical)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


class TextTokenizer:
    """A trained BPE plus the padding/truncation the text models use; numpy out."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.pad_id = self._id(PAD)
        self.sep_id = self._id(SEP)
        self.unk_id = self._id(UNK)

    def _id(self, token: str) -> int:
        i = self.tokenizer.token_to_id(token)
        if i is None:
            raise ValueError(f"tokenizer lacks special token {token}")
        return int(i)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, mask_topical: bool = False) -> TextTokenizer:
        return cls(train_bpe(texts, vocab_size, mask_topical=mask_topical))

    @classmethod
    def from_pretrained_wordpiece(cls, tokenizer_json: Path) -> TextTokenizer:
        """A pretrained BERT WordPiece (e.g. all-MiniLM-L6-v2's), with this module's URL/handle masking in
        front of its own normaliser and its fixed padding/truncation switched off."""
        tok = Tokenizer.from_file(str(tokenizer_json))
        tok.no_padding()
        tok.no_truncation()
        masks = [normalizers.NFKC(), normalizers.Replace(Regex(URL_RE), "url"),
                 normalizers.Replace(Regex(HANDLE_RE), "@user")]
        tok.normalizer = normalizers.Sequence([*masks, *([tok.normalizer] if tok.normalizer else [])])
        return cls(tok)

    @property
    def kind(self) -> str:
        """The subword model: 'BPE' or 'WordPiece'."""
        return str(json.loads(self.tokenizer.to_str())["model"]["type"])

    @classmethod
    def load(cls, path: Path) -> TextTokenizer:
        return cls(Tokenizer.from_file(str(path)))

    @classmethod
    def from_json(cls, text: str) -> TextTokenizer:
        return cls(Tokenizer.from_str(text))

    def save(self, path: Path) -> None:
        path.write_text(self.to_json(), encoding="utf-8")

    def to_json(self) -> str:
        # sort_keys keeps the file byte-stable across save/load round trips
        return json.dumps(json.loads(self.tokenizer.to_str()), ensure_ascii=False, sort_keys=True)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def normalize(self, text: str) -> str:
        norm = self.tokenizer.normalizer
        return norm.normalize_str(text) if norm is not None else text

    def encode_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, no padding, no truncation."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True)).strip()

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded ids (B, T<=max_len) int64 and lengths (B,); T is the longest row, at least 1."""
        return pad_ids(self.encode_ids(texts), max_len, self.pad_id)

    def token_strings(self) -> list[str]:
        """Surface text of every id (decoded from its bytes), '' for special tokens."""
        vocab = self.tokenizer.get_vocab()
        out = [""] * self.vocab_size
        for tok, i in vocab.items():
            if tok not in SPECIAL_TOKENS:
                out[i] = str(self.tokenizer.decode([i], skip_special_tokens=True))
        return out


def pad_ids(rows: Sequence[Sequence[int]], max_len: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Truncate each row to max_len and right-pad -> (B, T) int64 ids, (B,) int64 lengths (>= 1)."""
    lengths = np.array([max(1, min(len(r), max_len)) for r in rows], dtype=np.int64)
    T = int(lengths.max()) if len(rows) else 1
    ids = np.full((len(rows), T), pad_id, dtype=np.int64)
    for i, r in enumerate(rows):
        r = list(r[:max_len])
        ids[i, : len(r)] = r
    return ids, lengths
