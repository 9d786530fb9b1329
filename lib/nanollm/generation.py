# The generation loop: prompt in, text out, a piece at a time to a callback
# (Model.generate and nanollm.generate call it).
#
# After each call the model keeps what happened, so a caller can say why the text ended
# and how fast it came, and a Ctrl-C does not lose the text:
#   model.stop_reason      "eos"             the model wrote <|endoftext|>
#                          "max_new_tokens"  max_new_tokens tokens were generated
#                          "context_full"    the context ran out first (the window does not slide)
#                          "interrupted"     KeyboardInterrupt (Ctrl-C); it is raised again
#                          None              the call raised another error
#   model.last_text        the text generated, also when interrupted (the pieces given to
#                          the callback so far; bytes of an unfinished character are dropped)
#   model.n_prompt_tokens  tokens of the prompt (1 for an empty prompt: <|endoftext|>)
#   model.n_new_tokens     tokens generated (the end-of-text token is not counted)
#   model.prompt_ms        milliseconds to run the prompt through the model
#   model.gen_ms           milliseconds from then to the end (sampling, forward, decoding)

from .errors import NanoLLMError
from .sampling import Sampler

try:
    from time import ticks_diff, ticks_ms  # MicroPython: no float, wraps after days
except ImportError:
    try:
        from time import monotonic
    except ImportError:  # pragma: no cover  (a port without a clock: figures are 0)
        def monotonic():
            return 0

    def ticks_ms():
        return int(monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


def generate(model, prompt, max_new_tokens=64, temperature=0.7, top_k=40, top_p=0.9, seed=None,
             callback=None):
    model.stop_reason = None
    if not isinstance(prompt, str):
        raise NanoLLMError("prompt must be a string, not %s" % type(prompt).__name__)
    if not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
        raise NanoLLMError("max_new_tokens=%r: must be a positive integer" % (max_new_tokens,))
    if callback is not None and not callable(callback):
        raise NanoLLMError("callback=%r: must be a function taking the text of each piece" % (callback,))
    sampler = Sampler(model.n_vocab, model.logit_scale, temperature, top_k, top_p, seed, model.sampler_bufs())
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
    reason = "max_new_tokens" if n_new == max_new_tokens else "context_full"
    model.n_prompt_tokens = len(ids)
    pieces = []
    n = 0
    t0 = ticks_ms()
    t1 = None
    try:
        model.reset()
        last = len(ids) - 1
        for pos in range(last):
            model.forward(ids[pos], pos, False)  # only the prompt's last token needs its logits
        logits = model.forward(ids[last], last)
        t1 = ticks_ms()
        dec = model.tokenizer.stream_decoder()
        pos = len(ids)
        while n < n_new:
            tok = sampler.sample(logits)
            if tok == model.eos_id:
                reason = "eos"
                break
            n += 1
            piece = dec.feed(tok)
            if piece:
                pieces.append(piece)
                if callback is not None:
                    callback(piece)
            logits = model.forward(tok, pos)
            pos += 1
        tail = dec.flush()
        if tail:
            pieces.append(tail)
            if callback is not None:
                callback(tail)
        model.stop_reason = reason
    except KeyboardInterrupt:
        model.stop_reason = "interrupted"
        raise
    finally:
        t2 = ticks_ms()
        model.n_new_tokens = n
        model.prompt_ms = ticks_diff(t2 if t1 is None else t1, t0)
        model.gen_ms = 0 if t1 is None else ticks_diff(t2, t1)
        model.last_text = "".join(pieces)
    return model.last_text
