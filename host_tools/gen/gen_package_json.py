#!/usr/bin/env python3
"""Write package.json and package-code.json at the top of the repository: the package as
MicroPython's `mip` installs it (`mpremote mip install github:OWNER/REPO` reads
package.json; `.../package-code.json` installs the code without the default model).

  python host_tools/gen/gen_package_json.py [--check]

URLs are relative to the JSON file, so the same files serve github:, a web server or a
local checkout (`mpremote mip install path/to/package.json`). --check exits 1 when the
files differ from what would be written (the tests run it: the list cannot drift from
lib/nanollm).
"""
import argparse
import json
import os
import sys

from nanollm_host.paths import PACKAGE, ROOT, package_data, package_sources, rel

VERSION_FILE = os.path.join(PACKAGE, "__init__.py")


def version():
    with open(VERSION_FILE) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip('"\'')
    raise SystemExit("no __version__ in %s" % rel(VERSION_FILE))


def package(with_model):
    urls = []
    for p in package_sources() + package_data():
        name = os.path.basename(p)
        urls.append(["nanollm/" + name, "lib/nanollm/" + name])
    if with_model:
        urls.append(["nanollm/model.gguf", "lib/nanollm/model.gguf"])
    return {"urls": urls, "version": version()}


def text(obj):
    return json.dumps(obj, indent=1) + "\n"


FILES = (("package.json", True), ("package-code.json", False))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write package.json / package-code.json for mip from lib/nanollm.")
    ap.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    a = ap.parse_args(argv)
    stale = []
    for name, with_model in FILES:
        path = os.path.join(ROOT, name)
        want = text(package(with_model))
        try:
            with open(path) as f:
                have = f.read()
        except OSError:
            have = None
        if have == want:
            continue
        if a.check:
            stale.append(name)
            continue
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(want)
        os.replace(tmp, path)
        print("wrote %s" % name)
    if stale:
        print("out of date: %s (run host_tools/gen/gen_package_json.py)" % ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
