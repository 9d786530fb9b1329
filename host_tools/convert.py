#!/usr/bin/env python3
"""Convert a Hugging Face GPT-2 checkpoint folder to a GGUF file nanollm can run.

The folder needs config.json (model_type gpt2), model.safetensors and the tokenizer as
vocab.json + merges.txt (or tokenizer.json). The GGUF follows llama.cpp's gpt2 layout, so
llama.cpp tools can read it too. With a quantized --outtype, 2-D weights are quantized and
1-D norms/biases stay f32; a matrix whose rows are not a multiple of 32 stays f32 (listed).

  python host_tools/convert.py my-gpt2/ model.gguf
  python host_tools/convert.py my-gpt2/ model-q8.gguf --outtype q8_0

From Python: nanollm_host.gguf_model.convert_checkpoint(hf_dir, out_path, outtype="f32").
"""
import argparse
import os
import sys

from nanollm_host import gguf_model as gm
from nanollm_host.gguf_model import convert_checkpoint


def main(argv=None):
    ap = argparse.ArgumentParser(prog="convert.py", description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir", help="Hugging Face GPT-2 checkpoint folder")
    ap.add_argument("out", help="GGUF file to write (replaced only when conversion succeeds)")
    ap.add_argument("--outtype", default="f32", metavar="TYPE",
                    help="weight type: f32 (default), f16, q8_0, q4_0, q4_1 (or ggml file type 0,1,7,2,3)")
    ap.add_argument("--name", help="general.name to store (default: the folder's name)")
    ap.add_argument("--alignment", type=int, default=gm.DEFAULT_ALIGNMENT,
                    help="tensor data alignment in bytes, a power of two (default 32)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    a = ap.parse_args(argv)
    say = (lambda s: None) if a.quiet else print
    rows = convert_checkpoint(a.hf_dir, a.out, a.outtype, name=a.name, alignment=a.alignment, log=say)
    counts = {}
    for r in rows:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    say("wrote %s: %d tensors (%s), %s"
        % (a.out, len(rows), ", ".join("%d %s" % (n, t) for t, n in sorted(counts.items())),
           gm.format_bytes(os.path.getsize(a.out))))
    return 0


if __name__ == "__main__":
    sys.exit(gm.run_tool(main, prog="convert.py"))
