"""The members of union bpf_attr and the *_info structs as ctypes structures (include/uapi/linux/bpf.h)."""

from __future__ import annotations

import ctypes
from typing import Any

u8, u32, u64 = ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint64
OBJ_NAME_LEN = 16
ATTR_SIZE = 160  # larger than any member we use; the trailing bytes stay zero as the kernel requires


class Attr(ctypes.Structure):
    """Base for union bpf_attr members: zero-initialised, passed to bpf() with the union's full size."""

    def raw(self) -> ctypes.Array[ctypes.c_char]:
        """A zero-padded buffer of ATTR_SIZE bytes starting with this structure."""
        buf = ctypes.create_string_buffer(ATTR_SIZE)
        ctypes.memmove(buf, ctypes.addressof(self), ctypes.sizeof(self))
        return buf

    def load(self, buf: ctypes.Array[ctypes.c_char]) -> None:
        """Copy what the kernel wrote back into `buf` into this structure."""
        ctypes.memmove(ctypes.addressof(self), buf, ctypes.sizeof(self))


def ptr(obj: Any) -> int:
    """The address of a ctypes object (0 for None), for the __aligned_u64 pointer fields."""
    return 0 if obj is None else ctypes.addressof(obj)


class MapCreateAttr(Attr):
    _fields_ = [
        ("map_type", u32), ("key_size", u32), ("value_size", u32), ("max_entries", u32),
        ("map_flags", u32), ("inner_map_fd", u32), ("numa_node", u32),
        ("map_name", ctypes.c_char * OBJ_NAME_LEN), ("map_ifindex", u32), ("btf_fd", u32),
        ("btf_key_type_id", u32), ("btf_value_type_id", u32), ("btf_vmlinux_value_type_id", u32),
        ("map_extra", u64), ("value_type_btf_obj_fd", ctypes.c_int32), ("map_token_fd", ctypes.c_int32),
    ]


class MapElemAttr(Attr):
    _fields_ = [("map_fd", u32), ("key", u64), ("value", u64), ("flags", u64)]


class MapBatchAttr(Attr):
    _fields_ = [
        ("in_batch", u64), ("out_batch", u64), ("keys", u64), ("values", u64),
        ("count", u32), ("map_fd", u32), ("elem_flags", u64), ("flags", u64),
    ]


class ProgLoadAttr(Attr):
    _fields_ = [
        ("prog_type", u32), ("insn_cnt", u32), ("insns", u64), ("license", u64),
        ("log_level", u32), ("log_size", u32), ("log_buf", u64), ("kern_version", u32),
        ("prog_flags", u32), ("prog_name", ctypes.c_char * OBJ_NAME_LEN), ("prog_ifindex", u32),
        ("expected_attach_type", u32), ("prog_btf_fd", u32), ("func_info_rec_size", u32),
        ("func_info", u64), ("func_info_cnt", u32), ("line_info_rec_size", u32), ("line_info", u64),
        ("line_info_cnt", u32), ("attach_btf_id", u32), ("attach_prog_fd", u32), ("core_relo_cnt", u32),
        ("fd_array", u64), ("core_relos", u64), ("core_relo_rec_size", u32), ("log_true_size", u32),
    ]


class ObjAttr(Attr):
    _fields_ = [("pathname", u64), ("bpf_fd", u32), ("file_flags", u32), ("path_fd", ctypes.c_int32)]


class ProgAttachAttr(Attr):
    _fields_ = [
        ("target_fd", u32), ("attach_bpf_fd", u32), ("attach_type", u32), ("attach_flags", u32),
        ("replace_bpf_fd", u32),
    ]


class TestRunAttr(Attr):
    _fields_ = [
        ("prog_fd", u32), ("retval", u32), ("data_size_in", u32), ("data_size_out", u32),
        ("data_in", u64), ("data_out", u64), ("repeat", u32), ("duration", u32),
        ("ctx_size_in", u32), ("ctx_size_out", u32), ("ctx_in", u64), ("ctx_out", u64),
        ("flags", u32), ("cpu", u32), ("batch_size", u32),
    ]


