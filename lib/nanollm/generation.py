# The generation loop: prompt in, text out, a piece at a time to a callback
# (Model.generate and nanollm.generate call it).

from .errors import NanoLLMError
from .sampling import Sampler


def generate(model, prompt, max_new_tokens=64, temperature=0.8, top_k=40, top_p=0.95, seed=None,
             callback=None):
    if not isinstance(prompt, str):
        raise NanoLLMError("prompt must be a string, not %s" % type(prompt).__name__)
    if not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
        raise NanoLLMError("max_new_tokens=%r: must be a positive integer" % (max_new_tokens,))
    if callback is not None and not callable(callback):
        raise NanoLLMError("callback=%r: must be a function taking the text of each piece" % (callback,))
    sampler = Sampler(model.n_vocab, model.logit_scale, temperature, top_k, top_p, seed)
    ids = model.tokenize(prompt)
    if not ids:
        if model.eos_id is None:
            raise NanoLLMError("the prompt is empty and the model has no end-of-text token to start from")
        ids = [model.eos_id]  # GPT-2 starts unconditioned text after <|endoftext|>
    n_ctx = model.n_ctx
    if len(ids) >= n_ctx:
        raise NanoLLMError("the prompt is %d tokens; the context holds %d, leaving no room to generate: "
                           "shorten the prompt" % (len(ids), n_ctx))
    # Generation stops at the end of the context: the window does not slide.
    n_new = min(max_new_tokens, n_ctx - len(ids))
    model.reset()
    logits = None
    for pos in range(len(ids)):
        logits = model.forward(ids[pos], pos)
    dec = model.tokenizer.stream_decoder()
    pieces = []
    pos = len(ids)
    for _ in range(n_new):
        tok = sampler.sample(logits)
        if tok == model.eos_id:
            break
        piece = dec.feed(tok)
        if piece:
            pieces.append(piece)
            if callback is not None:
                callback(piece)
        if pos >= n_ctx:
            break
        logits = model.forward(tok, pos)
        pos += 1
    tail = dec.flush()
    if tail:
        pieces.append(tail)
        if callback is not None:
            callback(tail)
    return "".join(pieces)
