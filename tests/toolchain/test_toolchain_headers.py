"""pybpf's own headers: every helper id right, layouts as the kernel ABI, all includable together."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from toolchain_elf import btf_ext_lengths, call_imms, sections

from pybpf.helpers.ids import HELPER_NAMES
from pybpf.toolchain import compile_c, include_dir, zig_available

DATA = Path(__file__).parent / "data"
pytestmark = pytest.mark.skipif(not zig_available(), reason="ziglang is not installed")

DECL = re.compile(r"static .*?\(\* const (bpf_\w+)\)\((.*?)\) = \(void \*\) (\d+);")


def declared_helpers() -> dict[str, tuple[int, str]]:
    text = (include_dir() / "bpf_helper_defs.h").read_text()
    return {m.group(1): (int(m.group(3)), m.group(2)) for m in DECL.finditer(text)}


def test_every_kernel_helper_is_declared_with_its_id() -> None:
    helpers = declared_helpers()
    by_id = {hid: name for name, (hid, _) in helpers.items()}
    # pybpf.helpers.ids lists enum bpf_func_id independently of this header
    for hid, name in enumerate(HELPER_NAMES):
        if hid == 0:
            continue
        assert by_id.get(hid) == f"bpf_{name}", f"helper {hid}"
    assert len(helpers) == len(HELPER_NAMES) - 1


def test_calls_compile_to_the_helper_ids(tmp_path: Path) -> None:
    """Call a spread of helpers through the header and read the ids back from the bytecode."""
    picks = ["bpf_map_lookup_elem", "bpf_ktime_get_ns", "bpf_get_prandom_u32", "bpf_tail_call",
             "bpf_redirect", "bpf_xdp_adjust_head", "bpf_fib_lookup", "bpf_ringbuf_output",
             "bpf_loop", "bpf_xdp_load_bytes", "bpf_get_current_pid_tgid", "bpf_csum_diff"]
    helpers = declared_helpers()
    body = []
    for name in picks:
        _, params = helpers[name]
        nargs = 0 if params.strip() == "void" else len(params.split(","))
        args = ", ".join(["0"] * nargs)
        body.append(f"  r += (long){name}({args});")
    src = tmp_path / "calls.c"
    src.write_text("#include <bpf_helpers.h>\n#pragma clang diagnostic ignored \"-Wint-conversion\"\n"
                   "SEC(\"xdp\") int calls(struct xdp_md *ctx) {\n  long r = 0;\n"
                   + "\n".join(body) + "\n  return r;\n}\n")
    out = compile_c(src, tmp_path / "calls.o")
    expected = [1, 5, 7, 12, 23, 44, 69, 130, 181, 189, 14, 28]  # enum bpf_func_id
    assert call_imms(sections(out)["xdp"]) == expected


def test_all_headers_together(tmp_path: Path) -> None:
    out = compile_c(DATA / "all_headers.c", tmp_path / "all.o", flags=["-Wall", "-Werror"])
    secs = sections(out)
    for name in ("xdp", "kprobe/do_sys_openat2", "fentry/some_function", "tc", ".maps",
                 ".rel.maps", "license", ".BTF", ".BTF.ext"):
        assert name in secs, name
    lengths = btf_ext_lengths(secs[".BTF.ext"])
    assert lengths["core_relo"] > 0  # BPF_CORE_READ produced CO-RE relocations
    assert 6 in call_imms(secs["kprobe/do_sys_openat2"])  # bpf_printk -> bpf_trace_printk
    assert 113 in call_imms(secs["fentry/some_function"])  # probe_read_kernel
    # .maps holds ports, inner, outer and events; each member is a pointer (8 bytes)
    assert len(secs[".maps"]) == 8 * (5 + 4 + 4 + 2)


def test_struct_layouts(tmp_path: Path) -> None:
    """layout.c is a list of _Static_assert on offsets and sizes: compiling it is the test."""
    out = compile_c(DATA / "layout.c", tmp_path / "layout.o")
    code = sections(out)["xdp"]
    assert code[0] in (0xB7, 0xB4) and int.from_bytes(code[4:8], "little") == 0x45


@pytest.mark.parametrize("value,expected", [(0x1234, "0x3412"), (0x0800, "0x8")])
def test_endian_constants_fold(tmp_path: Path, value: int, expected: str) -> None:
    src = tmp_path / "e.c"
    src.write_text("#include <bpf_helpers.h>\n#include <bpf_endian.h>\n"
                   f"SEC(\"xdp\") int e(struct xdp_md *c) {{ return bpf_htons({value:#x}); }}\n")
    code = sections(compile_c(src, tmp_path / "e.o"))["xdp"]
    assert hex(int.from_bytes(code[4:8], "little")) == expected


LAYOUT_PROBE = r"""
#include <stdio.h>
#include <stddef.h>
%s
#define P(t, f) printf(#t "." #f " %%zu\n", offsetof(struct t, f));
#define S(t) printf("sizeof " #t " %%zu\n", sizeof(struct t));
int main(void) {
  P(xdp_md, data) P(xdp_md, data_end) P(xdp_md, data_meta) P(xdp_md, ingress_ifindex)
  P(xdp_md, rx_queue_index) P(xdp_md, egress_ifindex) S(xdp_md)
  P(__sk_buff, cb) P(__sk_buff, data) P(__sk_buff, data_end) P(__sk_buff, data_meta)
  P(__sk_buff, flow_keys) P(__sk_buff, tstamp) P(__sk_buff, sk) P(__sk_buff, gso_size)
  P(__sk_buff, hwtstamp) S(__sk_buff)
  P(bpf_sock, dst_port) P(bpf_sock, rx_queue_mapping) S(bpf_sock)
  P(bpf_sock_addr, sk) S(bpf_sock_addr)
  P(bpf_sock_ops, bytes_acked) P(bpf_sock_ops, sk) P(bpf_sock_ops, skb_len)
  P(sk_msg_md, size) P(sk_msg_md, sk)
  P(bpf_sk_lookup, remote_port) P(bpf_sk_lookup, ingress_ifindex) S(bpf_sk_lookup)
  P(bpf_fib_lookup, ifindex) P(bpf_fib_lookup, ipv4_src) P(bpf_fib_lookup, tbid)
  P(bpf_fib_lookup, dmac) S(bpf_fib_lookup)
  P(bpf_tunnel_key, tunnel_label) S(bpf_tunnel_key)
  P(bpf_flow_keys, ipv6_dst) P(bpf_flow_keys, flow_label) S(bpf_flow_keys)
  P(sk_reuseport_md, hash) P(sk_reuseport_md, migrating_sk)
  P(bpf_sockopt, retval) S(bpf_sockopt)
  P(bpf_tcp_sock, bytes_acked) P(bpf_tcp_sock, icsk_retransmits)
  return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None or not Path("/usr/include/linux/bpf.h").exists(),
                    reason="needs gcc and the system's <linux/bpf.h> to compare with")
