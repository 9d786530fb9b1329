"""host_tools/check.py: the runtime (lib/nanollm) against the numpy reference, under CPython
and under the real unix MicroPython. These need the runtime's nanollm.load()."""
import os
import subprocess
import sys

import pytest

from testutil import HOST_TOOLS, micropython_path


CHECK = os.path.join(HOST_TOOLS, "check.py")


@pytest.fixture(scope="module")
def models(fixture_gguf):
    return {(name, t): fixture_gguf(name, t) for name, t in (
        ("gpt2_trained", "f32"), ("gpt2_trained", "q8_0"), ("gpt2_trained", "q4_0"),
        ("gpt2_odd", "f32"), ("gpt2_untied", "f16"))}


def run_check(*args):
    return subprocess.run([sys.executable, CHECK] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=600)


def summaries(stdout):
    return {ln.split()[1].rstrip(":"): ln for ln in stdout.splitlines() if ln.startswith("summary ")}


def test_f32_both_interpreters(models):
    assert micropython_path(), "the micropython command is missing"
    res = run_check(models["gpt2_trained", "f32"], "--max-tokens", "24",
                    "--micropython", micropython_path())
    assert res.returncode == 0, res.stdout + res.stderr
    s = summaries(res.stdout)
    assert set(s) == {"cpython", "micropython"}
    for line in s.values():
        assert "max|diff| <= 1e-04 -> PASS" in line
        assert "top-1 agree 24/24" in line
    assert "check: PASS" in res.stdout
    # the per-position table
    assert "  pos   token   max|diff|  top1   nll_ref    nll_rt" in res.stdout
    assert "tokenizer cpython: the runtime's 24 tokens agree with the reference" in res.stdout


def test_q8_0_against_f32_reference(models):
    res = run_check(models["gpt2_trained", "q8_0"], "--f32-reference", models["gpt2_trained", "f32"],
                    "--max-tokens", "24", "-q", "--micropython", micropython_path())
    assert res.returncode == 0, res.stdout + res.stderr
    s = summaries(res.stdout)
    assert set(s) == {"cpython", "micropython"}
    for line in s.values():
        assert "vs the reference on the same weights (limit 1 %) -> PASS" in line
    assert "quantization loss (reported, not judged): NLL of the q8_0 weights" in res.stdout
    assert "the runtime's: cpython" in res.stdout and "; micropython " in res.stdout


def _pct(text, after):
    return float(text.split(after, 1)[1].split("(", 1)[1].split(" %")[0])


def test_q4_0_quantization_loss_reported_not_judged(models):
    """Issue 15, item 5: q4_0 loses ~9.5 % NLL to its f32 file on this fixture while the
    runtime equals the reference on the dequantized weights; check.py used to call that a
    FAIL. The runtime is judged on the same weights, the quantization loss only reported."""
    res = run_check(models["gpt2_trained", "q4_0"], "--f32-reference", models["gpt2_trained", "f32"],
                    "--interpreter", "cpython", "-q")
    assert res.returncode == 0, res.stdout + res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("quantization loss")][0]
    loss = _pct(line, "for ")
    assert loss > 5, line  # far above any runtime tolerance: and still no FAIL
    summary = summaries(res.stdout)["cpython"]
    rt_err = float(summary.split("NLL ")[-1].split(" %")[0])
    assert abs(rt_err) < 0.5 and "-> PASS" in summary, summary
    assert res.stdout.strip().endswith("check: PASS (the runtime against the reference on the same weights)")
    # a runtime that is wrong on the same weights still fails, quantization loss or not
    res = run_check(models["gpt2_trained", "q4_0"], "--f32-reference", models["gpt2_trained", "f32"],
                    "--interpreter", "cpython", "-q", "--nll-tol", "1e-9")
    assert res.returncode == 1 and "-> FAIL" in res.stdout and "quantization loss" in res.stdout


def test_q4_0_cpython(models):
    res = run_check(models["gpt2_trained", "q4_0"], "--interpreter", "cpython", "--max-tokens", "32", "-q")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "vs the reference on the same weights (limit 1 %)" in res.stdout
    assert "quantization loss" not in res.stdout


@pytest.mark.parametrize("key", [("gpt2_odd", "f32"), ("gpt2_untied", "f16")])
def test_odd_and_untied_cpython(models, key):
    res = run_check(models[key], "--interpreter", "cpython", "-q")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "-> PASS" in summaries(res.stdout)["cpython"]


def test_token_file(models, tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text("10, 20 30\n40\n")
    res = run_check(models["gpt2_trained", "f32"], "--tokens", f, "--interpreter", "cpython")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "tokens: 4 from" in res.stdout


def test_beyond_tolerance_fails(models):
    res = run_check(models["gpt2_trained", "f32"], "--interpreter", "cpython", "--max-tokens", "8",
                    "--atol", "1e-12", "-q")
    assert res.returncode == 1
    assert "-> FAIL" in res.stdout and "check: FAIL" in res.stdout


def test_bad_input(tmp_path, models):
    p = tmp_path / "x.gguf"
    p.write_text("nope")
    res = run_check(p)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["check.py: error: %s is not a GGUF file (it starts with b'nope', "
                                               "not b'GGUF')" % p]
    f = tmp_path / "ids.txt"
    f.write_text("1 2 99999\n")
    res = run_check(models["gpt2_trained", "f32"], "--tokens", f, "--interpreter", "cpython")
    assert res.returncode == 2 and "outside the vocabulary" in res.stderr and "Traceback" not in res.stderr
    assert run_check("--help").returncode == 0
