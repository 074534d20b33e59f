"""Parser and semantic checks of the bpftrace language (no kernel needed)."""

from __future__ import annotations

import pytest

from pybpf.trace import ast
from pybpf.trace.errors import TraceError
from pybpf.trace.parser import parse
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.semantic import Analyzer


def error_of(source: str) -> TraceError:
    with pytest.raises(TraceError) as info:
        parse(source)
    return info.value


def test_probes_predicate_and_statements() -> None:
    s = parse('tracepoint:syscalls:sys_enter_openat, t:syscalls:sys_enter_open* /pid == 1 && comm == "x"/ '
              '{ @[comm, pid] = count(); $x = args->filename; @a++; @b += 2 }')
    (probe,) = s.probes
    assert [(a.provider, a.target, a.func) for a in probe.attach_points] == [
        ("tracepoint", "syscalls", "sys_enter_openat"), ("tracepoint", "syscalls", "sys_enter_open*")]
    assert isinstance(probe.predicate, ast.Binary) and probe.predicate.op == "&&"
    first = probe.body[0]
    assert isinstance(first, ast.Assign) and isinstance(first.target, ast.MapRef)
    assert first.target.name == "@" and len(first.target.keys or []) == 2
    incr = probe.body[2]
    assert isinstance(incr, ast.Assign) and incr.op == "+=" and isinstance(incr.value, ast.Integer)


def test_uprobe_paths_and_aliases() -> None:
    s = parse("uprobe:/bin/bash:readline { } ur:/usr/lib/libc.so.6:malloc /arg0 > 10/ { } "
              "i:s:1 { } profile:hz:99 { } kfunc:vfs_read { } interval:ms:50 { }")
    got = [(p.attach_points[0].provider, p.attach_points[0].target, p.attach_points[0].func) for p in s.probes]
    assert got == [("uprobe", "/bin/bash", "readline"), ("uretprobe", "/usr/lib/libc.so.6", "malloc"),
                   ("interval", "s", "1"), ("profile", "hz", "99"), ("fentry", "", "vfs_read"),
                   ("interval", "ms", "50")]
    assert s.probes[1].predicate is not None


def test_precedence_ternary_cast() -> None:
    (probe,) = parse("BEGIN { $a = 1 + 2 * 3 << 1 == 14 ? (int8)300 : -1; }").probes
    stmt = probe.body[0]
    assert isinstance(stmt, ast.Assign)
    tern = stmt.value
    assert isinstance(tern, ast.Ternary)
    eq = tern.cond
    assert isinstance(eq, ast.Binary) and eq.op == "=="
    shift = eq.left
    assert isinstance(shift, ast.Binary) and shift.op == "<<"
    plus = shift.left
    assert isinstance(plus, ast.Binary) and plus.op == "+" and isinstance(plus.right, ast.Binary)
    assert isinstance(tern.then, ast.Cast) and tern.then.type_name == "int8"
    assert isinstance(tern.other, ast.Integer) and tern.other.value == -1


def test_if_else_chain_and_literals() -> None:
    (probe,) = parse('BEGIN { if (1) { @a = 0x10; } else if (2) { @b = 1e3; } else { @c = "q\\tz"; } }').probes
    top = probe.body[0]
    assert isinstance(top, ast.If) and top.other is not None
    inner = top.other[0]
    assert isinstance(inner, ast.If) and inner.other is not None
    a = top.then[0]
    b = inner.then[0]
    c = inner.other[0]
    assert isinstance(a, ast.Assign) and isinstance(a.value, ast.Integer) and a.value.value == 16
    assert isinstance(b, ast.Assign) and isinstance(b.value, ast.Integer) and b.value.value == 1000
    assert isinstance(c, ast.Assign) and isinstance(c.value, ast.String) and c.value.value == "q\tz"


def test_predicate_division_inside_parentheses() -> None:
    (probe,) = parse("BEGIN /(pid / 2) > 1/ { }").probes
    assert isinstance(probe.predicate, ast.Binary) and probe.predicate.op == ">"


def test_comments_are_skipped() -> None:
    s = parse("// one\nBEGIN /* two */ { @x = 1; } // three\n")
    assert len(s.probes) == 1


def test_syntax_error_position_and_render() -> None:
    src = "BEGIN { @x = 1 +; }"
    err = error_of(src)
    assert (err.line, err.column) == (1, 17)
    assert err.render(src) == ("stdin:1:17-18: ERROR: syntax error, unexpected ;\n"
                               "BEGIN { @x = 1 +; }\n"
                               "                ~")


def test_error_on_second_line() -> None:
    src = 'BEGIN {\n  printf("x"\n}'
    err = error_of(src)
    assert err.line == 3 and err.column == 1
    assert "expecting )" in err.message


