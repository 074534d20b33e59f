"""The bpf_conformance / uBPF `.data` test vectors: parser, uBPF's test helpers and a runner.

A `.data` file holds a program (`-- asm` text or `-- raw` 64-bit words), optional input memory
(`-- mem`) and the expectation (`-- result` r0, or `-- error`/`-- error pattern` for a program
that must fail). The runner assembles the program, runs it on an engine with r1 = a writable
copy of the memory and r2 = its length, and judges the outcome. uBPF's own error wording is
not ours, so an expected error is judged by phase: an expected "Failed to load code" must fail
at load time, an expected "uBPF error" must fail while running.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pybpf.errors import AssemblyError, BpfError, RuntimeFault
from pybpf.isa.instruction import Instruction, decode, encode
from pybpf.vm.helper_registry import HelperEnv, HelperFn
from pybpf.vm.ops import M64

UBPF_MAX_SLOTS = 65536  # uBPF's program size limit, which its error vectors test

# --- uBPF's test helpers (ids 0-5) --------------------------------------------------------


def _gather_bytes(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """uBPF helper 0: the low byte of each argument, first argument highest."""
    value = 0
    for arg in (r1, r2, r3, r4, r5):
        value = (value << 8) | (arg & 0xFF)
    return value


def _memfrob(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    data = env.read(r1, r2)
    env.write(r1, bytes(b ^ 42 for b in data))
    return 0


def _no_op(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return 0


def _sqrti(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    return math.isqrt(r1)


def _strcmp_ext(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    a = env.read_str(r1, 1 << 16) + b"\0"
    b = env.read_str(r2, 1 << 16) + b"\0"
    for x, y in zip(a, b, strict=False):
        if x != y:
            return (x - y) & M64
    return 0


def _unwind(env: HelperEnv, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    if r1 == 0:
        from pybpf.vm.interpreter import ProgramExit

        raise ProgramExit(0)  # uBPF's unwind: a zero return stops the whole program with 0
    return r1


UBPF_HELPERS: dict[int, HelperFn] = {
    0: _gather_bytes,
    1: _memfrob,
    2: _no_op,
    3: _sqrti,
    4: _strcmp_ext,
    5: _unwind,
}

# --- the .data format ---------------------------------------------------------------------


@dataclass
class DataTest:
    """One parsed `.data` vector."""

    path: Path
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem

    def get(self, name: str) -> str | None:
        return self.sections.get(name)

    @property
    def mem(self) -> bytes:
        return parse_mem(self.sections.get("mem", ""))

    @property
    def result(self) -> int | None:
        text = self.sections.get("result")
        return None if text is None else parse_result(text, self.path)

    @property
    def error(self) -> str | None:
        text = self.sections.get("error")
        return _last_line(text) if text is not None else None

    @property
    def error_pattern(self) -> str | None:
        text = self.sections.get("error pattern")
        return _last_line(text) if text is not None else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_data(text: str, path: Path | str = "<data>") -> DataTest:
    """Parse the text of a `.data` file (comments dropped, `@ FILE` links resolved)."""
    path = Path(path)
    test = DataTest(path)
    current: str | None = None
    body: list[str] = []

    def finish() -> None:
        if current is not None and current not in test.sections:
            test.sections[current] = "\n".join(body)

    for raw in text.replace("\r", "").split("\n"):
        line = raw.split("#", 1)[0]
        if line.startswith("--"):
            finish()
            header = line[2:].strip()
            body = []
            if "@" in header:
                header, _, target = header.partition("@")
                header = header.strip()
                linked = path.parent / target.strip()
                try:
                    body = [ln.split("#", 1)[0] for ln in linked.read_text().splitlines()]
                except OSError as exc:
                    raise BpfError(f"{path}: cannot read linked file {linked}: {exc}") from None
            current = header
            continue
        if current is not None:
            body.append(line)
    finish()
    return test


def parse_data_file(path: Path | str) -> DataTest:
    """Read and parse one `.data` file."""
    path = Path(path)
    return parse_data(path.read_text(errors="replace"), path)


def parse_mem(text: str) -> bytes:
    """Hex bytes: per line, drop a hexdump offset up to the last ':', then take digit pairs."""
    digits = []
    for line in text.splitlines():
        line = line.rsplit(":", 1)[-1]
        digits.append("".join(line.split()))
    joined = "".join(digits)
    try:
        return bytes.fromhex(joined)
    except ValueError:
        raise BpfError(f"bad hex in -- mem: {joined[:40]!r}") from None


def parse_result(text: str, path: Path | str = "<data>") -> int:
    """The expected r0 (hex when it contains 0x, else decimal) as an unsigned 64-bit value."""
    line = _last_line(text)
    try:
        value = int(line, 16) if "0x" in line.lower() else int(line, 10)
    except ValueError:
        raise BpfError(f"{path}: bad -- result {line!r}") from None
    return value & M64


def parse_raw(text: str) -> list[Instruction]:
    """`-- raw` words (one little-endian u64 per slot) decoded into instructions."""
    code = bytearray()
    for token in text.split():
        try:
            word = int(token, 0)
        except ValueError:
            raise AssemblyError(f"bad raw instruction word {token!r}") from None
        code += (word & M64).to_bytes(8, "little")
    return decode(bytes(code))


def program_of(test: DataTest) -> list[Instruction]:
    """The test's program: `-- raw` when present (as upstream runs it), else `-- asm`."""
    raw = test.get("raw")
    if raw is not None and raw.split():
        return parse_raw(raw)
    asm = test.get("asm")
    if asm is None or not asm.strip():
        raise BpfError(f"{test.path}: no program (-- asm or -- raw)")
    from pybpf.isa import assemble

    insns: list[Instruction] = assemble(asm, syntax="ubpf")
    return insns


