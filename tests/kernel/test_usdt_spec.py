"""USDT spec values: pybpf writes a probe's argument specs byte for byte as the C compiler lays out
`struct __bpf_usdt_spec` — of the usdt.bpf.h pybpf ships, and of libbpf's packed, bitfield layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.kernel.usdt_spec import DEFAULT_LAYOUT, encode_spec, layout_from_btf
from pybpf.object import load_file
from pybpf.object.stapsdt import parse_args
from pybpf.toolchain import compile_c, zig_available

pytestmark = pytest.mark.skipif(not zig_available(), reason="ziglang is not installed (pip install ziglang)")

# the same arguments as C initialisers: -4@%edi 8@-16(%rbp) -2@$-7 4@8(%rax,%rcx,4) 1@%r9b
ARGS = "-4@%edi 8@-16(%rbp) -2@$-7 4@8(%rax,%rcx,4) 1@%r9b"
INIT = """{
    .args = {
        { .val_off = 0, .arg_type = BPF_USDT_ARG_REG, .reg_off = 112, .arg_signed = 1, .arg_bitshift = 32 },
        { .val_off = -16, .arg_type = BPF_USDT_ARG_REG_DEREF, .reg_off = 32, .arg_bitshift = 0 },
        { .val_off = -7, .arg_type = BPF_USDT_ARG_CONST, .arg_signed = 1, .arg_bitshift = 48 },
        { .val_off = 8, .arg_type = BPF_USDT_ARG_SIB, .reg_off = 80, .idx_reg_off = 88, .scale_bitshift = 2,
          .arg_bitshift = 32 },
        { .val_off = 0, .arg_type = BPF_USDT_ARG_REG, .reg_off = 64, .arg_bitshift = 56 },
    },
    .usdt_cookie = 0x1122334455667788ULL,
    .arg_cnt = 5,
}"""

OURS = """#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
struct __bpf_usdt_spec expected = @INIT@;
SEC("usdt") int BPF_USDT(probe, int a) { return a; }
char LICENSE[] SEC("license") = "GPL";
""".replace("@INIT@", INIT)

# libbpf's layout (little-endian): the argument type, index register and scale packed in bitfields
PACKED = """#include <bpf/bpf_helpers.h>
enum __bpf_usdt_arg_type { BPF_USDT_ARG_CONST, BPF_USDT_ARG_REG, BPF_USDT_ARG_REG_DEREF, BPF_USDT_ARG_SIB };
struct __bpf_usdt_arg_spec {
    __u64 val_off;
    enum __bpf_usdt_arg_type arg_type: 8;
    __u16 idx_reg_off: 12;
    __u16 scale_bitshift: 4;
    __u8 __reserved: 8;
    short reg_off;
    _Bool arg_signed;
    char arg_bitshift;
};
struct __bpf_usdt_spec {
    struct __bpf_usdt_arg_spec args[12];
    __u64 usdt_cookie;
    short arg_cnt;
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 16);
    __type(key, int);
    __type(value, struct __bpf_usdt_spec);
} __bpf_usdt_specs SEC(".maps");
struct __bpf_usdt_spec expected = @INIT@;
SEC("uprobe") int probe(void *ctx) { int k = 0; return bpf_map_lookup_elem(&__bpf_usdt_specs, &k) != 0; }
char LICENSE[] SEC("license") = "GPL";
""".replace("@INIT@", INIT)


def _compiled(tmp_path: Path, source: str) -> tuple[bytes, bytes]:
    """(what the compiler made of `expected`, what pybpf encodes for ARGS with the object's layout)."""
    (tmp_path / "spec.bpf.c").write_text(source)
    spec = load_file(compile_c(tmp_path / "spec.bpf.c", tmp_path / "spec.o"))
    data = next(m for m in spec.maps.values() if m.section == ".data")
    specs = spec.maps["__bpf_usdt_specs"]
    layout = layout_from_btf(spec.btf, specs.value_type_id, specs.value_size)
    expected = data.contents[0][1][:layout.size]
    assert expected.count(0) < len(expected) - 40  # the initialiser is there
    return expected, encode_spec(parse_args(ARGS), 0x1122334455667788, layout)


def test_the_header_pybpf_ships(tmp_path: Path) -> None:
    expected, encoded = _compiled(tmp_path, OURS)
    assert len(expected) == DEFAULT_LAYOUT.size
    assert encoded == expected
    assert encode_spec(parse_args(ARGS), 0x1122334455667788) == expected  # the layout used without BTF


def test_libbpf_packed_layout(tmp_path: Path) -> None:
    expected, encoded = _compiled(tmp_path, PACKED)
    assert encoded == expected
