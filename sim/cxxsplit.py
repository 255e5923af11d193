"""A large CXXRTL model's ``eval()`` cut into functions a compiler can take.

``write_cxxrtl`` puts a flattened design's whole evaluation into one function: for a netlist,
a statement or two per cell. A large netlist's (the shipped network's ECP5 netlist, about
20,000 cells, a ``eval()`` of 173,000 lines) is more than g++ can optimise: at ``-O2`` it
worked on it for most of an hour and then stopped with an internal compiler error; at ``-O1``
for more than 20 minutes. The time goes into the one function, so :func:`split_eval` rewrites
it as a call of many smaller ones, in order, with the same statements: the locals that
CXXRTL made of the internal wires (each written before it is read in every evaluation, so
its value between evaluations is never used) become members of the design's class, so every
part sees them; the temporaries that one statement declares and the next ones read (a memory
read's index) stay in one part with their readers. The statements run in the same order,
so the model computes exactly what the unsplit one does.

The rewrite reads the generated text; a text not as it expects (another Yosys) is refused with
a :class:`hw.build.toolchain.ToolError`, never half-rewritten.
"""

import re

from hw.build.toolchain import ToolError

__all__ = ["STATEMENTS_PER_PART", "split_eval"]

#: Lines of statements in a part: small enough that g++'s time stays linear in the netlist's
#: size, large enough that the calls cost nothing beside the work.
STATEMENTS_PER_PART = 400

# `converged`: true where the design settles in one evaluation, as the iCE40's netlist does
_HEAD = re.compile(r"\nbool p_top::eval\(performer \*performer\) \{\n"
                   r"\tbool converged = (?:true|false);\n"
                   r"\tbool posedge_p_clk = this->posedge_p_clk\(\);\n")
_TAIL = "\treturn converged;\n}\n"
_CLASS_END = "}; // struct p_top\n"
_LOCAL = re.compile(r"\tvalue<\d+> \w+;")            # a localised wire, never initialised
_TEMPORARY = re.compile(r"\t(?:auto|value<\d+>) (tmp_\d+) =")
_TEMPORARY_USE = re.compile(r"\btmp_\d+\b")


def _refuse(what):
    raise ToolError(f"sim.cxxsplit: the CXXRTL model's eval() is not as expected ({what}); "
                    f"the Yosys version may have changed how write_cxxrtl writes it: adapt "
                    f"sim/cxxsplit.py to it")


def _statements(body):
    """The locals (with their comments) and the top-level statements of ``eval()``'s body."""
    members, statements, current, pending, depth = [], [], [], [], 0
    for line in body:
        if depth == 0 and _LOCAL.fullmatch(line):
            members += pending + [line]
            pending = []
            continue
        if depth == 0 and line.startswith("\t//"):
            pending.append(line)   # a statement's comments go with it
            continue
        current += pending + [line]
        pending = []
        depth += line.count("{") - line.count("}")
        if depth < 0:
            _refuse("unbalanced braces")
        if depth == 0:
            statements.append("\n".join(current))
            current = []
    if depth or current:
        _refuse("a statement left open at its end")
    if pending:
        statements.append("\n".join(pending))
    return members, statements


def _parts(statements, size):
    """``statements`` in runs of about ``size`` lines, none cutting a temporary from its
    readers."""
    last = {}
    for i, statement in enumerate(statements):
        for name in _TEMPORARY_USE.findall(statement):
            last[name] = i
    parts, part, lines, open_until = [], [], 0, -1
    for i, statement in enumerate(statements):
        part.append(statement)
        lines += statement.count("\n") + 1
        for name in _TEMPORARY.findall(statement):
            open_until = max(open_until, last[name])
        if open_until <= i and lines >= size:
            parts.append(part)
            part, lines = [], 0
    if part:
        parts.append(part)
    return parts


def split_eval(text, *, size=STATEMENTS_PER_PART):
    """``text``, the C++ of ``write_cxxrtl`` for a design named ``top``, with its ``eval()``
    in parts of about ``size`` lines of statements (``eval_0``, ``eval_1``, ... called in
    order); the text unchanged if it has a part's worth or fewer.

    Raises
    ------
    ToolError
        The text is not as ``write_cxxrtl`` writes it (see the module's docstring).
    """
    head = _HEAD.search(text)
    if head is None or text.count(_CLASS_END) != 1:
        _refuse("no `bool p_top::eval(performer *performer)` as write_cxxrtl writes it")
    start = head.end()
    end = text.find(_TAIL, start)
    if end < 0:
        _refuse("no `return converged;` at its end")
    members, statements = _statements(text[start:end].split("\n")[:-1])
    code = "\n".join(line for s in statements for line in s.split("\n")
                     if not line.lstrip("\t").startswith("//"))
    if re.search(r"\b(?:converged|return)\b", code):
        _refuse("a statement reads `converged` or returns")
    parts = _parts(statements, size)
    if len(parts) <= 1:
        return text
    signature = "(bool posedge_p_clk, performer *performer)"
    calls = "".join(f"\teval_{k}(posedge_p_clk, performer);\n" for k in range(len(parts)))
    bodies = "".join(f"\nvoid p_top::eval_{k}{signature} {{\n" + "\n".join(part) + "\n}\n"
                     for k, part in enumerate(parts))
    after = end + len(_TAIL)
    text = text[:start] + calls + text[end:after] + bodies + text[after:]
    declarations = "".join(f"\tvoid eval_{k}{signature};\n" for k in range(len(parts)))
    at = text.index(_CLASS_END)
    return text[:at] + "".join(line + "\n" for line in members) + declarations + text[at:]
