"""sim.cxxsplit: a CXXRTL model's eval() cut into parts, the statements in their order, the
localised wires made members, a memory read's temporaries kept with their readers; a text not
as write_cxxrtl writes it refused. (The netlist tests in tests/test_rtl.py and
tests/test_board*.py compile and run split models against the reference.)"""

import re
import subprocess

import pytest

from hw.build.toolchain import ToolError
from sim.cxxsplit import split_eval
from sim.rtl import compiler


def _model(statements):
    """A text in write_cxxrtl's form: a class, an eval() with locals and ``statements``."""
    locals_ = "".join(f"\t// \\hdlname: w{k}\n\tvalue<8> w{k};\n" for k in range(3))
    return ("#include <cstdio>\nnamespace cxxrtl_design {\nstruct performer {};\n"
            "template<int N> struct value { int v; };\n"
            "struct p_top {\n\tint out[64]; int n = 0;\n\tbool posedge_p_clk() { return true; }\n"
            "\tint mem[4] = {5, 6, 7, 8};\n\tbool eval(performer *performer = nullptr);\n"
            "}; // struct p_top\n"
            "\nbool p_top::eval(performer *performer) {\n\tbool converged = false;\n"
            "\tbool posedge_p_clk = this->posedge_p_clk();\n" + locals_ + statements +
            "\treturn converged;\n}\n} // namespace cxxrtl_design\n")


def _statements(count):
    text = ""
    for k in range(count):
        if k % 5 == 2:   # a memory read: a temporary, read by the next two statements
            text += (f"\t// cell read{k}\n\tauto tmp_{k} = {k % 4};\n"
                     f"\tif (posedge_p_clk) {{\n\t\tout[n++] = mem[tmp_{k}];\n\t}}\n"
                     f"\tout[n++] = tmp_{k} + {k};\n")
        else:
            text += f"\t// cell c{k}\n\tout[n++] = {k};\n"
    return text


def test_split_keeps_order_locals_and_temporaries():
    text = _model(_statements(40))
    split = split_eval(text, size=4)
    calls = re.findall(r"\teval_(\d+)\(posedge_p_clk, performer\);", split)
    assert len(calls) > 5 and calls == [str(k) for k in range(len(calls))]
    # the locals are members now, declared in the class with the parts
    cls = split[:split.index("}; // struct p_top")]
    assert all(f"\tvalue<8> w{k};" in cls for k in range(3))
    assert f"\tvoid eval_{len(calls) - 1}(bool posedge_p_clk, performer *performer);" in cls
    # every temporary in the part that declares it, with its readers
    for body in re.findall(r"void p_top::eval_\d+\(.*?\n\}\n", split, re.S):
        for name in re.findall(r"\bauto (tmp_\d+)", body):
            def uses(t):
                return len(re.findall(rf"\b{name}\b", t))
            assert uses(split) == uses(body) == 3
    # the statements, in order, exactly once
    def order(t):
        return re.findall(r"out\[n\+\+\] = [^;]*;", t)
    assert order(split) == order(text)
    # a design that settles in one evaluation (the iCE40's netlists) starts converged
    settled = text.replace("bool converged = false;", "bool converged = true;")
    assert split_eval(settled, size=4) == split.replace("converged = false", "converged = true")
    # a part's worth or fewer: unchanged
    assert split_eval(text, size=10_000) == text


def test_split_model_computes_the_same(tmp_path):
    # both texts compiled and run: the same outputs in the same order
    command = compiler()[0]
    main = ("\nint main() { cxxrtl_design::p_top top; top.eval(); "
            "for (int i = 0; i < top.n; i++) printf(\"%d \", top.out[i]); }\n")
    text = _model(_statements(40))
    outputs = []
    for name, source in (("whole", text), ("split", split_eval(text, size=3))):
        path = tmp_path / f"{name}.cc"
        path.write_text(source + main)
        subprocess.run([*command, "-std=c++17", str(path), "-o", str(tmp_path / name)],
                       check=True)
        outputs.append(subprocess.run([str(tmp_path / name)], capture_output=True,
                                      text=True, check=True).stdout)
    assert outputs[0] == outputs[1] and len(outputs[0].split()) == 48


@pytest.mark.parametrize("broken, what", [
    (lambda t: t.replace("bool p_top::eval(performer *performer)", "bool p_top::eval()"),
     "no `bool p_top::eval"),
    (lambda t: t.replace("\treturn converged;\n}\n", "\treturn true;\n}\n"),
     "no `return converged;`"),
    (lambda t: t.replace("\tout[n++] = 3;\n", "\tif (n) {\n\tout[n++] = 3;\n"),
     "a statement left open"),
    (lambda t: t.replace("\tout[n++] = 3;\n", "\tconverged = true;\n"),
     "reads `converged`"),
])
def test_unexpected_text_refused(broken, what):
    text = broken(_model(_statements(20)))
    with pytest.raises(ToolError, match=re.escape(what)) as info:
        split_eval(text, size=4)
    assert "adapt sim/cxxsplit.py" in str(info.value)
