"""Current bpftrace language: config blocks, let, macros, for ranges, getopt, map declarations (no kernel run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.trace import ast
from pybpf.trace.compiler import split_params, substitute_params
from pybpf.trace.errors import TraceError
from pybpf.trace.macros import expand_macros
from pybpf.trace.parser import parse
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.semantic import Analyzer
from testlib import ROOT


def analyze(source: str, provider: str = "BEGIN") -> tuple[Analyzer, ast.Script]:
    script = substitute_params(expand_macros(parse(source)), [])
    an = Analyzer()
    an.analyze(script, [[ConcreteProbe(provider, provider)] for _ in script.probes])
    return an, script


def test_config_block_and_map_declarations() -> None:
    s = parse("config = {\n  missing_probes = ignore;\n  BPFTRACE_MAX_STRLEN = 128\n}\n"
              "let @rq = lruhash(4096);\nBEGIN { @rq[1] = 2; }")
    assert s.config == {"missing_probes": "ignore", "max_strlen": "128"}
    decl = s.map_decls["@rq"]
    assert (decl.kind, decl.max_entries) == ("lruhash", 4096)
    assert len(s.probes) == 1


def test_config_must_come_first_and_map_kinds_are_checked() -> None:
    with pytest.raises(TraceError, match="config block must come before"):
        parse("BEGIN { } config = { missing_probes = warn }")
    with pytest.raises(TraceError, match="unknown map type 'btree'"):
        parse("let @m = btree(10); BEGIN { }")


def test_let_declarations_with_and_without_types() -> None:
    an, s = analyze('BEGIN { let $a; let $b: uint16; let $c: string; let $d = 5; $a = "x"; $b = 1; $c = "y"; }')
    body = s.probes[0].body
    assert [type(x).__name__ for x in body[:4]] == ["Let", "Let", "Let", "Let"]
    assert isinstance(body[1], ast.Let) and body[1].type_name == "uint16"
    assert isinstance(body[3], ast.Let) and isinstance(body[3].value, ast.Integer)
    with pytest.raises(TraceError, match="unknown type 'float'"):
        analyze("BEGIN { let $x: float; }")


def test_if_and_while_without_parentheses() -> None:
    s = parse("BEGIN { $ns = 1; if $ns { @a = 1; } else if $ns > 2 { @b = 1; } while $ns < 3 { $ns++; } }")
    stmts = s.probes[0].body
    assert isinstance(stmts[1], ast.If) and isinstance(stmts[1].cond, ast.Variable)
    assert isinstance(stmts[2], ast.While) and isinstance(stmts[2].cond, ast.Binary)


def test_for_range_loops() -> None:
    s = parse("BEGIN { for $i : 0..10 { @s += $i; } for ($j : ((uint64)1)..((uint64)$i)) { continue; } }")
    a, b = s.probes[0].body
    assert isinstance(a, ast.For) and a.var == "$i" and isinstance(a.end, ast.Integer) and a.end.value == 10
    assert isinstance(b, ast.For) and isinstance(b.start, ast.Cast)
    _, looped = analyze('BEGIN { @m[1] = "a"; for $kv : @m { printf("%d %s", $kv.0, $kv.1); } }')
    loop = looped.probes[0].body[1]
    assert isinstance(loop, ast.For) and loop.map is not None and loop.var.startswith("$kv@")  # scoped to the loop
    with pytest.raises(TraceError, match="for loops over hist\\(\\) maps are not supported"):
        analyze("BEGIN { @h = hist(1); for $kv : @h { } }")


def test_macros_expand_expressions_statements_maps_and_variables() -> None:
    src = ("macro one() { 1 }\nmacro add(x, y) { x + y }\nmacro bump($v, @m) { $v += one; @m[$v] = 1; }\n"
           "macro local() { $tmp = 5; $tmp }\n"
           "BEGIN { $tmp = 1; $a = add(one(), 2); bump($a, @hits); $b = local(); }")
    an, s = analyze(src)
    body = s.probes[0].body
    assign_a = body[1]
    assert isinstance(assign_a, ast.Assign) and isinstance(assign_a.value, ast.Binary)
    assert [type(x).__name__ for x in (assign_a.value.left, assign_a.value.right)] == ["Integer", "Integer"]
    bump = body[2]  # $v became the caller's $a, @m the caller's @hits, the bare `one` its value
    assert isinstance(bump, ast.Assign) and isinstance(bump.target, ast.Variable) and bump.target.name == "$a"
    assert "@hits" in an.maps and "@m" not in an.maps
    hidden = body[4]  # the macro's own $tmp is renamed: it is not the caller's $tmp
    assert isinstance(hidden, ast.Assign) and isinstance(hidden.target, ast.Variable)
    assert hidden.target.name != "$tmp" and hidden.target.name.startswith("$tmp_")


def test_macro_errors() -> None:
    with pytest.raises(TraceError, match=r"macro add\(\) takes 2 arguments \(1 provided\)"):
        analyze("macro add(x, y) { x + y } BEGIN { $a = add(1); }")
    with pytest.raises(TraceError, match="parameter @m expects a map"):
        analyze("macro f(@m) { @m = 1; } BEGIN { f(1); }")
    with pytest.raises(TraceError, match="nested more than"):
        analyze("macro loop() { loop() } BEGIN { $a = loop(); }")
    with pytest.raises(TraceError, match="has no value"):
        analyze("macro s() { @x = 1; } BEGIN { $a = s(); }")


def test_block_expressions_expand_in_place_with_their_own_lets() -> None:
    an, s = analyze("BEGIN { $y = 5; $x = { let $y = 2; $y * 3 }; }")
    body = s.probes[0].body
    assert [type(x).__name__ for x in body] == ["Assign", "Let", "Assign"]
    let, assign = body[1], body[2]
    assert isinstance(let, ast.Let) and let.name != "$y" and let.name.startswith("$y_")  # not the outer $y
    assert isinstance(assign, ast.Assign) and isinstance(assign.value, ast.Binary)
    assert isinstance(assign.value.left, ast.Variable) and assign.value.left.name == let.name


@pytest.mark.parametrize("source, message", [
    ("BEGIN { $x = { 1; }; }", "must end with its value"),
    ("BEGIN { $x = { }; }", "must end with its value"),
    ("BEGIN { $x = 1 ? { let $q = 1; $q } : 2; }", "cannot be evaluated conditionally"),
    ("BEGIN { $x = 0 || { @n = 1; 1 }; }", "cannot be evaluated conditionally"),
    ("BEGIN { $i = 0; while ({ @n = 1; $i < 3 }) { $i++; } }", "cannot be evaluated conditionally"),
])
def test_block_expression_errors(source: str, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        analyze(source)


def test_getopt_named_parameters_and_booleans() -> None:
    assert split_params(["1", "--depth=7", "x", "--flag"]) == (["1", "x"], {"depth": "7", "flag": "true"})
    src = ('BEGIN { printf("%d %d %s %d\\n", getopt("depth", 35), getopt("flag", false), getopt("name", "none"), '
           "$#); }")
    script = substitute_params(parse(src), ["a", "--depth=7", "--name=web"])
    call = script.probes[0].body[0].expr
    assert isinstance(call, ast.Call)
    got = [a.value for a in call.args[1:] if isinstance(a, (ast.Integer, ast.String))]
    assert got == [7, 0, "web", 1]
    with pytest.raises(TraceError, match="--depth expects a number"):
        substitute_params(parse('BEGIN { $x = getopt("depth", 1); }'), ["--depth=deep"])


def test_tuples_as_map_keys_and_has_key() -> None:
    an, _ = analyze("BEGIN { $k = (1, 2); @start[$k] = 1; @other[1, 2] = 3; "
                    "if (has_key(@start, (1, 2)) && has_key(@other, 1, 2)) { delete(@start, $k); } }")
    key = an.maps["@start"].key
    assert key is not None and key.kind == "tuple" and len(key.items) == 2
    nested = analyze('BEGIN { @m[(1, "a"), 3] = 1; }')[0].maps["@m"].key
    assert nested is not None and [i.kind for i in nested.items] == ["tuple", "int"]
    assert [i.kind for i in nested.items[0].items] == ["int", "str"]
    with pytest.raises(TraceError, match="has_key\\(\\) expects a map"):
        analyze("BEGIN { $x = has_key(1, 2); }")


def test_interval_units_and_lowercase_begin() -> None:
    from pybpf.trace.probes import expand

    s = parse("interval:1s { } interval:100ms { } i:250us { } profile:99 { } begin { } end { }")
    points = [p.attach_points[0] for p in s.probes]
    periods = [expand(ap)[0].period for ap in points[:3]]
    assert periods == [1_000_000_000, 100_000_000, 250_000]
    assert expand(points[3])[0].frequency == 99
    assert [ap.provider for ap in points[4:]] == ["BEGIN", "END"]
    assert expand(points[1])[0].probe_text == "interval:100ms"


def test_builtins_and_functions_of_current_bpftrace() -> None:
    an, s = analyze('BEGIN { $a = ppid; $b = pcomm; $c = bswap((uint16)1); $d = syscall_name(0); '
                    '$e = "abc"[1]; $f = true; @g = delete(@h, 1); @h[1] = 1; }')
    assert an.maps["@g"].kind == "int"
    with pytest.raises(TraceError, match="a string index must be an integer literal"):
        analyze('BEGIN { $i = 1; $x = "abc"[$i]; }')


def test_lhist_labels_use_k_and_m_suffixes_like_bpftrace() -> None:
    from pybpf.trace.output import lhist_label

    # as Debian's bpftrace 0.17 prints them: lhist(x, 1024, 4096, 1024) and lhist(x, 0, 3000, 512)
    assert [lhist_label(i, 1024, 4096, 1024) for i in range(5)] == [
        "(..., 1K)", "[1K, 2K)", "[2K, 3K)", "[3K, 4K)", "[4K, ...)"]
    assert lhist_label(4, 0, 3000, 512) == "[1536, 2K)"
    assert lhist_label(1, 0, 3145728, 1048576) == "[0, 1M)"
    assert lhist_label(1, 0, 100, 10) == "[0, 10)"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "pybpf.trace", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_cli_dead_pid_is_no_such_process() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    proc = _cli("-p", str(dead.pid), "-e", "BEGIN { }")
    assert proc.returncode == 1
    assert proc.stderr == f"pybpf trace: -p {dead.pid}: No such process\n"


def test_cli_binary_file_is_one_clear_error(tmp_path: Path) -> None:
    binary = tmp_path / "prog"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)))
    proc = _cli(str(binary))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"pybpf trace: {binary} is not a bpftrace script (not UTF-8 text: a binary file?)\n"


def test_deeply_nested_expressions_parse_or_fail_cleanly() -> None:
    deep = "(" * 100 + "1" + ")" * 100
    long_sum = " + ".join(["1"] * 500)
    from pybpf.trace.compiler import compile_script

    compiled = compile_script(f"BEGIN {{ @a = {deep}; @b = {long_sum}; }}")
    assert set(compiled.program.maps) == {"@a", "@b"}
    with pytest.raises(TraceError, match="nests expressions or statements too deeply"):
        parse("BEGIN { @a = " + "(" * 5000 + "1" + ")" * 5000 + "; }")


def test_trace_main_does_not_import_the_cli() -> None:
    code = ("import json, sys, pybpf.trace.__main__, pybpf.trace.command\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pybpf.cli'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