@pytest.mark.parametrize("src, message", [
    ('BEGIN { @x = "abc }', "unterminated string"),
    ("BEGIN { @x = 1; ", "unexpected end of file"),
    ("bogus:a:b { }", "Invalid probe type: bogus"),
    ("BEGIN { $ = 1; }", "invalid variable name"),
    ("BEGIN { @x = 99999999999999999999999; }", "out of range"),
])
def test_syntax_errors(src: str, message: str) -> None:
    assert message in error_of(src).message


def analyze(source: str, provider: str = "BEGIN") -> Analyzer:
    script = parse(source)
    an = Analyzer()
    an.analyze(script, [[ConcreteProbe(provider, provider)] for _ in script.probes])
    return an


@pytest.mark.parametrize("src, message, column", [
    ("BEGIN { @x = foo(1); }", "Unknown function: foo", 14),
    ("BEGIN { @x = $y; }", "Undefined or undeclared variable: $y", 14),
    ("BEGIN { @x = retval; }", "retval builtin can only be used", 14),
    ('BEGIN { @x = 1; @x = "s"; }', "Type mismatch for @x", 17),
    ('BEGIN { printf("%d %d\\n", 1); }', "Not enough arguments for format string (1 supplied, 2 expected)", 9),
    ('BEGIN { printf("%d\\n", "s"); }', "%d specifier expects a value of type integer", 24),
    ("BEGIN { @h = hist(1); @x = @h; }", "cannot be used in an expression", 28),
    ("BEGIN { count(); }", "should be assigned to a map", 9),
    ('BEGIN { @m[1] = 1; @m["a"] = 2; }', "Argument mismatch for @m", 20),
    ("BEGIN { @x = nosuch; }", "Unknown identifier: 'nosuch'", 14),
    ("BEGIN { @x = lhist(1, 10, 0, 1); }", "min < max", 14),
])
def test_semantic_errors(src: str, message: str, column: int) -> None:
    with pytest.raises(TraceError) as info:
        analyze(src)
    assert message in info.value.message
    assert info.value.column == column


def test_map_types_are_inferred() -> None:
    an = analyze('BEGIN { @c[comm, 1] = count(); @s = "abc"; @h = hist(2); @l = lhist(3, 0, 100, 10); @v = 1; }')
    c, s, h, lh, v = (an.maps[n] for n in ("@c", "@s", "@h", "@l", "@v"))
    assert c.kind == "count" and c.percpu and c.key is not None and c.key.kind == "tuple"
    assert c.bpf_key_size == 16 + 8  # comm (16 bytes) + int
    assert s.kind == "str" and s.bpf_value_size == 8
    assert h.kind == "hist" and h.bpf_key_size == 16  # no key (8) + bucket (8)
    assert lh.lhist == (0, 100, 10)
    assert v.kind == "int" and not v.percpu


def test_kprobe_compiles_and_is_reported_unsupported_at_attach(monkeypatch: pytest.MonkeyPatch) -> None:
    """kprobe scripts compile on a kernel without kprobes (--dry-run); attaching says why it cannot."""
    from types import SimpleNamespace

    from pybpf.errors import BpfError
    from pybpf.kernel import links
    from pybpf.trace.compiler import compile_script
    from pybpf.trace.runtime import TraceRun
    from pybpf.trace.symbols import kallsyms

    if "vfs_read" not in kallsyms()[1]:
        pytest.skip("/proc/kallsyms does not list vfs_read (kernel symbols hidden)")
    monkeypatch.setattr(links, "kprobes_supported", lambda: False)
    compiled = compile_script("kprobe:vfs_read { @[func] = count(); }")
    (cp,) = compiled.probes
    assert cp.probe.func == "vfs_read"
    run = TraceRun(compiled)
    run.coll = SimpleNamespace(programs={cp.name: None})
    with pytest.raises(BpfError, match="kprobes are not supported by this kernel"):
        run.attach(cp)


def test_preprocessor_lines_are_ignored() -> None:
    s = parse("#!/usr/bin/env bpftrace\n#ifndef X\n#include <linux/fs.h>\n#endif\n  #define Y 1\nBEGIN { @x = 1; }\n")
    assert len(s.probes) == 1 and s.probes[0].line == 6


def test_whole_map_functions_accept_keyed_maps() -> None:
    an = analyze("BEGIN { @f[tid] = 1; print(@f, 10); clear(@f); zero(@f); delete(@f[1]); }")
    assert an.maps["@f"].key is not None


def test_keyed_and_unkeyed_use_is_reported_where_it_happens() -> None:
    with pytest.raises(TraceError) as info:
        analyze("BEGIN { @f[1] = 1; @f = 2; }")
    assert "@f used both with and without a key" in info.value.message
    assert (info.value.line, info.value.column) == (1, 20)


