"""The packages are layers and imports go one way, bottom to top (``README.md``, "Layers").

Every module's imports are read with :mod:`ast`, the ones inside functions included, so an
import that runs back up cannot hide in a function body.
"""

import ast
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Bottom to top: a module may import its own layer's modules and those of the layers below.
#: A name stands for a package or a module and everything under it; the longest name wins.
LAYERS = [
    ("model", ["q8"]),
    ("board facts", ["platforms"]),
    ("hardware: shared", ["hw", "hw.lib"]),
    ("hardware: vendor primitives", ["hw.vendor"]),
    ("hardware: stages", ["hw.stages"]),
    ("hardware: board top", ["hw.board"]),
    ("hardware: fit plan", ["hw.fit"]),
    ("hardware: build flow", ["hw.build"]),
    ("simulators", ["sim"]),
    ("tools", ["train", "host", "bench", "mnist_q8"]),
]

#: What the arithmetic model may import besides the standard library.
MODEL_THIRD_PARTY = {"numpy"}

PACKAGES = sorted({name.split(".")[0] for _, names in LAYERS for name in names})


def layer_of(module):
    """The index of ``module``'s layer in :data:`LAYERS`."""
    best = None
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > len(best[1]):
                    best = (index, name)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add its package to LAYERS")
    return best[0]


def project_modules():
    """``{module name: path}`` of every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts.pop()
                    found[".".join(parts)] = path
    return found


def imports_of(module, path, modules):
    """The project modules that ``module`` imports: ``(line, name)`` pairs. ``from p import m``
    counts as importing the submodule ``p.m`` where there is one, else ``p``."""
    is_package = path.endswith("__init__.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules
                       else source for alias in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target.split(".")[0] in PACKAGES:
                found.append((node.lineno, target))
            elif layer_of(module) == 0 and target.split(".")[0] not in \
                    MODEL_THIRD_PARTY | set(sys.stdlib_module_names):
                found.append((node.lineno, f"third-party:{target}"))
    return found


def test_every_module_is_in_a_layer():
    modules = project_modules()
    assert "q8.contract" in modules and "hw.build" in modules and "sim.evaluate" in modules
    for module in modules:
        layer_of(module)


def upward_imports(modules):
    """Each import of ``modules`` (``{name: path}``) against the layers, as a sentence."""
    known = {**project_modules(), **modules}
    wrong = []
    for module, path in sorted(modules.items()):
        where = os.path.relpath(path, ROOT)
        for line, target in imports_of(module, path, known):
            if target.startswith("third-party:"):
                wrong.append(f"{where}:{line}: the arithmetic model imports "
                             f"{target.split(':', 1)[1]} (numpy only)")
            elif layer_of(target) > layer_of(module):
                wrong.append(f"{where}:{line}: {module} ({LAYERS[layer_of(module)][0]}) "
                             f"imports {target} ({LAYERS[layer_of(target)][0]}), a layer above")
    return wrong


def test_imports_go_down_the_layers():
    wrong = upward_imports(project_modules())
    assert not wrong, "\n".join(wrong)


def import_cycles(graph):
    """The cycles of ``graph`` (``{module: [modules it imports]}``), each as "a -> b -> a"."""
    cycles, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        for target in graph.get(module, ()):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycles():
    modules = project_modules()
    graph = {module: sorted({t for _, t in imports_of(module, path, modules)
                             if t in modules and t != module})
             for module, path in modules.items()}
    # a package's __init__ may import its own submodules (platforms finds its boards)
    graph = {m: [t for t in targets if not t.startswith(m + ".")] for m, targets in graph.items()}
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_a_cycle_is_reported():
    # the one that hw.stages.dense and hw.vendor.ice40 had, before WeightPort moved to hw.lib.ports
    assert import_cycles({"hw.stages.dense": ["hw.vendor.ice40"], "hw.vendor.ice40": ["hw.stages.dense"], "q8.x": []}) == \
        ["hw.stages.dense -> hw.vendor.ice40 -> hw.stages.dense"]


@pytest.mark.parametrize("source, expected", [
    ("import hw.build\n", "hw.build"),
    ("from . import contract\n", "q8.contract"),
    ("def f():\n    from sim import evaluate\n", "sim.evaluate"),
])
def test_the_walker_sees_imports(tmp_path, source, expected):
    path = tmp_path / "mod.py"
    path.write_text(source)
    modules = project_modules()
    assert (expected in [t for _, t in imports_of("q8.mod", str(path), modules)])


@pytest.mark.parametrize("module, source", [
    ("q8.fake", "from hw.stages.conv import Conv2DStage\n"),
    ("q8.fake", "import keras\n"),
    ("hw.stages.fake", "def f():\n    from hw.board.top import BoardTop\n"),
    ("hw.board.fake", "from hw.build import build\n"),
    ("platforms.fake", "from hw.vendor.ice40 import ClockGenerator\n"),
    ("hw.vendor.fake", "from hw.stages.dense import DenseStage\n"),
    ("sim.fake", "import train.qat\n"),
])
def test_an_upward_import_is_reported(tmp_path, module, source):
    path = tmp_path / "fake.py"
    path.write_text(source)
    assert len(upward_imports({module: str(path)})) == 1


def folders_graph(modules):
    """The import graph between folders: at every level of the tree, each folder (with its
    subfolders) is one node, and an import between two sibling folders is an arrow
    (``{folder: {folder it imports}}``). A package's own modules and its subfolders are not
    siblings: their imports are checked module by module (:func:`test_no_import_cycles`)."""
    graph = {}
    for module, path in modules.items():
        here = module.split(".")
        if not path.endswith("__init__.py"):
            here = here[:-1]
        for _, target in imports_of(module, path, modules):
            if target not in modules:
                continue
            there = target.split(".")
            if not modules[target].endswith("__init__.py"):
                there = there[:-1]
            common = 0
            while common < min(len(here), len(there)) and here[common] == there[common]:
                common += 1
            if common < len(here) and common < len(there):   # siblings under one parent
                a, b = ".".join(here[:common + 1]), ".".join(there[:common + 1])
                graph.setdefault(a, set()).add(b)
    return graph


def test_folders_import_down_and_without_cycles():
    modules = project_modules()
    graph = folders_graph(modules)
    assert "hw.stages" in graph and "sim" in graph
    up = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
          for a, targets in sorted(graph.items()) for b in sorted(targets)
          if layer_of(b) > layer_of(a)]
    assert not up, "folders importing a folder above them:\n" + "\n".join(up)
    cycles = import_cycles({a: sorted(b) for a, b in graph.items()})
    assert not cycles, "cycles between folders:\n" + "\n".join(cycles)


def test_a_folder_cycle_is_reported(tmp_path):
    # two sibling folders that import each other, as board/ and hw/ did before hw.board
    modules = {"hw.stages.a": str(tmp_path / "a.py"), "hw.board.b": str(tmp_path / "b.py")}
    (tmp_path / "a.py").write_text("from hw.board.b import x\n")
    (tmp_path / "b.py").write_text("from hw.stages.a import y\n")
    graph = folders_graph(modules)
    assert graph == {"hw.stages": {"hw.board"}, "hw.board": {"hw.stages"}}
    assert import_cycles({a: sorted(b) for a, b in graph.items()}) == \
        ["hw.board -> hw.stages -> hw.board"]
