"""Static safety proof of eBPF programs by abstract interpretation, with the kernel's rules and messages."""

from pybpf.verifier import native

native.activate(__path__)  # the hot modules compiled by mypyc, where a build of this exact source exists

from pybpf.errors import VerifierError  # noqa: E402
from pybpf.verifier.api import VerificationResult, verify, verify_collection  # noqa: E402

__all__ = ["VerificationResult", "VerifierError", "verify", "verify_collection"]
