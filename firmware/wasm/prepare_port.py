#!/usr/bin/env python3
"""Lay out MicroPython's webassembly port for Debian's Emscripten (3.1.6), without touching
the fetched source tree.

    python firmware/wasm/prepare_port.py MICROPYTHON_SRC OUT

OUT becomes a MicroPython tree whose py/, extmod/, shared/, lib/, drivers/, tools/ and
mpy-cross/ are symbolic links into MICROPYTHON_SRC, and whose ports/webassembly is a copy
of the port with one change: library.js, the port's JavaScript library, declares its
functions as arrow functions (`name: () => expr`). Emscripten 3.1.6 pastes a library
function's source text after `function name`, which only works for `function` expressions;
with arrows the output does not parse ("SyntaxError: Malformed arrow function parameter
list" when the module is imported). Newer Emscripten releases accept arrows. We rewrite each
top-level arrow member as the equivalent `function` expression and stop with an error if
the file no longer looks as expected, rather than build a port that fails in the browser.
"""
import argparse
import os
import re
import shutil
import sys

LINKED = ("py", "extmod", "shared", "lib", "drivers", "tools", "mpy-cross")
PORT = os.path.join("ports", "webassembly")
# a member of the object given to mergeInto(LibraryManager.library, {...}): four spaces in
MEMBER_ARROW = re.compile(r"^(    [A-Za-z_]\w*: )\(([^()]*)\) =>[ \t]*\n?[ \t]*", re.M)


class PrepareError(Exception):
    pass


def _expression_end(text, i):
    """Index of the ',' that ends the member expression starting at text[i] (depth 0)."""
    depth = 0
    quote = None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:  # the end of the object literal: the last member has no comma
                return i
            depth -= 1
        elif c == "," and depth == 0:
            return i
        i += 1
    raise PrepareError("unbalanced brackets after an arrow function in library.js")


def rewrite_arrows(text):
    """Top-level `name: (a, b) => body` members of library.js as `name: function(a, b) {...}`."""
    out = []
    pos = 0
    n = 0
    for m in MEMBER_ARROW.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        head = "%sfunction(%s) " % (m.group(1), m.group(2))
        body_start = m.end()
        if text.startswith("{", body_start):  # a block body: only the head changes
            out.append(head)
            pos = body_start
        else:  # an expression body: return it from a block
            end = _expression_end(text, body_start)
            out.append(head + "{ return " + text[body_start:end].strip() + "; }")
            pos = end
        n += 1
    out.append(text[pos:])
    result = "".join(out)
    if n == 0:
        raise PrepareError("library.js has no arrow-function members: the port changed; "
                           "check whether this rewrite is still needed")
    if MEMBER_ARROW.search(result):
        raise PrepareError("library.js: an arrow-function member was left unconverted")
    return result, n


def prepare(src, out):
    src = os.path.abspath(src)
    port_src = os.path.join(src, PORT)
    if not os.path.isfile(os.path.join(port_src, "library.js")):
        raise PrepareError("%s is not a MicroPython source tree with ports/webassembly "
                           "(run host_tools/fetch_micropython.py)" % src)
    tmp = out + ".tmp"
    if os.path.lexists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(os.path.join(tmp, "ports"))
    for name in LINKED:  # relative links: OUT and OUT.tmp are siblings, the tree can move
        os.symlink(os.path.relpath(os.path.join(src, name), os.path.abspath(out)), os.path.join(tmp, name))
    port = os.path.join(tmp, PORT)
    shutil.copytree(port_src, port, ignore=shutil.ignore_patterns("build*"))
    with open(os.path.join(port, "library.js")) as f:
        text, n = rewrite_arrows(f.read())
    with open(os.path.join(port, "library.js"), "w") as f:
        f.write(text)
    if os.path.lexists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("micropython_src", help="the MicroPython source tree (.cache/micropython-1.25/micropython)")
    ap.add_argument("out", help="where to lay out the tree (e.g. build/wasm/port)")
    a = ap.parse_args(argv)
    try:
        n = prepare(a.micropython_src, a.out)
    except (PrepareError, OSError) as e:
        print("prepare_port.py: %s" % e, file=sys.stderr)
        return 1
    print("prepare_port.py: %s ready (%d library.js functions rewritten for Emscripten 3.1.6)" % (a.out, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
