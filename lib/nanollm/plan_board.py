# A board's verdict from its profile (boards/*.json): the room a load can hold for the run
# state, and the one line host_tools/plan.py and the browser playground print. Not imported
# by the runtime, which measures its own heap (plan.py), so a board never holds this code.

from .plan import HEADROOM, _kb, block_slack, word_bytes

# What a load's index, tables and their garbage take of the heap in all, the largest free
# piece's share of it taken from the bottom of that piece (KB, as above). Measured on the
# stock-firmware stand-in (December 2026, since a load moves the tokenizer's tables and the
# tensors' records down into the index's holes): the default model (vocabulary 512) left its
# run state a piece 14.8 (.mpy and the native module) to 25.4 KB (.mpy, viper) smaller than
# the largest after `import nanollm`, with 22.3 and 16.8 KB free outside it; 43 KB covers
# both (46 before the tables moved).
INDEX_ROOM_KB = 43


def hold_bytes(free, largest, reserve_kb, word=None):
    """Bytes of the largest free piece (`largest` of `free`) a load holds so that
    `reserve_kb` KB stay free in all: the smaller pieces count towards it."""
    short = reserve_kb * 256 * (word or word_bytes()) - (free - largest)
    return max(0, largest - max(0, short))


def state_block_room(free, largest, word=None):
    """The largest run-state block a load can make on a heap with `free` bytes free and its
    largest free piece of `largest` bytes: the piece less what the index and the tables take
    of it (INDEX_ROOM_KB), less the slack."""
    return max(0, hold_bytes(free, largest, INDEX_ROOM_KB, word) - block_slack(word))


def verdict(ev, suggestions=()):
    """One line: "fits, N KB to spare", "does not fit by N KB; try ..." (the heap), or "does
    not fit: the file ... is larger than the board's filesystem" (the flash)."""
    too_big = None
    if not ev["file_fits"]:
        too_big = "the file (%d KB) is larger than the board's %d KB filesystem" % (_kb(ev["file_bytes"]),
                                                                                  _kb(ev["fs_bytes"]))
    if ev["heap_fits"]:
        heap = "fits, %d KB to spare" % (ev["spare"] // 1024)
        if ev["plan"]["weights_streamed"]:
            heap += " (streaming %d KB of weights from flash)" % _kb(ev["plan"]["weights_streamed"])
        if too_big:
            # the first words are the answer: it cannot run, however well the heap would do
            return "does not fit: %s (the heap would have %d KB to spare)" % (too_big, ev["spare"] // 1024)
        if ev["spare"] < ev["need"] - HEADROOM and ev.get("block") is None:
            # measured: loads needed up to twice the planned model peak free (fragmentation)
            heap += "; tight: loading needed up to 2x the model's planned %d KB free on the unix port " \
                    "and the emulated M0" % _kb(ev["need"])
        return heap
    if ev["spare"] >= 0:  # enough in all, but not in one piece
        v = "does not fit: its run state needs one piece of %d KB, the load can hold %d KB for it" % (
            _kb(ev["plan"]["state_block"]), ev["block"] // 1024)
    else:
        v = "does not fit by %d KB" % _kb(-ev["spare"])
    if suggestions:
        v += "; try " + " or ".join(suggestions)
    else:
        v += "; nothing smaller fits: the tokenizer, logits and code alone exceed the heap"
    if too_big:
        v += "; and %s" % too_big
    return v
