"""`pybpf attach` runs pybpf's verifier before the kernel's, as `run` does; `--no-verify` skips it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pybpf.cli.main import main

pytestmark = pytest.mark.kernel
TP_EVENTS = Path(__file__).resolve().parents[1] / "kernel" / "data" / "tp_events.c"
HOOK = ["--tracepoint", "syscalls/sys_enter_getppid", "--duration", "0"]

# A hash map lookup used without its NULL check: both verifiers refuse it.
UNCHECKED_C = """
#include <bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int unchecked(void *ctx) {
    __u32 key = 0;
    __u64 *value = bpf_map_lookup_elem(&counts, &key);
    *value += 1;
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from pybpf.toolchain import compile_c

    out = tmp_path_factory.mktemp("attach-verify")
    (out / "unchecked.c").write_text(UNCHECKED_C)
    try:
        return {"unchecked": Path(compile_c(out / "unchecked.c", out / "unchecked.o")),
                "tp_events": Path(compile_c(TP_EVENTS, out / "tp_events.o"))}
    except Exception as exc:  # noqa: BLE001 - no compiler: skip with the reason
        pytest.skip(f"cannot compile the test programs: {exc}")


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The program names each call of pybpf's verifier was given (the real verifier still runs)."""
    import pybpf.verifier

    calls: list[list[str]] = []
    real = pybpf.verifier.verify_collection

    def spy(spec: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(sorted(spec.programs))
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(pybpf.verifier, "verify_collection", spy)
    return calls


def test_attach_verifies_with_pybpf_first(objects: dict[str, Path], verified: list[list[str]],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["attach", str(objects["unchecked"]), "--program", "unchecked", *HOOK])
    err = capsys.readouterr().err
    assert status == 2
    assert verified == [["unchecked"]]
    assert len(err.strip().splitlines()) == 1 and "map_value_or_null" in err


def test_no_verify_leaves_the_judgement_to_the_kernel(objects: dict[str, Path], verified: list[list[str]],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["attach", str(objects["unchecked"]), "--program", "unchecked", "--no-verify", *HOOK])
    err = capsys.readouterr().err
    assert status == 2
    assert verified == []
    assert len(err.strip().splitlines()) == 1 and "map_value_or_null" in err  # the kernel's words


def test_no_verify_attaches_a_safe_program(objects: dict[str, Path], verified: list[list[str]],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["attach", str(objects["tp_events"]), "--program", "on_getppid", "--no-verify", *HOOK])
    err = capsys.readouterr().err
    assert status == 0, err
    assert verified == []
    assert "attached on_getppid (tracepoint syscalls/sys_enter_getppid)" in err
