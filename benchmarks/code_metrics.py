"""How easy the package is to walk: the numbers of the house issue.

Prints, for the ``skcae`` package of this checkout:

* the size (lines) of every module;
* the modules that a default ``fit`` (300 images of 8x8 pixels, every
  parameter at its default but ``random_state``) and ``score_samples`` of
  :class:`~skcae.ConvAutoencoderOutlierDetector` pass through: every skcae
  function called while they run is traced, and the distinct modules, the
  module changes (each call that enters another module than the last one
  entered), the returns to a module already left, and the distinct module
  changes (caller module -> callee module) are counted, with the number of
  networks the fit trained;
* the private scikit-learn names each module imports;
* the private names (one leading underscore) used outside the module that
  defines them: imported from another skcae module (``from ._x import _y``)
  or read as an attribute of another module's object (``estimator._images``).
  Attributes of the module's own classes (``self._x``) do not count.

Run from the repository root (``--skcae PATH`` measures another checkout,
e.g. an older commit in a ``git worktree``)::

    python benchmarks/code_metrics.py
    git worktree add --detach /tmp/old HEAD~5 && \
        python benchmarks/code_metrics.py --skcae /tmp/old
"""

import argparse
import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "skcae"
sys.path.insert(0, str(ROOT / "benchmarks"))


def module_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "_version.py")


def defined_names(tree):
    """Names a module defines: top-level and class-level functions, classes,
    assignments, and attributes assigned on ``self``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
                    elif isinstance(sub, ast.Attribute):
                        names.add(sub.attr)
    return names


def is_private(name):
    return name.startswith("_") and not name.startswith("__")


def private_uses():
    """Private names used outside the module that defines them.

    Returns ``(foreign, inherited)``: ``foreign`` are ``{(module, name)}``
    imported from another skcae module (``from ._x import _y``; module
    imports such as ``from . import _docstrings`` do not count) or read as
    an attribute of an object that is not ``self``/``cls``
    (``estimator._images``); ``inherited`` are ``self._x`` hooks defined in
    another module (a base class's protected methods).
    """
    foreign, inherited = set(), set()
    trees = {path: ast.parse(path.read_text()) for path in module_files()}
    modules = {p.stem for p in trees} | {p.parent.name for p in trees}
    for path, tree in trees.items():
        own = defined_names(tree)
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or 0) > 0:
                for alias in node.names:
                    if is_private(alias.name) and alias.name not in modules:
                        foreign.add((rel, alias.name))
            elif isinstance(node, ast.Attribute) and is_private(node.attr):
                if node.attr in own or node.attr in modules:
                    continue
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                    inherited.add((rel, node.attr))
                elif not (isinstance(base, ast.Name) and base.id in modules):
                    foreign.add((rel, node.attr))
    return foreign, inherited


def trace_modules(call):
    """The skcae modules entered while ``call()`` runs, in order.

    Returns ``(modules, changes, returns, distinct)``: the distinct modules,
    the number of module changes, how many of them return to a module
    already left, and the number of distinct (caller, callee) changes.
    """
    sequence = []

    def tracer(frame, event, arg):
        if event == "call":
            filename = frame.f_code.co_filename
            if filename.startswith(str(PACKAGE)):
                module = Path(filename).relative_to(ROOT).as_posix()
                if not sequence or sequence[-1] != module:
                    sequence.append(module)
        return None

    sys.setprofile(None)
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    changes = list(zip(sequence, sequence[1:]))
    returns, left = 0, set()
    for caller, callee in changes:
        left.add(caller)
        returns += callee in left
    return sorted(set(sequence)), len(changes), returns, len(set(changes))


def count_networks():
    """A counter of the networks trained (every AutoencoderNet initialised)."""
    from skcae import _training

    count = [0]
    original = _training.AutoencoderNet.initialize_module

    def counted(self):
        count[0] += 1
        return original(self)

    _training.AutoencoderNet.initialize_module = counted
    return count


def main(argv=None):
    global ROOT, PACKAGE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skcae", default=str(ROOT), help="checkout to measure")
    args = parser.parse_args(argv)
    ROOT = Path(args.skcae).resolve()
    PACKAGE = ROOT / "skcae"
    from _common import environment_lines  # puts this checkout on sys.path

    sys.path.insert(0, str(ROOT))  # ahead of it
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from skcae import ConvAutoencoderOutlierDetector

    assert Path(sys.modules["skcae"].__file__).resolve().parent == PACKAGE
    print("\n".join(environment_lines(1, checkout=ROOT)) + "\n")
    print("## Module sizes (lines)\n")
    total = 0
    for path in module_files():
        n = len(path.read_text().splitlines())
        total += n
        flag = "  (over 500)" if n > 500 else ""
        print(f"{n:5d}  {path.relative_to(ROOT).as_posix()}{flag}")
    print(f"{total:5d}  total in {len(module_files())} modules\n")

    X = np.random.RandomState(0).rand(300, 8, 8)
    det = ConvAutoencoderOutlierDetector(random_state=0)
    networks = count_networks()
    fit = trace_modules(lambda: det.fit(X))
    score = trace_modules(lambda: det.score_samples(X))
    print("## Modules X passes through\n")
    print(
        "Default ConvAutoencoderOutlierDetector(random_state=0) on 300 random "
        f"8x8 images; the fit trained {networks[0]} network(s).\n"
    )
    print(
        "| call | modules | module changes | returns to a module left | "
        "distinct changes |"
    )
    print("|---|---|---|---|---|")
    for name, (modules, changes, returns, distinct) in (
        ("fit", fit),
        ("score_samples", score),
    ):
        print(f"| {name} | {len(modules)} | {changes} | {returns} | {distinct} |")
    print()
    for name, (modules, *_) in (("fit", fit), ("score_samples", score)):
        print(f"{name}: " + ", ".join(modules))
    print()

    print("## Private scikit-learn imports\n")
    for path in module_files():
        found = sorted(
            set(re.findall(r"from sklearn[\w.]* import \(?([^)\n]*)", path.read_text()))
        )
        names = [
            n.strip()
            for group in found
            for n in group.split(",")
            if n.strip().startswith("_") or "._" in group
        ]
        private_modules = re.findall(r"from (sklearn[\w.]*\._\w+)", path.read_text())
        if names or private_modules:
            print(
                f"{path.relative_to(ROOT).as_posix()}: "
                f"{', '.join(sorted(set(names + private_modules)))}"
            )
    print()

    foreign, inherited = private_uses()
    for title, uses in (
        ("Private names used outside their module (other objects, imports)", foreign),
        ("Base-class hooks used through self in another module", inherited),
    ):
        by_module = defaultdict(list)
        for module, name in sorted(uses):
            by_module[module].append(name)
        print(f"## {title}: {len(uses)}\n")
        for module, names in by_module.items():
            print(f"{module}: {', '.join(names)}")
        print()


if __name__ == "__main__":
    main()
