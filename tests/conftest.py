"""Fixtures shared by several test files."""

import pytest
from transformers import AutoTokenizer

from kpod_lite.models import standins


@pytest.fixture(scope="session")
def t5():
    """The SentencePiece stand-in for FlanT5's tokenizer, through T5TokenizerFast (kpod_lite.models.standins)."""
    return AutoTokenizer.from_pretrained(standins.build_t5_standin_tokenizer())


@pytest.fixture(scope="session")
def llama():
    """The SentencePiece stand-in for LLaMA's tokenizer, through LlamaTokenizerFast."""
    return AutoTokenizer.from_pretrained(standins.build_llama_standin_tokenizer())
