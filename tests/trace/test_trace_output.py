"""bpftrace's text formats, checked against hand-computed expectations: printf, hist/lhist, stats, maps."""

from __future__ import annotations

import json

import pytest

from pybpf.trace.output import (
    format_printf,
    hist_label,
    lhist_label,
    map_json,
    map_text,
    size_label,
)
from pybpf.trace.types import COMM_LEN, INT, MapInfo, Type, string

U64 = (1 << 64) - 1


def u64(v: int) -> bytes:
    return (v & U64).to_bytes(8, "little")


def s(text: str, size: int) -> bytes:
    return text.encode().ljust(size, b"\0")


@pytest.mark.parametrize("fmt, values, expected", [
    ("%d", [-1], "-1"),
    ("%d", [4294967297], "1"),  # low 32 bits
    ("%d", [-4294967297 & U64], "-1"),
    ("%ld", [4294967297], "4294967297"),
    ("%lld", [(-5) & U64], "-5"),
    ("%u", [(-1) & U64], "4294967295"),
    ("%lu", [(-1) & U64], "18446744073709551615"),
    ("%x", [(-1) & U64], "ffffffff"),
    ("%lx", [(-1) & U64], "ffffffffffffffff"),
    ("%X", [255], "FF"),
    ("%o", [8], "10"),
    ("%c", [65], "A"),
    ("%5d|%-5d|%05d", [42, 42, 42], "   42|42   |00042"),
    ("[%5s][%-5s]", ["ab", "ab"], "[   ab][ab   ]"),
    ("%s has %d%%", ["x", 5], "x has 5%"),
    ("%-10u %-5d\n", [7, 3], "7          3    \n"),
])
def test_printf(fmt: str, values: list[int | str], expected: str) -> None:
    assert format_printf(fmt, values) == expected


@pytest.mark.parametrize("n, label", [(0, "0"), (512, "512"), (1024, "1K"), (2048, "2K"), (1 << 20, "1M"),
                                      (3 << 30, "3G"), (1536, "1536")])
def test_size_labels(n: int, label: str) -> None:
    assert size_label(n) == label


@pytest.mark.parametrize("index, label", [(0, "(..., 0)"), (1, "[0]"), (2, "[1]"), (3, "[2, 4)"), (4, "[4, 8)"),
                                          (11, "[512, 1K)"), (12, "[1K, 2K)"), (22, "[1M, 2M)")])
def test_hist_labels(index: int, label: str) -> None:
    assert hist_label(index) == label


@pytest.mark.parametrize("index, label", [(0, "(..., 0)"), (1, "[0, 10)"), (10, "[90, 100)"), (11, "[100, ...)")])
def test_lhist_labels(index: int, label: str) -> None:
    assert lhist_label(index, 0, 100, 10) == label


def bucket_key(bucket: int) -> bytes:
    return u64(0) + u64(bucket)


def test_hist_text_with_bars_and_gaps() -> None:
    info = MapInfo("@bytes", kind="hist")
    # per-CPU values (2 CPUs) are summed: bucket [4, 8) has 2, [16, 32) has 1
    entries = [(bucket_key(4), [u64(1), u64(1)]), (bucket_key(6), [u64(1), u64(0)])]
    assert map_text(info, entries) == (
        "@bytes: \n"
        "[4, 8)                 2 |" + "@" * 52 + "|\n"
        "[8, 16)                0 |" + " " * 52 + "|\n"
        "[16, 32)               1 |" + "@" * 26 + " " * 26 + "|\n"
        "\n")


def test_lhist_text() -> None:
    info = MapInfo("@l", kind="lhist", lhist=(0, 100, 10))
    entries = [(bucket_key(0), [u64(1)]), (bucket_key(11), [u64(3)])]
    text = map_text(info, entries)
    lines = text.splitlines()
    assert lines[0] == "@l: "
    assert lines[1] == "(..., 0)               1 |" + "@" * 17 + " " * 35 + "|"
    assert lines[-2] == "[100, ...)             3 |" + "@" * 52 + "|"
    assert len(lines) == 1 + 12 + 1 and lines[-1] == ""


def test_stats_avg_text_and_order() -> None:
    info = MapInfo("@st", key=string(8), kind="stats")
    entries = [(s("x", 8), [u64(10) + u64(1), u64(20) + u64(1)]),  # 2 CPUs: total 30, count 2
               (s("y", 8), [u64(3) + u64(1), u64(0) + u64(0)])]
    assert map_text(info, entries) == ("@st[y]: count 1, average 3, total 3\n"
                                       "@st[x]: count 2, average 15, total 30\n\n")
    avg = MapInfo("@a", kind="avg")
    assert map_text(avg, [(u64(0), [u64(-7) + u64(2)])]) == "@a: -3\n\n"  # C division truncates


