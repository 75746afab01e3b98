import torch
import torch.nn.functional as F

from motecli.constants import PROMPT_TEMPLATES
from motecli.model.clip import build_clip, resolve_clip, tokenizer_for
from motecli.text.encode import cached_text_embeddings


def test_the_28_templates_in_order():
    assert len(PROMPT_TEMPLATES) == 28
    filled = [t.replace("{c}", "archery") for t in PROMPT_TEMPLATES]
    assert filled[0] == "a photo of archery."
    assert filled[6] == "a photo of a person practicing archery."
    assert filled[7] == "a video of archery."
    assert filled[14 + 3] == "a example of a person doing archery."
    assert filled[27] == "a demonstration of a person practicing archery."


def test_prompt_ensemble_equals_encoding_the_prompts_by_hand():
    classes = ["ride bike", "brush hair"]
    result = cached_text_embeddings(model="mote-tiny", pretrained=None, class_names=classes, templates=list(PROMPT_TEMPLATES))
    spec = resolve_clip("mote-tiny", None)
    model, tok = build_clip(spec), tokenizer_for(spec)
    for i, name in enumerate(classes):
        with torch.no_grad():
            per_prompt = [F.normalize(model.encode_text(tok([t.replace("{c}", name)]))[0], dim=0) for t in PROMPT_TEMPLATES]
        expected = F.normalize(torch.stack(per_prompt).mean(0), dim=0)
        torch.testing.assert_close(torch.from_numpy(result.embeddings.embeddings[i]), expected, atol=1e-5, rtol=1e-5)
