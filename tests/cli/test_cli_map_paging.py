"""Map dumps are paged: a 4M-entry array is not read whole to print it (issue: 32 s and 2.2 GB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.cli.main import main

SOURCE = r"""
#include <bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX);
	__type(key, __u32);
	__type(value, __u64);
} big SEC(".maps");

SEC("xdp")
int touch(struct xdp_md *ctx)
{
	__u32 k = 7;
	__u64 *v = bpf_map_lookup_elem(&big, &k);
	if (v)
		*v = 5;
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def _source(tmp_path: Path, entries: int) -> Path:
    src = tmp_path / f"big{entries}.c"
    src.write_text(SOURCE.replace("MAX", str(entries)))
    (tmp_path / "pkt.bin").write_bytes(bytes(64))
    return src


def test_json_dump_of_a_huge_array_is_limited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _source(tmp_path, 4_000_000)
    assert main(["run", str(src), "--data-in", str(tmp_path / "pkt.bin"), "--json", "--map-entries", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    (big,) = [m for m in out["maps"] if m["name"] == "big"]
    assert big["truncated"] is True
    assert len(big["entries"]) == 20
    assert big["entries"][7]["formatted"] == {"key": 7, "value": 5}


def test_text_dump_says_what_was_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _source(tmp_path, 4_000_000)
    assert main(["run", str(src), "--data-in", str(tmp_path / "pkt.bin")]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  key:")]
    assert len(lines) == 1000  # the default page
    assert "more entries not shown (--map-entries 1000; 0 shows all)" in out


def test_zero_shows_every_entry_and_bad_counts_are_refused(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    src = _source(tmp_path, 3000)
    assert main(["run", str(src), "--data-in", str(tmp_path / "pkt.bin"), "--json", "--map-entries", "0"]) == 0
    (big,) = [m for m in json.loads(capsys.readouterr().out)["maps"] if m["name"] == "big"]
    assert len(big["entries"]) == 3000 and "truncated" not in big
    with pytest.raises(SystemExit) as info:
        main(["run", str(src), "--map-entries", "-3"])
    assert info.value.code == 2
    assert "not a count" in capsys.readouterr().err
