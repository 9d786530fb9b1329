"""host_tools/harness/mcu_bench.py's report (the measurement itself runs in `make mcu-bench`
on the emulated board): the row format the issue asks for, the stage table, the no-fit rows."""
from harness import mcu_bench as mb
from nanollm_host.testmodels import default_model


def fake():
    stages = {"matvec qkv": 600000, "head": 300000, "sampling": 100000, "layer norm": 50000}
    res = {("native", "in-place"): {"total": 1100000, "stages": dict(stages, glue=50000)},
           ("native", "streamed"): {"total": 4000000, "stages": dict(stages, **{"weights reads": 0, "glue": 100000})}}
    return res, {("native", "q8_0"): 6.6, ("native", "q4_K"): 15.0}, {("native", "in-RAM"): "does not fit: it needs ..."}


def test_rows_and_tables():
    res, mac, nofit = fake()
    macs = mb.macs_per_token(default_model())
    assert macs == 380928  # the default model: 3 blocks of 96x288, 96x96, 96x384, 384x96, and the 96x512 head
    lines = mb.row_lines(res, 100000, mhz=133)
    assert lines[0] == "native in-place: 1,100,000 instructions/token, 11.0 instructions/MAC, 120.9 tokens/s est."
    md = mb.markdown(res, mac, nofit, 100000)
    assert "| native | in-RAM | does not fit | | | | | | |" in md
    assert "| native | in-place | 1,100,000 | 11.0 | 120.9 | 6.6 | - | - | 15.0 |" in md
    assert "| matvec qkv | 600 (55%) | 600 (15%) |" in md
    assert "| **token** | 1,100 | 4,000 |" in md
