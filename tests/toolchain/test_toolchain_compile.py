"""compile_c and `pybpf cc`: zig compiles C to BPF objects with BTF, errors come back verbatim."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from toolchain_elf import EM_BPF, ET_REL, btf_ext_lengths, call_imms, header, sections

from pybpf.cli.main import main
from pybpf.errors import BpfError
from pybpf.toolchain import CompileError, ToolchainError, compile_c, include_dir

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.skipif(
    not __import__("pybpf.toolchain").toolchain.zig_available(), reason="ziglang is not installed"
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test session gets its own compile cache so that cache tests see a cold start."""
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "pybpf-cache"))


SIMPLE = """
#include <bpf_helpers.h>
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");
int global_counter = 5;
SEC("xdp") int count(struct xdp_md *ctx) {
    __u32 key = 1;
    __u64 *v = bpf_map_lookup_elem(&counts, &key);
    if (v) *v += 1;
    global_counter++;
    return XDP_PASS;
}
BPF_LICENSE("GPL");
"""


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_compile_writes_a_bpf_relocatable_object(tmp_path: Path) -> None:
    src = write(tmp_path, "simple.c", SIMPLE)
    out = compile_c(src, tmp_path / "simple.o")
    assert out == tmp_path / "simple.o" and out.is_file()
    assert header(out) == (ET_REL, EM_BPF)
    secs = sections(out)
    for name in ("xdp", ".maps", ".data", "license", ".BTF", ".BTF.ext"):
        assert name in secs, f"{name} missing from {sorted(secs)}"
    assert secs["license"] == b"GPL\0"
    assert ".eh_frame" not in secs  # zig's unwind tables are turned off
    assert call_imms(secs["xdp"]) == [1]  # bpf_map_lookup_elem
    assert btf_ext_lengths(secs[".BTF.ext"])["func_info"] > 0


def test_default_output_goes_to_the_cache(tmp_path: Path) -> None:
    src = write(tmp_path, "simple.c", SIMPLE)
    out = compile_c(src)
    assert out.is_file() and out.suffix == ".o" and out.parent != tmp_path
    assert out.name.startswith("simple-")


def test_compile_error_carries_the_compiler_diagnostics(tmp_path: Path) -> None:
    src = write(tmp_path, "bad.c", "int f(void) {\n  return undefined_name;\n}\n")
    with pytest.raises(CompileError) as info:
        compile_c(src, tmp_path / "bad.o")
    err = info.value
    assert isinstance(err, BpfError)
    assert "bad.c:2:10: error" in err.stderr and "undefined_name" in err.stderr
    assert err.returncode != 0 and "bad.c" in str(err)
    assert not (tmp_path / "bad.o").exists()


def test_missing_source_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        compile_c(tmp_path / "absent.c")


def test_unknown_compiler_is_a_toolchain_error(tmp_path: Path) -> None:
    src = write(tmp_path, "simple.c", SIMPLE)
    with pytest.raises(ToolchainError, match="unknown compiler"):
        compile_c(src, compiler="gcc")


@pytest.mark.skipif(shutil.which("clang") is not None, reason="a system clang is installed")
def test_clang_missing_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYBPF_CLANG", raising=False)
    src = write(tmp_path, "simple.c", SIMPLE)
    with pytest.raises(ToolchainError, match="no clang"):
        compile_c(src, compiler="clang")


def test_cache_hits_and_header_changes_invalidate(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "value.h").write_text("#define VALUE 7\n")
    src = write(tmp_path, "v.c", '#include <bpf_helpers.h>\n#include "value.h"\n'
                "SEC(\"xdp\") int v(struct xdp_md *c) { return VALUE; }\n")
    first = compile_c(src, tmp_path / "a.o", include_dirs=[inc])
    second = compile_c(src, tmp_path / "b.o", include_dirs=[inc])
    assert not first.cached and second.cached
    assert (tmp_path / "a.o").read_bytes() == (tmp_path / "b.o").read_bytes()
    (inc / "value.h").write_text("#define VALUE 9\n")
    third = compile_c(src, tmp_path / "c.o", include_dirs=[inc])
    assert not third.cached
    code = sections(tmp_path / "c.o")["xdp"]
    # the program is `r0 = 9; exit` (a 32- or 64-bit mov of the immediate)
    assert code[0] in (0xB7, 0xB4) and int.from_bytes(code[4:8], "little") == 9
    nocache = compile_c(src, tmp_path / "d.o", include_dirs=[inc], use_cache=False)
    assert not nocache.cached


def test_defines_and_flags_reach_the_compiler(tmp_path: Path) -> None:
    src = write(tmp_path, "d.c", "#include <bpf_helpers.h>\n#ifndef PORT\n#error PORT not set\n#endif\n"
                "SEC(\"xdp\") int d(struct xdp_md *c) { return PORT; }\n")
    with pytest.raises(CompileError, match="PORT not set"):
        compile_c(src, tmp_path / "d.o")
    out = compile_c(src, tmp_path / "d.o", defines=["PORT=3"])
    code = sections(out)["xdp"]
    assert int.from_bytes(code[4:8], "little") == 3


def test_warnings_are_returned(tmp_path: Path) -> None:
    src = write(tmp_path, "w.c", "#include <bpf_helpers.h>\n"
                "SEC(\"xdp\") int w(struct xdp_md *c) { int unused; return 2; }\n")
    result = compile_c(src, tmp_path / "w.o", flags=["-Wall"])
    assert "unused" in result.diagnostics and "warning" in result.diagnostics


