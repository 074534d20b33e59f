"""Static safety proof of eBPF programs by abstract interpretation, with the kernel's rules and messages."""

from pybpf.errors import VerifierError
from pybpf.verifier.api import VerificationResult, verify, verify_collection

__all__ = ["VerificationResult", "VerifierError", "verify", "verify_collection"]
