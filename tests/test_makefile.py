"""The Makefile's edges a newcomer meets first (issue 15, item 10): `make help` lists every
target, an old Python is refused before the venv is made, and `make sysdeps` as a user other
than root says what to install instead of failing inside apt-get."""
import glob
import os
import re
import subprocess

from testutil import ROOT


def make(*args, user=None, timeout=120):
    cmd = ["make", "-s", "--no-print-directory"] + list(args)
    if user is not None and os.geteuid() == 0:
        # as root, run make as nobody: what a developer without root sees
        cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


def test_help_lists_every_target():
    phony = set()
    for mk in [os.path.join(ROOT, "Makefile")] + glob.glob(os.path.join(ROOT, "mk", "*.mk")):
        with open(mk) as f:
            for line in f:
                if line.startswith(".PHONY:"):
                    phony.update(line.split(":", 1)[1].split())
    rc, out, err = make("help")
    assert rc == 0, err
    listed = set(re.findall(r"^  make (\S+)", out, re.M))
    assert len(phony) >= 30 and phony <= listed, sorted(phony - listed)


def test_setup_refuses_a_python_older_than_3_11(tmp_path):
    old = tmp_path / "python3.9"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "Python 3.9.2" && exit 0\nexit 1\n')
    old.chmod(0o755)
    venv = tmp_path / "venv"
    rc, out, err = make("setup", "VENV=%s" % venv, "PYTHON=%s" % old)
    assert rc != 0 and not venv.exists()
    assert ("error: the host tools need Python 3.11 or newer (numpy 2.4.6 does); %s is Python 3.9.2. "
            "Name another: make setup PYTHON=python3.12" % old) in err, err


def test_sysdeps_without_root_says_what_to_install():
    rc, out, err = make("sysdeps", "APT_PACKAGES=make nanollm-no-such-package", user=65534)
    assert rc != 0
    assert "error: these Debian packages are missing: nanollm-no-such-package" in err, err
    assert "sudo apt-get install nanollm-no-such-package" in err and "apt-get update" not in out + err
