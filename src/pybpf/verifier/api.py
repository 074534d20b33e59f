"""The public entry points: verify a program or a whole collection, kernel-style result or VerifierError."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pybpf.abi import ProgramType
from pybpf.errors import VerifierError
from pybpf.object.spec import CollectionSpec, MapSpec, ProgramSpec
from pybpf.verifier.checker import Checker


@dataclass(frozen=True)
class VerificationResult:
    """An accepted program: how much work the proof took, and the state log when asked for."""

    accepted: bool
    processed_insns: int
    peak_states: int
    time_ns: int
    log: str = ""
    total_states: int = 0
    stack_depth: int = 0


def _resolve_type(spec: ProgramSpec, program_type: ProgramType | int | str | None) -> int:
    if program_type is None:
        t = int(spec.type)
        return t if t != ProgramType.UNSPEC else int(ProgramType.SOCKET_FILTER)
    if isinstance(program_type, str):
        try:
            return int(ProgramType[program_type.upper()])
        except KeyError:
            raise VerifierError(f"unknown program type {program_type!r}") from None
    return int(program_type)


def verify(
    spec: ProgramSpec | CollectionSpec,
    program_type: ProgramType | int | str | None = None,
    privileged: bool = True,
    log: bool = False,
    maps: Mapping[str, MapSpec] | None = None,
) -> VerificationResult:
    """Prove one program safe the way the kernel does, or raise VerifierError(reason, insn, log).

    A CollectionSpec with several programs verifies each and returns the last result; use
    verify_collection to get one result per program.
    """
    if isinstance(spec, CollectionSpec):
        if not spec.programs:
            raise VerifierError("the collection holds no programs")
        result = None
        for prog in spec.programs.values():
            result = verify(prog, program_type, privileged, log, maps if maps is not None else spec.maps)
        assert result is not None
        return result
    checker = Checker(
        insns=spec.instructions,
        program_type=_resolve_type(spec, program_type),
        privileged=privileged,
        maps=dict(maps or {}),
        map_references=spec.map_references,
        license=spec.license,
        log_enabled=log,
        func_infos=tuple(spec.func_infos),
        btf=spec.btf,
        attach_type=None if spec.attach_type is None else int(spec.attach_type),
    )
    out = checker.run()
    stats = (f"processed {out.processed_insns} insns (limit 1000000) max_states_per_insn 0 total_states "
             f"{out.total_states} peak_states {out.peak_states} mark_read 0")
    text = (out.log + stats + "\n") if log else ""
    return VerificationResult(True, out.processed_insns, out.peak_states, out.time_ns, text, out.total_states,
                              out.max_stack_depth)


def verify_collection(
    spec: CollectionSpec, privileged: bool = True, log: bool = False
) -> dict[str, VerificationResult]:
    """Verify every program of a collection with its maps; the first rejection raises VerifierError."""
    results: dict[str, VerificationResult] = {}
    for name, prog in spec.programs.items():
        try:
            results[name] = verify(prog, None, privileged, log, spec.maps)
        except VerifierError as exc:
            raise VerifierError(f"program {name}: {exc.reason}", insn=exc.insn, log=exc.log) from None
    return results