def test_include_dir_ships_the_headers() -> None:
    names = {p.name for p in include_dir().glob("*.h")}
    assert {"bpf_helpers.h", "bpf_helper_defs.h", "bpf_endian.h", "bpf_uapi.h", "bpf_packet.h",
            "bpf_tracing.h", "bpf_core_read.h"} <= names


# ---- the `pybpf cc` command ------------------------------------------------------------------


def test_cli_cc_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "simple.c", SIMPLE)
    out = tmp_path / "out.o"
    assert main(["cc", str(src), "-o", str(out)]) == 0
    assert header(out) == (ET_REL, EM_BPF)


def test_cli_cc_default_output_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write(tmp_path, "prog.c", SIMPLE)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["cc", str(src)]) == 0
    assert (work / "prog.o").is_file()


def test_cli_cc_error_prints_diagnostics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path, "bad.c", "int f(void) { return nope; }\n")
    assert main(["cc", str(src), "-o", str(tmp_path / "bad.o")]) == 1
    err = capsys.readouterr().err
    assert "bad.c:1:22: error: use of undeclared identifier 'nope'" in err


def test_cli_cc_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cc", str(tmp_path / "none.c")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_cc_include_and_define(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "k.h").write_text("#define K (BASE + 1)\n")
    src = write(tmp_path, "k.c", '#include <bpf_helpers.h>\n#include <k.h>\n'
                "SEC(\"xdp\") int k(struct xdp_md *c) { return K; }\n")
    out = tmp_path / "k.o"
    assert main(["cc", str(src), "-o", str(out), "-I", str(inc), "-D", "BASE=40"]) == 0
    assert int.from_bytes(sections(out)["xdp"][4:8], "little") == 41


def test_cli_cc_user_header_overrides_ours(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "bpf_endian.h").write_text("#define MINE 11\n")
    src = write(tmp_path, "o.c", '#include <bpf_helpers.h>\n#include <bpf_endian.h>\n'
                "SEC(\"xdp\") int o(struct xdp_md *c) { return MINE; }\n")
    assert main(["cc", str(src), "-o", str(tmp_path / "o.o"), "-I", str(inc)]) == 0


def test_cli_cc_unknown_compiler_is_usage_error(tmp_path: Path) -> None:
    src = write(tmp_path, "simple.c", SIMPLE)
    with pytest.raises(SystemExit) as info:
        main(["cc", str(src), "--compiler", "tcc"])
    assert info.value.code == 2


def test_zig_cache_dir_is_private_when_home_is_unwritable(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    src = write(tmp_path, "simple.c", SIMPLE)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    monkeypatch.delenv("ZIG_GLOBAL_CACHE_DIR", raising=False)
    monkeypatch.delenv("ZIG_LOCAL_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    out = compile_c(src, tmp_path / "h.o", use_cache=False)
    assert out.is_file()
    assert os.environ["HOME"] == "/nonexistent-home"


def test_clang_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--compiler clang runs $PYBPF_CLANG with -target bpfel (a stand-in forwards to zig here)."""
    import sys

    log = tmp_path / "argv.txt"
    fake = tmp_path / "fake-clang"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {log}\n'
        'args=""\n'
        'for a in "$@"; do [ "$a" = bpfel ] && a=bpfel-freestanding; args="$args $a"; done\n'
        f"exec {sys.executable} -m ziglang cc $args\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PYBPF_CLANG", str(fake))
    src = write(tmp_path, "simple.c", SIMPLE)
    out = compile_c(src, tmp_path / "clang.o", compiler="clang", use_cache=False)
    assert header(out) == (ET_REL, EM_BPF)
    argv = log.read_text().split()
    assert argv[:2] == ["-target", "bpfel"]
    assert "-g" in argv and "-O2" in argv and f"-I{include_dir()}" in argv
    assert "-fno-unwind-tables" not in argv  # zig-only flags are not passed to clang


def test_single_strings_are_accepted(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "n.h").write_text("#define N 5\n")
    src = write(tmp_path, "n.c", '#include <bpf_helpers.h>\n#include <n.h>\n'
                "SEC(\"xdp\") int n(struct xdp_md *c) { return N + M; }\n")
    out = compile_c(src, tmp_path / "n.o", include_dirs=inc, defines="M=2", flags="-Wall -Werror")
    assert int.from_bytes(sections(out)["xdp"][4:8], "little") == 7


def test_depfile_parsing(tmp_path: Path) -> None:
    from pybpf.toolchain.cache import parse_depfile

    src = tmp_path / "a b.c"
    src.write_text("")
    dep = tmp_path / "x.d"
    dep.write_text(f"out.o: {str(src).replace(' ', chr(92) + ' ')} /inc/one.h \\\n  /inc/two\\ words.h\n")
    assert parse_depfile(dep, src) == ["/inc/one.h", "/inc/two words.h"]
    assert parse_depfile(tmp_path / "missing.d", src) == []


def test_cli_cc_include_dir(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cc", "--include-dir"]) == 0
    assert Path(capsys.readouterr().out.strip()) == include_dir()
    assert main(["cc"]) == 2
    assert "source file is required" in capsys.readouterr().err
