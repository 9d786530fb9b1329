"""A one-line training progress display: step, loss, tokens/s, ETA.

On a terminal the line is redrawn in place; when output goes to a file or pipe a
line is printed every `every` steps (and on events), so logs stay readable.
"""
import sys
import time


def fmt_time(seconds):
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class Progress:
    def __init__(self, total_steps, start_step=0, stream=None, every=10):
        self.total = total_steps
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every
        self.t0 = time.time()
        self.start_step = start_step
        self.tokens = 0
        self.last_val = None
        self._open = False

    def update(self, step, loss, tokens, lr=None):
        """After finishing `step` (1-based count of steps done)."""
        self.tokens += tokens
        dt = max(1e-9, time.time() - self.t0)
        done = step - self.start_step
        tps = self.tokens / dt
        eta = (self.total - step) * dt / max(1, done)
        line = "step %d/%d | loss %.4f" % (step, self.total, loss)
        if self.last_val is not None:
            line += " | val %.4f" % self.last_val
        if lr is not None:
            line += " | lr %.2e" % lr
        line += " | %.0f tok/s | ETA %s" % (tps, fmt_time(eta))
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self._open = True
        elif step % self.every == 0 or step == self.total:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text):
        """A line of its own (validation results, checkpoints, warnings)."""
        if self._open:
            self.stream.write("\n")
            self._open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self._open:
            self.stream.write("\n")
            self._open = False
        self.stream.flush()