def test_positional_parameters_are_substituted() -> None:
    from pybpf.trace.compiler import substitute_params

    script = substitute_params(parse('BEGIN { @a = $1; @b = $#; @c = str($2); @d = $3; }'), ["0x10", "text"])
    values = [s.value for s in script.probes[0].body if isinstance(s, ast.Assign)]
    assert isinstance(values[0], ast.Integer) and values[0].value == 16
    assert isinstance(values[1], ast.Integer) and values[1].value == 2
    assert isinstance(values[2], ast.Call) and isinstance(values[2].args[0], ast.String)
    assert values[2].args[0].value == "text"
    assert isinstance(values[3], ast.Integer) and values[3].value == 0  # missing: 0


def test_struct_member_errors() -> None:
    from pybpf.trace.structs import kernel_btf

    if kernel_btf() is None:
        pytest.skip("no kernel BTF here")
    with pytest.raises(TraceError, match="'struct task_struct' does not contain a field named 'nosuch'"):
        analyze("BEGIN { @x = curtask->nosuch; }")
    with pytest.raises(TraceError, match="Unknown struct/union: 'struct nosuch_t'"):
        analyze("BEGIN { @x = ((struct nosuch_t *)0)->a; }")
    with pytest.raises(TraceError, match="cannot access field 'x' of a value of type"):
        analyze("BEGIN { @x = pid->x; }")
    an = analyze("BEGIN { @c = curtask->comm; @p = curtask->real_parent->pid; @v = *(uint32 *)curtask; }")
    assert an.maps["@c"].kind == "str" and an.maps["@p"].kind == "int"


def test_defines_macros_and_struct_definitions() -> None:
    src = ("#include <linux/sched.h>\n#define LIMIT 0x20\nstruct cfs_rq {\n  struct load_weight load;\n  unsigned int "
           "nr_running;\n};\nBEGIN { @a = LIMIT; @b = TASK_RUNNING; @c = AF_INET6; }\n")
    script = parse(src)
    assert script.defines == {"LIMIT": 32} and len(script.probes) == 1
    an = Analyzer()
    an.analyze(script, [[ConcreteProbe("BEGIN", "BEGIN")]])
    assert {k: an.constants[k] for k in ("LIMIT", "TASK_RUNNING", "AF_INET6")} == {
        "LIMIT": 32, "TASK_RUNNING": 0, "AF_INET6": 10}


def test_kernel_enum_constants() -> None:
    from pybpf.trace.structs import kernel_btf

    if kernel_btf() is None:
        pytest.skip("no kernel BTF here")
    an = analyze("BEGIN { @a = BPF_MAP_TYPE_RINGBUF; }")
    assert an.constants["BPF_MAP_TYPE_RINGBUF"] == 27


def test_signed_division_warning() -> None:
    an = analyze("BEGIN { $a = 1; @x = $a / 2; @y = pid / 2; }")
    (warning,) = an.warnings.values()
    assert warning.level == "WARNING" and "signed operands for '/'" in warning.message
    src = "BEGIN { $a = 1; @x = $a / 2; @y = pid / 2; }"
    assert warning.render(src).splitlines()[0] == (
        "stdin:1:25-26: WARNING: signed operands for '/' can lead to undefined behavior (cast to unsigned to "
        "silence warning)")


def test_tuple_index_errors() -> None:
    with pytest.raises(TraceError, match="Invalid tuple index: 2"):
        analyze('BEGIN { $t = (1, "a"); @x = $t.2; }')


def test_type_queries_keep_the_type_text() -> None:
    (probe,) = parse("BEGIN { @a = sizeof(struct task_struct); @b = offsetof(struct sock, sk_family); "
                     "@c = sizeof(char *); }").probes
    texts = []
    for stmt in probe.body:
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
        arg = stmt.value.args[0]
        assert isinstance(arg, ast.String)
        texts.append((stmt.value.name, arg.value))
    assert texts == [("sizeof", "struct task_struct"), ("offsetof", "struct sock , sk_family"),
                     ("sizeof", "char*")]


def test_cpid_needs_a_command() -> None:
    with pytest.raises(TraceError, match="cpid cannot be used without child command"):
        analyze("BEGIN { @x = cpid; }")


@pytest.mark.parametrize("src, message", [
    ("BEGIN { @x[1] = 5; print(@x[1]); }", "The map passed to print() should not be indexed by a key"),
    ('BEGIN { printf("%s", func); }', "The func builtin can not be used with 'BEGIN' probes"),
])
def test_more_bpftrace_errors(src: str, message: str) -> None:
    with pytest.raises(TraceError) as info:
        analyze(src)
    assert info.value.message == message
