"""Checkpoint files: the HF GPT-2 layout (config.json, model.safetensors) and the
training state for --resume (train_state.safetensors). Every file is written under a
temporary name and moved into place with os.replace, so a crash or Ctrl-C never
leaves a half-written file."""
import json
import os

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file, load_file

from .gpt2 import Config

STATE_FILE = "train_state.safetensors"


def _atomic(path, write):
    tmp = path + ".tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk or Ctrl-C: keep the previous file, drop the partial one
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    def w(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    _atomic(path, w)


def save_hf(out_dir, cfg, params):
    """config.json + model.safetensors with HF GPT-2 names (Conv1D layout, float32)."""
    os.makedirs(out_dir, exist_ok=True)
    tensors = {k: np.ascontiguousarray(p.data, dtype=np.float32) for k, p in params.items()}
    _atomic(os.path.join(out_dir, "model.safetensors"),
            lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    write_json(os.path.join(out_dir, "config.json"), cfg.to_hf())


def load_hf(model_dir):
    """(Config, {name: float32 array}) from an HF GPT-2 directory written by save_hf."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = Config.from_hf(json.load(f))
    arrays = load_file(os.path.join(model_dir, "model.safetensors"))
    return cfg, {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def save_state(out_dir, arrays, meta):
    """The resumable training state: arrays (params + optimizer) and JSON metadata."""
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    _atomic(os.path.join(out_dir, STATE_FILE),
            lambda tmp: save_file(arrays, tmp, metadata={"nanotrain": json.dumps(meta)}))


def saved_step(out_dir):
    """The step of the training state saved in out_dir, or None (none, or unreadable)."""
    try:
        with safe_open(os.path.join(out_dir, STATE_FILE), framework="np") as f:
            return int(json.loads(f.metadata()["nanotrain"])["step"])
    except Exception:  # noqa: BLE001  (only a detail of an error message)
        return None


def load_state(out_dir):
    path = os.path.join(out_dir, STATE_FILE)
    with safe_open(path, framework="np") as f:
        meta = json.loads(f.metadata()["nanotrain"])
    return load_file(path), meta