def test_layouts_match_the_system_uapi_header(tmp_path: Path) -> None:
    """Our structs and the installed kernel uapi header give the same offsets (host gcc)."""

    def probe(include: str, name: str, extra: list[str]) -> dict[str, str]:
        src = tmp_path / f"{name}.c"
        src.write_text(LAYOUT_PROBE % include)
        exe = tmp_path / name
        subprocess.run(["gcc", "-o", str(exe), str(src), *extra], check=True, capture_output=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
        return dict(line.rsplit(" ", 1) for line in out.splitlines())

    ours = probe('#include "bpf_uapi.h"', "ours", [f"-I{include_dir()}"])
    theirs = probe("#include <linux/bpf.h>", "theirs", [])
    assert ours == theirs


def test_libbpf_style_includes_compile(tmp_path: Path) -> None:
    """<linux/bpf.h>, <linux/ip.h>, <bpf/bpf_helpers.h>... resolve to pybpf's own headers."""
    out = compile_c(DATA / "libbpf_style.c", tmp_path / "libbpf_style.o", flags=["-Wall", "-Werror"])
    secs = sections(out)
    assert {"xdp", "tc", ".maps", "license"} <= set(secs)
    assert call_imms(secs["xdp"]) == [1]


def test_compat_headers_only_include_ours() -> None:
    """<linux/...>, <bpf/...>, <asm-generic/...> headers reach nothing outside pybpf's include dir."""
    root = include_dir().resolve()
    for path in sorted(include_dir().glob("*/*.h")):
        lines = [line for line in path.read_text().splitlines() if line.startswith("#include")]
        assert len(lines) <= 1, path
        for line in lines:
            m = re.fullmatch(r'#include "([^"]+)"', line.strip())
            assert m is not None, (path, line)
            target = (path.parent / m.group(1)).resolve()
            assert target.is_file() and root in target.parents, (path, line)


KPROBE_SIX = """
#include <bpf_tracing.h>
SEC("kprobe/f") int BPF_KPROBE(six, long a, long b, long c, long d, long e, long f)
{ return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f; }
SEC("kretprobe/f") int BPF_KRETPROBE(ret, long rc) { return rc; }
SEC("uprobe//bin/true:main") int BPF_UPROBE(up, int argc) { return argc; }
SEC("raw_tp/sys_enter") int BPF_PROG(raw, long first, long second) { return second; }
char LICENSE[] SEC("license") = "GPL";
"""


def _ldxdw_offsets(code: bytes) -> list[int]:
    import struct

    return [struct.unpack_from("<h", code, pc + 2)[0]
            for pc in range(0, len(code), 8) if code[pc] == 0x79]


@pytest.mark.parametrize("arch,params,rc", [
    # x86-64 struct pt_regs: di 112, si 104, dx 96, cx 88, r8 72, r9 64; ax 80
    ("", [112, 104, 96, 88, 72, 64], 80),
    # arm64 user_pt_regs: regs[0..5]; the return value is regs[0]
    ("-D__TARGET_ARCH_arm64", [0, 8, 16, 24, 32, 40], 0),
])
def test_tracing_macros_read_the_right_registers(tmp_path: Path, arch: str, params: list[int],
                                                 rc: int) -> None:
    src = tmp_path / "kp.c"
    src.write_text(KPROBE_SIX)
    out = compile_c(src, tmp_path / "kp.o", flags=[arch] if arch else [])
    secs = sections(out)
    assert sorted(_ldxdw_offsets(secs["kprobe/f"])) == sorted(params)
    assert _ldxdw_offsets(secs["kretprobe/f"]) == [rc]
    assert _ldxdw_offsets(secs["uprobe//bin/true:main"]) == [params[0]]
    assert _ldxdw_offsets(secs["raw_tp/sys_enter"]) == [8]  # ctx[1]
