"""TracingPolicy reading: what is accepted, and bad policies rejected with one message naming the line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.guard.policy import PolicyError, parse_duration, parse_policies

GOOD = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "example"
spec:
  tracepoints:
  - subsystem: "syscalls"
    event: "sys_enter_openat"
    args:
    - index: 6
      type: "string"
    - index: 7
      type: "int"
    selectors:
    - matchArgs:
      - index: 6
        operator: "Prefix"
        values: ["/etc/"]
      matchBinaries:
      - operator: NotIn
        values: ["/usr/bin/ls"]
      matchPIDs:
      - operator: NotIn
        values: [1, "0x2"]
      matchNamespaces:
      - namespace: Mnt
        operator: In
        values: ["host_ns"]
      matchCapabilities:
      - type: Effective
        operator: In
        values: ["CAP_SYS_ADMIN"]
      matchActions:
      - action: Signal
        argSig: 15
      - action: Post
        rateLimit: 5m
  uprobes:
  - path: "/bin/true"
    symbols: ["main", "exit"]
"""


def bad(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policies(text, "p.yaml")
    return info.value


def replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_good_policy_is_read() -> None:
    (pol,) = parse_policies(GOOD, "p.yaml")
    assert pol.name == "example"
    tp, up1, up2 = pol.hooks
    assert (tp.kind, tp.target, tp.line) == ("tracepoint", "syscalls/sys_enter_openat", 7)
    assert [(a.index, a.type) for a in tp.args] == [(6, "string"), (7, "int")]
    (sel,) = tp.selectors
    assert (sel.args[0].arg, sel.args[0].operator, sel.args[0].values) == (0, "Prefix", ("/etc/",))
    assert sel.binaries[0].operator == "NotIn"
    assert sel.pids[0].values == ("1", "0x2")
    assert (sel.namespaces[0].kind, sel.namespaces[0].values) == ("Mnt", ("host_ns",))
    assert (sel.capabilities[0].kind, sel.capabilities[0].values) == ("Effective", ("CAP_SYS_ADMIN",))
    assert [(a.action, a.arg_sig, a.rate_limit_ns) for a in sel.actions] == [("Signal", 15, 0),
                                                                            ("Post", 0, 300 * 10**9)]
    assert (up1.target, up2.target) == ("/bin/true:main", "/bin/true:exit")


def test_several_documents() -> None:
    two = GOOD + "---\n" + GOOD.replace('name: "example"', "name: second")
    assert [p.name for p in parse_policies(two, "p.yaml")] == ["example", "second"]


def test_unknown_operator_names_the_line() -> None:
    text = replace_line(GOOD, 'operator: "Prefix"', 'operator: "Prefixx"')
    err = bad(text)
    assert err.line == line_of(text, "Prefixx")
    assert str(err).startswith(f"p.yaml:{err.line}: unknown operator 'Prefixx' in matchArgs")


def test_wrong_index_names_the_line() -> None:
    text = replace_line(GOOD, "      - index: 6\n        operator", "      - index: 9\n        operator")
    err = bad(text)
    assert err.line == line_of(text, "- index: 9")
    assert "matchArgs index 9 is not captured by the hook's args (indexes: 6, 7)" in str(err)


def test_too_many_selectors_names_the_line() -> None:
    selectors = "".join("    - matchActions:\n      - action: Post\n" for _ in range(6))
    text = GOOD.split("    selectors:\n")[0] + "    selectors:\n" + selectors
    err = bad(text)
    assert err.line == line_of(text, "selectors:")
    assert "too many selectors: 6 (a hook takes at most 5)" in str(err)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("action: Signal", "action: Kill", "unknown action 'Kill'"),
    ("argSig: 15", "argSig: 99", "argSig 99 is not a signal number"),
    ("rateLimit: 5m", "rateLimit: soon", "bad rateLimit 'soon'"),
    ("- matchArgs:", "- matchArgz:", "unknown field 'matchArgz' in a selector"),
    ("- matchArgs:", "- matchData:", "matchData is not supported by pybpf guard"),
    ('type: "int"', 'type: "integer"', "unknown argument type 'integer'"),
    ("namespace: Mnt", "namespace: Moon", "unknown namespace 'Moon'"),
    ('values: ["CAP_SYS_ADMIN"]', 'values: ["CAP_WORLD_DOMINATION"]', "unknown capability 'CAP_WORLD_DOMINATION'"),
    ('operator: NotIn\n        values: ["/usr/bin/ls"]', 'operator: Equal\n        values: ["/usr/bin/ls"]',
     "unknown operator 'Equal' in matchBinaries"),
    ('operator: "Prefix"\n        values: ["/etc/"]', 'operator: "Prefix"\n        values: []',
     "matchArgs needs at least one value"),
])
def test_bad_values_name_their_line(old: str, new: str, message: str) -> None:
    text = replace_line(GOOD, old, new)
    err = bad(text)
    assert message in str(err)
    assert err.line > 0 and str(err).startswith(f"p.yaml:{err.line}: ")


