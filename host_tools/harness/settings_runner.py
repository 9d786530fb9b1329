"""Run the bad API settings of bad_inputs.SETTINGS against a model; the same file on CPython
and MicroPython, so the two interpreters are held to the same messages.

CPython imports run_settings (bad_inputs.run_settings_cpython, for tests/test_bad_input.py and
host_tools/gen/gen_error_table.py); tests/test_bad_input.py runs it under the unix MicroPython:

  micropython settings_runner.py CASES.json MODEL F32_MODEL

CASES.json is the list of code strings (SETTINGS' second column); the script prints
"RESULT <json list of [status, message]>", one per case, plus any "bad" entries the checks
after the cases add. Plain enough for both interpreters: nanollm is its only import.
"""
import nanollm


def run_settings(cases, path, f32_path):
    """Each code string run with `m` (path loaded), `nanollm`, `path` and `f32_path` in scope:
    ('err', message) for a NanoLLMError, ('none', '') when nothing was raised, ('bad', ...)
    for any other exception or when the model or the module is unusable afterwards."""
    out = []
    m = nanollm.load(path)
    for code in cases:
        try:
            exec(code, {"m": m, "nanollm": nanollm, "path": path, "f32_path": f32_path})
            out.append(("none", ""))
        except nanollm.NanoLLMError as e:
            out.append(("err", str(e)))
        except Exception as e:  # noqa: BLE001  (the point: report anything else)
            out.append(("bad", "%s: %s" % (type(e).__name__, e)))
        # the model stays usable: a normal generation right after the error
        if not isinstance(m.generate("hi", max_new_tokens=1, temperature=0), str):
            out.append(("bad", "generate after the error failed"))
    # and the module loads a model afresh
    if not isinstance(nanollm.load(path).generate("hi", max_new_tokens=3, temperature=0), str):
        out.append(("bad", "load after the errors failed"))
    return out


if __name__ == "__main__":
    import json
    import sys
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    print("RESULT", json.dumps(run_settings(cases, sys.argv[2], sys.argv[3])))
