"""ROMFS images (MicroPython's read-only filesystem in memory-mapped flash), made on the host.

A file on a mounted `VfsRom` has the buffer protocol, so the runtime reads a model's weights
where they are (`memoryview(open(path, "rb"))`, lib/nanollm/gguf.py). The image format is
MicroPython's own: we write it with mpremote's `VfsRomWriter`, the code behind
`mpremote romfs build`, so what the tests mount is what users deploy.
"""
import os

from mpremote.romfs import VfsRomWriter


def image(files):
    """A ROMFS image (bytes) holding `files`: {name: bytes or host path}; a name may hold
    folders ("lib/nanollm/model.gguf")."""
    tree = {}
    for name, data in files.items():
        node = tree
        parts = name.strip("/").split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if not isinstance(data, (bytes, bytearray)):
            with open(data, "rb") as f:
                data = f.read()
        node[parts[-1]] = bytes(data)
    w = VfsRomWriter()
    _write(w, tree)
    return w.finalise()


def _write(w, node):
    for name in sorted(node):
        v = node[name]
        if isinstance(v, dict):
            w.opendir(name)
            _write(w, v)
            w.closedir()
        else:
            w.mkfile(name, v)


def write_image(files, out):
    data = image(files)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(data)
    return len(data)