def test_operator_type_mismatch() -> None:
    text = replace_line(GOOD, "      - index: 6\n        operator", "      - index: 7\n        operator")
    err = bad(text)
    assert "operator Prefix needs a string argument, args[1] is int" in str(err)


def test_header_errors() -> None:
    assert "apiVersion must be cilium.io/v1alpha1" in str(bad(GOOD.replace("cilium.io/v1alpha1", "v2")))
    assert bad(GOOD.replace("cilium.io/v1alpha1", "v2")).line == 1
    assert "kind must be TracingPolicy" in str(bad(GOOD.replace("kind: TracingPolicy", "kind: Pod")))
    err = bad("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: x}\nspec: {}\n")
    assert "the policy has no hooks" in str(err)


def test_bad_yaml_names_the_line() -> None:
    err = bad("apiVersion: cilium.io/v1alpha1\nkind: [TracingPolicy\nmetadata: x\n")
    assert str(err).startswith("p.yaml:") and "bad YAML" in str(err)
    assert err.line >= 2


def test_rate_limit_units() -> None:
    assert parse_duration("30") == 30 * 10**9
    assert parse_duration("2m") == 120 * 10**9
    assert parse_duration("1h") == 3600 * 10**9
    assert parse_duration("250ms") == 250 * 10**6
    assert parse_duration("five") == 0


@pytest.mark.kernel
def test_field_index_beyond_the_tracepoint_format() -> None:
    from pybpf.guard.bind import bind_policies
    from pybpf.kernel.tracefs import tracepoint_format

    nfields = len(tracepoint_format("syscalls", "sys_enter_openat"))
    text = replace_line(GOOD, "    - index: 7\n      type", f"    - index: {nfields + 3}\n      type")
    (pol,) = parse_policies(text, "p.yaml")
    with pytest.raises(PolicyError) as info:
        bind_policies([pol])
    assert info.value.line == line_of(text, f"- index: {nfields + 3}")
    assert f"has {nfields} fields but field {nfields + 3} was requested" in str(info.value)


@pytest.mark.kernel
@pytest.mark.parametrize(("section", "hook"), [("kprobes", "call: sys_openat"), ("lsmhooks", "hook: file_open")])
def test_unavailable_hooks_are_refused_naming_the_hook(section: str, hook: str) -> None:
    from pybpf.guard.bind import bind_policies

    text = (f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: x\nspec:\n  {section}:\n"
            f"  - {hook}\n")
    (pol,) = parse_policies(text, "p.yaml")
    with pytest.raises(PolicyError) as info:
        bind_policies([pol])
    target = hook.split(": ")[1]
    assert info.value.line == 7
    assert f"'{target}'" in str(info.value)
    assert ("kprobe" if section == "kprobes" else "lsmhook") in str(info.value)


def test_cli_rejects_a_bad_policy_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(replace_line(GOOD, 'operator: "Prefix"', 'operator: "Like"'))
    proc = subprocess.run([sys.executable, "-m", "pybpf", "guard", "run", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (f"pybpf guard: {path}:{line_of(path.read_text(), 'Like')}: unknown operator 'Like' in "
                        "matchArgs (expected one of: Equal, GT, GreaterThan, LT, LessThan, Mask, NotEqual, "
                        "NotPostfix, NotPrefix, Postfix, Prefix)")


@pytest.mark.kernel
def test_example_policy_binds() -> None:
    from pybpf.guard.bind import bind_policies
    from pybpf.guard.policy import load_policy_files

    path = Path(__file__).resolve().parents[2] / "examples" / "guard" / "secret-files.yaml"
    (hook,) = bind_policies(load_policy_files([str(path)]))
    assert (hook.policy, hook.hook.target, hook.section) == ("secret-files", "syscalls/sys_enter_openat",
                                                            "tracepoint/syscalls/sys_enter_openat")
    assert [(a.json_key, a.kind) for a in hook.args] == [("string_arg", "str"), ("int_arg", "int")]
    assert len(hook.hook.selectors) == 2


@pytest.mark.kernel
def test_override_on_a_tracepoint_is_refused() -> None:
    from pybpf.guard.bind import bind_policies

    text = replace_line(GOOD, "      - action: Signal\n        argSig: 15\n", "      - action: Override\n        argError: -1\n")
    (pol,) = parse_policies(text, "p.yaml")
    with pytest.raises(PolicyError) as info:
        bind_policies([pol])
    assert info.value.line == line_of(text, "action: Override")
    assert "Override needs kernel error injection" in str(info.value)
