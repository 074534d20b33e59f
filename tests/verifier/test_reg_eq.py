"""Reg's hand-written __eq__ (the value first, for the loop check) against equality of all its fields."""

from __future__ import annotations

import dataclasses
import itertools

from pybpf.abi import MapType
from pybpf.object.spec import MapSpec
from pybpf.verifier import bounds
from pybpf.verifier.state import NOT_INIT, Reg, RegType, const, scalar

_MAP = MapSpec("m", MapType.HASH, 4, 8, 16)
_CHANGES = {  # one other value for each field
    "type": RegType.PTR_TO_STACK, "var": bounds.unsigned_range(1, 9), "off": 8, "id": 3, "ref_obj_id": 4,
    "maybe_null": True, "rdonly": True, "ringbuf": True, "range": 14, "map": _MAP, "mem_size": 64,
    "frameno": 1, "subprog": 5, "btf_name": "sk_buff",
}


def _fields(r: Reg) -> tuple[object, ...]:
    return tuple(getattr(r, f.name) for f in dataclasses.fields(Reg))


def test_every_field_is_named_once() -> None:
    assert set(_CHANGES) == {f.name for f in dataclasses.fields(Reg)}


def test_eq_is_equality_of_all_fields() -> None:
    base = Reg(RegType.SCALAR, bounds.known(7))
    regs = [base, NOT_INIT, const(7), scalar(bounds.UNKNOWN), Reg(map=MapSpec("m", MapType.HASH, 4, 8, 16))]
    regs += [base.with_(**{name: value}) for name, value in _CHANGES.items()]
    regs += [Reg(RegType.SCALAR, bounds.known(7))]  # equal to base, another object
    for a, b in itertools.product(regs, repeat=2):
        same = _fields(a) == _fields(b)
        assert (a == b) is same, (a, b)
        assert (a != b) is (not same), (a, b)
        if same:
            assert hash(a) == hash(b)


def test_eq_with_another_type() -> None:
    assert Reg() != (RegType.NOT_INIT,)
    assert Reg().__eq__(0) is NotImplemented
