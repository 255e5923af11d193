import importlib.util
import os
import shutil

import pytest

# The data set of this workplace lies beside the checkout (../shared/data); elsewhere MNIST_PATH
# or ~/.keras/datasets/mnist.npz provide it (see sim/mnist.py).
_SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist.npz")
if "MNIST_PATH" not in os.environ and os.path.isfile(_SHARED):
    os.environ["MNIST_PATH"] = os.path.abspath(_SHARED)

#: Set to 1 (CI does), a test marked ``tool`` (or ``extra``) fails rather than skips when its
#: tool (or Python package) is missing, so that CI always checks what the optional ones add.
REQUIRE_TOOLS = "MNIST_Q8_REQUIRE_TOOLS"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tool(name, package): the test needs the system tool `name` (from the "
                   "Debian/Ubuntu package `package`); skipped without it unless "
                   f"${REQUIRE_TOOLS}=1")
    config.addinivalue_line(
        "markers", "extra(module, extra): the test needs the Python module `module`, from the "
                   "project's optional dependencies `extra` (pip install -e '.[extra]'); "
                   f"skipped without it unless ${REQUIRE_TOOLS}=1")


def _missing(message):
    if os.environ.get(REQUIRE_TOOLS) == "1":
        pytest.fail(f"{message}, and ${REQUIRE_TOOLS}=1 asks for every optional tool and "
                    f"package", pytrace=False)
    pytest.skip(message)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("tool"):
        name, package = mark.args
        if shutil.which(name) is None:
            _missing(f"{name} is not installed (apt-get install {package})")
    for mark in item.iter_markers("extra"):
        module, extra = mark.args
        if importlib.util.find_spec(module) is None:
            _missing(f"the Python package {module} is not installed "
                     f"(pip install -e '.[{extra}]')")


@pytest.fixture
def hide_tools(tmp_path_factory, monkeypatch):
    """``hide_tools(*names)`` takes the programs ``names`` off ``PATH`` for the test: each
    folder of ``PATH`` that holds one is replaced by a folder of links to its other programs,
    as on a machine without them."""
    def hide(*names):
        folders = []
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            if not any(os.path.lexists(os.path.join(folder, name)) for name in names):
                folders.append(folder)
                continue
            links = tmp_path_factory.mktemp("path")
            for entry in os.listdir(folder):
                if entry not in names:
                    os.symlink(os.path.join(folder, entry), links / entry)
            folders.append(str(links))
        monkeypatch.setenv("PATH", os.pathsep.join(folders))
        assert not any(shutil.which(name) for name in names)
    return hide
