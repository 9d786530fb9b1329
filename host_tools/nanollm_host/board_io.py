"""Talking to a MicroPython board (or a stand-in) over mpremote's serial transport: the raw
REPL, running code, streaming its output, copying files."""
import contextlib
import hashlib
import io
import os
import sys
import time

from nanollm_host.paths import rel

# Exit statuses of the tools that drive boards (devtest.py): a test failed, bad input,
# the board reset or stopped answering.
EXIT_FAIL, EXIT_INPUT, EXIT_BOARD = 1, 2, 3

# sys.implementation._mpy >> 10 -> native architecture name (py/persistentcode.h order)
MPY_ARCH = [None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
            "xtensa", "xtensawin", "rv32imc", "rv64imc"]


SERIAL_TIMEOUT = 5


class BoardError(Exception):
    """Bad input or an unusable board; carries the exit status."""

    def __init__(self, msg, code=EXIT_INPUT):
        Exception.__init__(self, msg)
        self.code = code


def say(*a):
    print("devtest:", *a, file=sys.stderr, flush=True)


class Board:
    """A MicroPython board (or stand-in) in raw REPL mode, through mpremote's transport."""

    def __init__(self, device, soft_reset=True, connect_timeout=10):
        self.device = device
        self.soft_reset = soft_reset
        self.connect_timeout = connect_timeout
        self.t = None

    def connect(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        if not self.device.startswith(("socket://", "rfc2217://")) and not os.path.exists(self.device):
            raise BoardError("no board at %s (no such device)" % self.device)
        try:
            # the serial timeout bounds mpremote's waits for single replies (raw-paste's "R\x01",
            # "OK"): at 1 s an emulated board on a loaded machine missed them now and then
            self.t = SerialTransport(self.device, baudrate=115200, timeout=SERIAL_TIMEOUT)
        except (TransportError, OSError, Exception) as e:
            raise BoardError("no board at %s (%s)" % (self.device, e))
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                self.t.enter_raw_repl(soft_reset=self.soft_reset, timeout_overall=self.connect_timeout)
        except Exception as e:
            self.close()
            seen = quiet.getvalue().strip()[-200:]
            raise BoardError("the device at %s gave no MicroPython raw REPL within %d s (%s)%s"
                               % (self.device, self.connect_timeout, e, "; it sent: " + seen if seen else ""),
                               EXIT_BOARD)

    def reset(self):
        """Soft reset into a fresh raw REPL (a clean heap; the filesystem stays)."""
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                self.t.exit_raw_repl()
                self.t.enter_raw_repl(soft_reset=True, timeout_overall=self.connect_timeout)
        except Exception as e:
            raise BoardError("the board did not come back from a soft reset (%s)" % e, EXIT_BOARD)

    def close(self):
        if self.t is not None:
            try:
                self.t.close()
            except Exception:
                pass
            self.t = None

    def exec(self, code, timeout=30):
        from mpremote.transport import TransportError
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except TransportError as e:
            raise BoardError("the board stopped answering (%s)" % e, EXIT_BOARD)
        except Exception as e:  # serial errors: the PTY or USB port went away
            raise BoardError("lost the connection to the board (%s)" % e, EXIT_BOARD)
        if err:
            raise RuntimeError(err.decode(errors="replace").strip())
        return out.decode(errors="replace")

    def eval(self, expr, timeout=30):
        import ast
        return ast.literal_eval(self.exec("print(repr(%s))" % expr, timeout).strip())

    def info(self):
        return self.eval("(lambda s, g, o: (s.platform, s.implementation._mpy, s.version, "
                         "(g.collect(), g.mem_free())[1], o.getcwd(), "
                         "(lambda v: v[0] * v[3])(o.statvfs('.'))))"
                         "(__import__('sys'), __import__('gc'), __import__('os'))")

    def has(self, module):
        return self.eval("(lambda m: __import__(m) and True)(%r)" % module) if self._try(module) else False

    def _try(self, module):
        try:
            self.exec("import %s" % module)
            return True
        except RuntimeError:
            return False

    def sha256(self, path):
        code = ("import hashlib\ntry:\n f=open(%r,'rb')\nexcept OSError:\n print(None)\nelse:\n"
                " h=hashlib.sha256()\n b=bytearray(512)\n while True:\n  n=f.readinto(b)\n  if not n:\n   break\n"
                "  h.update(b[:n])\n f.close()\n print(repr(h.digest()))\n" % path)
        import ast
        return ast.literal_eval(self.exec(code, timeout=120).strip())

    def mkdirs(self, remote_dirs):
        code = "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n" % sorted(remote_dirs)
        self.exec(code)

    def _put_base64(self, remote, data, progress):
        # like mpremote's fs_writefile, with base64 chunks instead of bytes reprs:
        # about 1.35 bytes on the wire per byte instead of up to 4
        import base64
        self.t.exec("import binascii as _ba\n_f = open(%r, 'wb')\n_w = _f.write\n_d = _ba.a2b_base64" % remote)
        try:
            step = 3072
            for i in range(0, len(data), step):
                self.t.exec("_w(_d(%r))" % base64.b64encode(data[i:i + step]))
                if progress:
                    progress(min(i + step, len(data)), len(data))
        finally:
            self.t.exec("_f.close()\ndel _f, _w, _d, _ba")

    def put(self, local, remote, progress=None, base64=False):
        from mpremote.transport import TransportError
        with open(local, "rb") as f:
            data = f.read()
        try:
            if base64:
                self._put_base64(remote, data, progress)
            else:
                self.t.fs_writefile(remote, data, chunk_size=4096, progress_callback=progress)
        except TransportError as e:
            text = str(getattr(e, "error_output", "") or e)
            if "28" in text or "ENOSPC" in text:
                raise BoardError("the board's filesystem is full: copying %s (%d bytes) to %s failed"
                                   % (rel(local), len(data), remote))
            raise BoardError("copying %s to the board failed: %s" % (remote, text.strip().splitlines()[-1:]),
                               EXIT_BOARD)
        except Exception as e:
            raise BoardError("lost the connection to the board while copying %s (%s)" % (remote, e), EXIT_BOARD)

    def remove(self, remote):
        try:
            self.exec("import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass\n" % remote)
        except RuntimeError:
            pass

    def run_streaming(self, code, on_line, test_timeout):
        """Run code; feed each output line to on_line(line). Returns 'done', or raises."""
        from mpremote.transport import TransportError
        try:
            self.t.exec_raw_no_follow(code)
        except TransportError as e:
            raise BoardError("the board stopped answering (%s)" % e, EXIT_BOARD)
        ser = self.t.serial
        buf = b""
        last = time.monotonic()
        ended = 0  # number of \x04 seen: 1 = stdout done, 2 = stderr done
        err = b""
        while ended < 2:
            try:
                n = ser.in_waiting
                chunk = ser.read(max(1, min(n, 4096)))
            except Exception as e:
                raise BoardLost("the connection closed (%s)" % e)
            now = time.monotonic()
            if not chunk:
                if now - last > test_timeout:
                    raise BoardTimeout("no test finished within %d s" % test_timeout)
                continue
            while chunk:
                i = chunk.find(b"\x04")
                part, chunk = (chunk, b"") if i < 0 else (chunk[:i], chunk[i + 1:])
                if ended == 0:
                    buf += part
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        text = line.decode(errors="replace").rstrip("\r")
                        if "soft reboot" in text or text.startswith("MicroPython v"):
                            raise BoardLost("the board reset (it printed %r)" % text)
                        if on_line(text):
                            last = now
                else:
                    err += part
                if i >= 0:
                    ended += 1
                    if ended == 1 and buf:
                        on_line(buf.decode(errors="replace"))
                        buf = b""
                    if ended == 2:
                        break
        return err.decode(errors="replace").strip()


class BoardLost(Exception):
    pass


class BoardTimeout(Exception):
    pass


def copy_files(b, files, can_hash, fs_free, can_b64=False, preloaded=()):
    dirs = set()
    for _, remote in files:
        parts = remote.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    b.mkdirs(dirs)
    todo = []
    for local, remote in files:
        if remote in preloaded:
            continue
        if can_hash:
            with open(local, "rb") as f:
                want = hashlib.sha256(f.read()).digest()
            if b.sha256(remote) == want:
                continue
        todo.append((local, remote))
    need = sum(os.path.getsize(p) for p, _ in todo)
    if fs_free is not None and need > fs_free:
        big = max(todo, key=lambda lr: os.path.getsize(lr[0]))
        raise BoardError("the board's filesystem is full: %d KB to copy but %d KB free (largest: %s, %d KB); "
                           "use a smaller model or --no-big-model"
                           % ((need + 1023) // 1024, fs_free // 1024, rel(big[0]),
                              os.path.getsize(big[0]) // 1024))
    say("copying %d files (%d KB), %d unchanged" % (len(todo), (need + 1023) // 1024, len(files) - len(todo)))
    for local, remote in todo:
        size = os.path.getsize(local)
        t0 = time.monotonic()
        shown = [0]

        def progress(done, total, remote=remote):
            if total >= 64 * 1024 and done * 10 // total > shown[0]:
                shown[0] = done * 10 // total
                say("  %s %d%%" % (remote, 100 * done // total))

        # a file the board already has under this name would otherwise count twice
        b.remove(remote)
        b.put(local, remote, progress, base64=can_b64)
        if size >= 64 * 1024:
            say("  %s: %d KB in %.1f s" % (remote, size // 1024, time.monotonic() - t0))