# --- running and judging -------------------------------------------------------------------


class RunFailure(Exception):  # noqa: N818 - carries the phase of a failure
    """A test program failed to load (phase "load") or while running (phase "run")."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase
        self.message = message


def run_program(insns: Sequence[Instruction], mem: bytes, engine: str = "interp") -> int:
    """Load and run `insns` with r1 = a writable copy of `mem` and r2 = its length; returns r0."""
    if engine == "interp":
        from pybpf.vm.interpreter import Machine
        from pybpf.vm.memory import Region
        from pybpf.vm.run_env import RunEnv

        env = RunEnv()
        try:
            machine = Machine(insns, env, helpers=UBPF_HELPERS, max_slots=UBPF_MAX_SLOTS)
        except BpfError as exc:
            raise RunFailure("load", str(exc)) from None
        address = 0
        if mem:
            address = env.add_run_region(Region.allocate(len(mem), name="mem", init=mem)).address
        try:
            return machine.run(address, len(mem))
        except RuntimeFault as exc:
            raise RunFailure("run", str(exc)) from None
        finally:
            env.end_run()
    return _run_on_runtime(insns, mem, engine)


def xdp_prolog(length: int) -> list[Instruction]:
    """Instructions that turn an XDP context into the vectors' r1 = memory, r2 = length.

    The kernel runs the vectors as XDP programs (as upstream's libbpf plugin does): the packet is
    the memory, and a bounds check up front lets the verifier accept loads through r1.
    """
    return [
        Instruction(0x61, dst=2, src=1, off=4),  # r2 = ctx->data_end
        Instruction(0x61, dst=1, src=1, off=0),  # r1 = ctx->data
        Instruction(0xBF, dst=3, src=1),  # r3 = r1
        Instruction(0x07, dst=3, imm=length),  # r3 += length
        Instruction(0xBD, dst=3, src=2, off=2),  # if r3 <= r2 goto +2
        Instruction(0xB7, dst=0, imm=0),
        Instruction(0x95),
        Instruction(0xB7, dst=2, imm=length),  # r2 = length
    ]


KERNEL_MIN_PACKET = 14  # BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header


def _run_on_runtime(insns: Sequence[Instruction], mem: bytes, engine: str) -> int:
    from pybpf.abi import ProgramType
    from pybpf.engines import Runtime
    from pybpf.object.spec import ProgramSpec

    if engine == "kernel":
        data = mem.ljust(KERNEL_MIN_PACKET, b"\0")
        spec = ProgramSpec(name="main", instructions=(*xdp_prolog(len(mem)), *insns),
                           type=ProgramType.XDP, license="GPL")
        options: dict[str, object] = {}
    else:
        data = mem
        spec = ProgramSpec(name="main", instructions=tuple(insns))
        options = {"helpers": UBPF_HELPERS, "max_slots": UBPF_MAX_SLOTS}
    try:
        collection = Runtime(engine, verify=False, **options).load(spec)
    except ImportError as exc:
        raise RunFailure("load", f"engine {engine!r} is not available: {exc}") from None
    except BpfError as exc:
        raise RunFailure("load", str(exc)) from None
    try:
        return collection.programs["main"].run(data).retval & M64
    except BpfError as exc:
        raise RunFailure("run", str(exc)) from None
    finally:
        collection.close()


@dataclass(frozen=True)
class Outcome:
    """The verdict on one test: status "pass", "fail" or "skip", with the reason."""

    path: Path
    status: str
    reason: str = ""

    @property
    def name(self) -> str:
        return self.path.name


# Vectors we cannot run as written, with the reason (file stem -> reason).
SKIPS: dict[str, str] = {
    "errors__err-unknown-opcode": "opcode 0x06 is JA32 (gotol) in RFC 9669; uBPF's vector predates it",
    "reload": "tests uBPF's VM API (loading code twice into one VM); pybpf loads into fresh machines",
}


def judge(test: DataTest, engine: str = "interp") -> Outcome:
    """Run one parsed test and compare with its expectation."""
    path = test.path
    if test.name in SKIPS:
        return Outcome(path, "skip", SKIPS[test.name])
    if "pyelf" in test.sections:
        return Outcome(path, "skip", "needs uBPF's ELF template builder and its name-resolved helpers")
    if engine == "jit" and "no jit" in test.sections:
        return Outcome(path, "skip", f"-- no jit: {_last_line(test.sections['no jit'])}")
    error, pattern, result = test.error, test.error_pattern, test.result
    if error is None and pattern is None and result is None:
        return _judge_roundtrip(test)
    r0 = 0
    failure: RunFailure | None = None
    try:
        insns = program_of(test)
    except BpfError as exc:
        failure = RunFailure("load", str(exc))
    else:
        if engine == "kernel" and _calls_ubpf_test_helpers(insns):
            return Outcome(path, "skip", "calls uBPF's test helpers 0-4, other helpers in the kernel")
        try:
            r0 = run_program(insns, test.mem, engine)
        except RunFailure as exc:
            failure = exc
    if error is not None or pattern is not None:
        expected = error if error is not None else pattern
        assert expected is not None
        phase = "load" if expected.startswith("Failed to load code") else "run"
        if failure is None:
            return Outcome(path, "fail", f"expected failure ({expected}), got r0 = {r0:#x}")
        if failure.phase != phase:
            return Outcome(
                path, "fail", f"expected a {phase}-time failure ({expected}), got {failure.phase}-time:"
                f" {failure.message}"
            )
        return Outcome(path, "pass")
    if failure is not None:
        return Outcome(path, "fail", f"{failure.phase} failed: {failure.message}")
    assert result is not None  # no expectation at all was handled above
    if engine == "kernel":
        result &= 0xFFFFFFFF  # BPF_PROG_TEST_RUN reports r0 as a u32: compare the low half
    if r0 != result:
        return Outcome(path, "fail", f"r0 = {r0:#x}, expected {result:#x}")
    return Outcome(path, "pass")


def _calls_ubpf_test_helpers(insns: Sequence[Instruction]) -> bool:
    return any(i.opcode == 0x85 and i.src == 0 and 0 <= i.imm <= 4 for i in insns)


def _judge_roundtrip(test: DataTest) -> Outcome:
    """A vector with `-- asm` and `-- raw` but no expectation: the assembler must match the raw words."""
    asm, raw = test.get("asm"), test.get("raw")
    if not (asm and raw):
        return Outcome(test.path, "skip", "no -- result or -- error: nothing to check")
    from pybpf.isa import assemble

    try:
        ours = encode(assemble(asm, syntax="ubpf"))
        theirs = encode(parse_raw(raw))
    except BpfError as exc:
        return Outcome(test.path, "fail", f"assembly: {exc}")
    if ours != theirs:
        return Outcome(test.path, "fail", "assembled -- asm differs from -- raw")
    return Outcome(test.path, "pass")


def iter_data_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Every `.data` file named or inside the directories named, sorted per directory."""
    for entry in paths:
        p = Path(entry)
        if p.is_dir():
            yield from sorted(p.glob("*.data"))
        elif p.exists():
            yield p
        else:
            raise FileNotFoundError(2, "No such file or directory", str(p))


def run_paths(paths: Iterable[Path | str], engine: str = "interp") -> list[Outcome]:
    """Judge every test under `paths`; a file that cannot be parsed counts as failed."""
    outcomes = []
    for path in iter_data_files(paths):
        try:
            test = parse_data_file(path)
            outcomes.append(judge(test, engine))
        except (BpfError, OSError, UnicodeDecodeError, re.error) as exc:
            outcomes.append(Outcome(path, "fail", f"cannot run: {exc}"))
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> str:
    """The final line: `N passed, M failed` (and `, K skipped` when K > 0)."""
    passed = sum(o.status == "pass" for o in outcomes)
    failed = sum(o.status == "fail" for o in outcomes)
    skipped = sum(o.status == "skip" for o in outcomes)
    line = f"{passed} passed, {failed} failed"
    return f"{line}, {skipped} skipped" if skipped else line


__all__ = [
    "UBPF_HELPERS",
    "DataTest",
    "Outcome",
    "RunFailure",
    "iter_data_files",
    "judge",
    "parse_data",
    "parse_data_file",
    "run_paths",
    "program_of",
    "run_program",
    "summary",
    "xdp_prolog",
]
