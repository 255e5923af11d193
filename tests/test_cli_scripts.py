"""``mnist-q8 SUB``, the console script (``mnist_q8``), from a folder that holds its own
``train.py``, ``bench.py``, ``board.py``, ``host.py`` (and the project's other top-level names):
every subcommand runs this project's tool, where ``python -m train`` runs the folder's file."""

import os
import subprocess
import sys

import pytest

from mnist_q8 import COMMANDS

#: The console script ``pip install -e .`` put beside the interpreter that runs the tests.
SCRIPT = os.path.join(os.path.dirname(sys.executable), "mnist-q8")

#: A user's own modules, named like ours; each prints this and exits 3.
MARKER = "THE USER'S OWN MODULE RAN"
SHADOWS = ["train", "bench", "board", "host", "sim", "hw", "q8", "platforms", "mnist_q8"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A user's project folder: a module of each name in :data:`SHADOWS`."""
    if not os.path.isfile(SCRIPT):
        pytest.fail(f"{SCRIPT} is missing: install the project with `pip install -e .` "
                    f"(its [project.scripts])", pytrace=False)
    path = tmp_path_factory.mktemp("user_project")
    for name in SHADOWS:
        (path / f"{name}.py").write_text(f"import sys\nprint({MARKER!r})\nsys.exit(3)\n")
    return path


def _run(folder, *args, command=(SCRIPT,)):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([*command, *args], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=300)
    assert MARKER not in result.stdout + result.stderr, f"a module of the folder ran: {args}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_the_folder_shadows_python_dash_m(folder):
    # the case the console script is for: python -m puts the working folder first
    result = subprocess.run([sys.executable, "-m", "train", "--help"], cwd=folder,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3 and MARKER in result.stdout


@pytest.mark.parametrize("sub", sorted(COMMANDS))
def test_every_subcommand_has_help_under_its_own_name(folder, sub):
    result = _run(folder, sub, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: mnist-q8 {sub} ")


def test_a_real_command_runs_ours(folder):
    result = _run(folder, "fit", "--board", "icebreaker")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "icebreaker: fits"
    described = _run(folder, "describe", "--images", "20")
    assert described.returncode == 0, described.stderr
    assert described.stdout.startswith("input  28x28x1  u8 Q0.8")


def test_usage_errors_name_the_command_typed(folder):
    bad = _run(folder, "fit", "--no-such-option")
    assert bad.returncode == 2
    assert "usage: mnist-q8 fit " in bad.stderr
    assert "mnist-q8 fit: error: unrecognized arguments: --no-such-option" in bad.stderr
    unknown = _run(folder, "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines()[-1].startswith("mnist-q8: error: unknown command 'nope'")
    listing = _run(folder, "--help")
    assert listing.returncode == 0
    assert all(f"  {sub} " in listing.stdout for sub in COMMANDS)
    assert _run(folder).returncode == 2   # no command: the listing, on stderr
