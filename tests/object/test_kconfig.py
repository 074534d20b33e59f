"""`extern ... __kconfig` variables: layout, values from a given or the running kernel's configuration."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import pytest

from pybpf.errors import ObjectError
from pybpf.object import load_file
from pybpf.object.kconfig import kernel_version_code, parse_config

OBJECTS = Path(__file__).resolve().parent.parent / "data" / "objects"
VALUES = {"LINUX_KERNEL_VERSION": "393216", "CONFIG_BPF_SYSCALL": "y", "CONFIG_HZ": "1000",
          "CONFIG_DEFAULT_HOSTNAME": '"box"', "CONFIG_PYBPF_TEST_TRISTATE": "m"}


def test_kconfig_map_layout_and_values() -> None:
    spec = load_file(OBJECTS / "kconfig.o", kconfig=VALUES)
    m = spec.maps[".kconfig"]
    assert m.frozen and m.section == ".kconfig" and m.value_size == 40
    value = m.contents[0][1]
    # declaration order, natural alignment: u32 @0, _Bool @4, enum @8, int @12, char[16] @16, u64 @32
    assert struct.unpack_from("<I", value, 0)[0] == 393216
    assert value[4] == 1
    assert struct.unpack_from("<I", value, 8)[0] == 2  # "m" is TRI_MODULE
    assert struct.unpack_from("<i", value, 12)[0] == 1000
    assert value[16:32] == b"box".ljust(16, b"\0")
    assert value[32:40] == bytes(8)  # weak and absent: zero
    refs = [r for r in spec.programs["read_kconfig"].map_references if r.map_name == ".kconfig"]
    assert sorted(r.offset for r in refs) == [0, 4, 8, 12, 16, 32]
    assert all(r.kind == "value" for r in refs)


def test_missing_strong_kconfig_is_an_error() -> None:
    values = dict(VALUES)
    del values["CONFIG_HZ"]
    with pytest.raises(ObjectError, match="CONFIG_HZ"):
        load_file(OBJECTS / "kconfig.o", kconfig=values)


def test_bad_values_are_errors() -> None:
    with pytest.raises(ObjectError, match="not a bool"):
        load_file(OBJECTS / "kconfig.o", kconfig={**VALUES, "CONFIG_BPF_SYSCALL": "m"})
    with pytest.raises(ObjectError, match="not an integer"):
        load_file(OBJECTS / "kconfig.o", kconfig={**VALUES, "CONFIG_HZ": "fast"})


def test_parse_config_and_version_code() -> None:
    text = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\nCONFIG_D=0x10\n"
    assert parse_config(text) == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": '"x y"', "CONFIG_D": "0x10"}
    assert kernel_version_code("6.18.44-fc-v669") == (6 << 16) + (18 << 8) + 44
    assert kernel_version_code("4.9.300") == (4 << 16) + (9 << 8) + 255


@pytest.mark.skipif(not Path("/proc/config.gz").exists(), reason="no /proc/config.gz here")
def test_running_kernel_configuration() -> None:
    config = parse_config(gzip.decompress(Path("/proc/config.gz").read_bytes()).decode())
    value = load_file(OBJECTS / "kconfig.o").maps[".kconfig"].contents[0][1]
    assert struct.unpack_from("<I", value, 0)[0] == kernel_version_code(os.uname().release)
    assert value[4] == (1 if config.get("CONFIG_BPF_SYSCALL") == "y" else 0)
    assert struct.unpack_from("<i", value, 12)[0] == int(config["CONFIG_HZ"])