class GetIdAttr(Attr):
    _fields_ = [("start_id", u32), ("next_id", u32), ("open_flags", u32)]


class InfoAttr(Attr):
    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


class ProgQueryAttr(Attr):
    _fields_ = [
        ("target_fd", u32), ("attach_type", u32), ("query_flags", u32), ("attach_flags", u32),
        ("prog_ids", u64), ("prog_cnt", u32), ("prog_attach_flags", u64),
    ]


class RawTracepointAttr(Attr):
    _fields_ = [("name", u64), ("prog_fd", u32), ("_pad", u32), ("cookie", u64)]


class BtfLoadAttr(Attr):
    _fields_ = [
        ("btf", u64), ("btf_log_buf", u64), ("btf_size", u32), ("btf_log_size", u32),
        ("btf_log_level", u32), ("btf_log_true_size", u32),
    ]


class LinkCreateAttr(Attr):
    """link_create: the per-kind union after `flags` is given as raw u64 words (see links.py)."""

    _fields_ = [
        ("prog_fd", u32), ("target_fd", u32), ("attach_type", u32), ("flags", u32),
        ("extra", u64 * 6),
    ]


class LinkDetachAttr(Attr):
    _fields_ = [("link_fd", u32)]


class LinkUpdateAttr(Attr):
    _fields_ = [("link_fd", u32), ("new_prog_fd", u32), ("flags", u32), ("old_prog_fd", u32)]


class ProgInfo(ctypes.Structure):
    _fields_ = [
        ("type", u32), ("id", u32), ("tag", u8 * 8), ("jited_prog_len", u32), ("xlated_prog_len", u32),
        ("jited_prog_insns", u64), ("xlated_prog_insns", u64), ("load_time", u64),
        ("created_by_uid", u32), ("nr_map_ids", u32), ("map_ids", u64),
        ("name", ctypes.c_char * OBJ_NAME_LEN), ("ifindex", u32), ("gpl_compatible", u32),
        ("netns_dev", u64), ("netns_ino", u64), ("nr_jited_ksyms", u32), ("nr_jited_func_lens", u32),
        ("jited_ksyms", u64), ("jited_func_lens", u64), ("btf_id", u32), ("func_info_rec_size", u32),
        ("func_info", u64), ("nr_func_info", u32), ("nr_line_info", u32), ("line_info", u64),
        ("jited_line_info", u64), ("nr_jited_line_info", u32), ("line_info_rec_size", u32),
        ("jited_line_info_rec_size", u32), ("nr_prog_tags", u32), ("prog_tags", u64),
        ("run_time_ns", u64), ("run_cnt", u64), ("recursion_misses", u64), ("verified_insns", u32),
        ("attach_btf_obj_id", u32), ("attach_btf_id", u32), ("_pad", u32),
    ]


class MapInfo(ctypes.Structure):
    _fields_ = [
        ("type", u32), ("id", u32), ("key_size", u32), ("value_size", u32), ("max_entries", u32),
        ("map_flags", u32), ("name", ctypes.c_char * OBJ_NAME_LEN), ("ifindex", u32),
        ("btf_vmlinux_value_type_id", u32), ("netns_dev", u64), ("netns_ino", u64), ("btf_id", u32),
        ("btf_key_type_id", u32), ("btf_value_type_id", u32), ("btf_vmlinux_id", u32), ("map_extra", u64),
    ]


class BtfInfo(ctypes.Structure):
    _fields_ = [
        ("btf", u64), ("btf_size", u32), ("id", u32), ("name", u64), ("name_len", u32), ("kernel_btf", u32),
    ]


class LinkInfo(ctypes.Structure):
    _fields_ = [("type", u32), ("id", u32), ("prog_id", u32), ("_pad", u32), ("extra", u64 * 8)]