def test_count_sorted_by_value_with_tuple_keys() -> None:
    key_t = Type("tuple", items=(string(COMM_LEN), INT))
    info = MapInfo("@", key=key_t, kind="count")
    entries = [(s("bash", 16) + u64(1), [u64(5), u64(2)]), (s("sshd", 16) + u64(-2), [u64(1), u64(0)])]
    assert map_text(info, entries) == "@[sshd, -2]: 1\n@[bash, 1]: 7\n"


def test_min_max_respect_unset_cpus() -> None:
    info = MapInfo("@m", kind="min")
    entries = [(u64(0), [u64(0) + u64(0), u64(9) + u64(1), u64(4) + u64(1)])]
    assert map_text(info, entries) == "@m: 4\n"
    info = MapInfo("@m", kind="max")
    assert map_text(info, [(u64(0), [u64(-3) + u64(1), u64(0) + u64(0)])]) == "@m: -3\n"


def test_empty_map_prints_a_blank_line() -> None:
    assert map_text(MapInfo("@e", key=INT, kind="int"), []) == "\n"


def test_string_values_and_top() -> None:
    info = MapInfo("@s", key=INT, kind="str", value=string(8))
    assert map_text(info, [(u64(2), s("b", 8)), (u64(1), s("a", 8))]) == "@s[1]: a\n@s[2]: b\n"
    counts = MapInfo("@c", key=INT, kind="count")
    entries = [(u64(k), [u64(k * 10)]) for k in range(1, 6)]
    assert map_text(counts, entries, top=2) == "@c[4]: 40\n@c[5]: 50\n"


def test_json_formats() -> None:
    info = MapInfo("@b", key=Type("tuple", items=(string(8), INT)), kind="sum")
    line = map_json(info, [(s("x", 8) + u64(1), [u64(3)])])
    assert json.loads(line) == {"type": "map", "data": {"@b": {"x,1": 3}}}
    assert line == '{"type": "map", "data": {"@b": {"x,1": 3}}}\n'
    h = MapInfo("@h", kind="hist")
    assert json.loads(map_json(h, [(bucket_key(4), [u64(1)])])) == {
        "type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 1}]}}
    st = MapInfo("@st", kind="stats")
    assert json.loads(map_json(st, [(u64(0), [u64(3) + u64(1)])])) == {
        "type": "stats", "data": {"@st": {"count": 1, "average": 3, "total": 3}}}


def test_json_histograms_keep_empty_buckets_between_used_ones() -> None:
    h = MapInfo("@h", kind="hist")
    got = json.loads(map_json(h, [(bucket_key(2), [u64(1)]), (bucket_key(4), [u64(2)])]))
    assert got["data"]["@h"] == [{"min": 1, "max": 1, "count": 1}, {"min": 2, "max": 3, "count": 0},
                                 {"min": 4, "max": 7, "count": 2}]
    lh = MapInfo("@l", kind="lhist", lhist=(0, 10, 5))
    got = json.loads(map_json(lh, [(bucket_key(0), [u64(1)]), (bucket_key(3), [u64(1)])]))
    assert got["data"]["@l"] == [{"max": -1, "count": 1}, {"min": 0, "max": 4, "count": 0},
                                 {"min": 5, "max": 9, "count": 0}, {"min": 10, "count": 1}]
    assert json.loads(map_json(MapInfo("@a", kind="avg"), [(u64(0), [u64(10) + u64(2)])])) == {
        "type": "stats", "data": {"@a": 5}}
    assert map_json(MapInfo("@e", key=INT, kind="int"), []) == ""


def test_empty_avg_and_stats_maps_print_two_blank_lines() -> None:
    assert map_text(MapInfo("@a", kind="avg"), []) == "\n\n"
    assert map_text(MapInfo("@s", key=INT, kind="stats"), []) == "\n\n"


def test_strftime_of_monotonic_timestamps() -> None:
    import time

    from pybpf.trace.output import strftime

    now = time.monotonic_ns()
    assert strftime("%Y-%m-%d %H", now) == time.strftime("%Y-%m-%d %H") or time.strftime("%M:%S") == "00:00"
    assert len(strftime("%f", now)) == 6


def test_inet_values() -> None:
    import socket

    from pybpf.trace.output import decode_value

    v4 = u64(socket.AF_INET) + bytes([10, 0, 0, 2]).ljust(16, b"\0")
    v6 = u64(socket.AF_INET6) + socket.inet_pton(socket.AF_INET6, "fe80::1")
    assert decode_value(Type("inet", 24), v4) == "10.0.0.2"
    assert decode_value(Type("inet", 24), v6) == "fe80::1"
