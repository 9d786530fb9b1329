"""The board profiles in boards/*.json: RAM, free heap after boot, filesystem, CPU, the
native-module architecture, and where each figure comes from."""
import glob
import json
import os

from nanollm_host.paths import BOARDS


class UnknownBoard(Exception):
    """An unknown board name; the message lists the known ones."""


def board_names():
    return sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(BOARDS, "*.json")))


def load_board(name):
    path = os.path.join(BOARDS, name + ".json")
    if "/" in name or not os.path.exists(path):
        raise UnknownBoard("unknown board %r; known boards: %s" % (name, ", ".join(board_names())))
    with open(path) as f:
        return json.load(f)
