"""`make_context`: the context each program type runs with on the user-space engines (plain, XDP or skb)."""

from __future__ import annotations

from pybpf.abi import ProgramType
from pybpf.vm.contexts import Context, DataScratch, XdpContext
from pybpf.vm.run_env import RunEnv
from pybpf.vm.skb_context import SKB_PROGRAM_TYPES, SkbContext


def make_context(
    program_type: int, env: RunEnv, data: bytes = b"", ctx_in: bytes | None = None, *,
    in_place: bool = False, scratch: DataScratch | None = None, shared: bool = False,
) -> Context:
    """The context a program of `program_type` runs with (registers its regions in `env`);
    `in_place`, `scratch` and `shared` apply to programs with a plain context (see Context)."""
    if program_type == ProgramType.XDP:
        return XdpContext(env, data, ctx_in)
    if program_type in SKB_PROGRAM_TYPES:
        return SkbContext(env, data, ctx_in, program_type)
    return Context(env, data, ctx_in, in_place=in_place, scratch=scratch, shared=shared)
