"""The pytest shim for the on-device tests: the same files run on CPython here, under the
unix micropython and on boards (host_tools/harness/devtest.py). Configures the tiny harness with
the models and turns its Skip into pytest's."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import devharness  # noqa: E402
from nanollm_host import testmodels  # noqa: E402

devharness.Skip = pytest.skip.Exception


@pytest.fixture(scope="session", autouse=True)
def _device_models():
    devharness.config["model"] = testmodels.default_model()
    devharness.config["big_model"] = testmodels.big_model()
    devharness.config["board"] = "cpython"
    # CPython has neither viper nor the native module: the plain kernels are the expected ones
    devharness.config["backend"] = "python"
    devharness.config["quant_models"] = [testmodels.fixture_model(q) for q in testmodels.QUANT_TYPES]
    yield
