"""Packet captures in and out: read pcap and pcapng files, write them (with per-packet comments).

Reading and writing go through dpkt. A capture is a list of `CapturedPacket`s (timestamp,
bytes, optional comment); link types other than Ethernet are refused when read, since packet
programs here see Ethernet frames. pcapng output carries each packet's comment (e.g. the XDP
verdict) in its Enhanced Packet Block, where Wireshark and `tshark` show it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import dpkt
from dpkt import pcapng

from pybpf.errors import BpfError

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
EPB_ORIGINAL_LENGTH = 24  # offset of the original packet length in an Enhanced Packet Block


class PcapError(BpfError):
    """A capture file that cannot be read or written."""


@dataclass(frozen=True)
class CapturedPacket:
    """One packet of a capture: when it was seen, its bytes, and an optional comment."""

    timestamp: float
    data: bytes
    comment: str = ""
    length: int = 0  # the packet's length on the wire when `data` is cut short (0: len(data))


def capture_format(path: str | Path) -> str:
    """"pcap" or "pcapng", from the file's magic number."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == PCAPNG_MAGIC:
        return "pcapng"
    if magic in PCAP_MAGICS:
        return "pcap"
    raise PcapError(f"{path}: not a pcap or pcapng capture (magic {magic.hex() or 'empty'})")


def iter_packets(path: str | Path) -> Iterator[CapturedPacket]:
    """The packets of a pcap or pcapng file, in order."""
    kind = capture_format(path)
    with open(path, "rb") as f:
        try:
            reader: Any = pcapng.Reader(f) if kind == "pcapng" else dpkt.pcap.Reader(f)
            if reader.datalink() != LINKTYPE_ETHERNET:
                raise PcapError(f"{path}: link type {reader.datalink()} is not Ethernet")
            for ts, buf in reader:
                yield CapturedPacket(float(ts), bytes(buf))
        except (ValueError, dpkt.UnpackError, dpkt.NeedData) as exc:
            raise PcapError(f"{path}: damaged {kind} capture ({exc})") from None


def read_packets(path: str | Path) -> list[CapturedPacket]:
    """All packets of a pcap or pcapng file."""
    try:
        return list(iter_packets(path))
    except OSError as exc:
        raise PcapError(f"cannot read {path}: {exc.strerror or exc}") from None


def _epb(packet: CapturedPacket) -> bytes:
    """An Enhanced Packet Block (little-endian), its original length set when cut short."""
    opts = []
    if packet.comment:
        opts = [pcapng.PcapngOptionLE(code=pcapng.PCAPNG_OPT_COMMENT,
                                      data=packet.comment.encode()),
                pcapng.PcapngOptionLE()]
    epb = pcapng.EnhancedPacketBlockLE(pkt_data=packet.data, opts=opts)
    ts = round(packet.timestamp * 1e6)
    epb.ts_high, epb.ts_low = ts >> 32, ts & 0xFFFFFFFF
    raw = bytearray(bytes(epb))
    if packet.length > len(packet.data):  # dpkt writes the captured length for both
        struct.pack_into("<I", raw, EPB_ORIGINAL_LENGTH, packet.length)
    return bytes(raw)


class CaptureWriter:
    """Write packets one by one to a pcapng (default) or pcap file."""

    def __init__(self, path: str | Path, *, fmt: str | None = None, interface: str = "") -> None:
        fmt = fmt or ("pcap" if str(path).endswith(".pcap") else "pcapng")
        if fmt not in ("pcap", "pcapng"):
            raise PcapError(f"unknown capture format {fmt!r} (pcap or pcapng)")
        self.format = fmt
        try:
            self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise PcapError(f"cannot write {path}: {exc.strerror or exc}") from None
        self._writer: Any
        if fmt == "pcapng":
            idb = None
            if interface:
                idb = pcapng.InterfaceDescriptionBlockLE(
                    snaplen=SNAPLEN, linktype=LINKTYPE_ETHERNET,
                    opts=[pcapng.PcapngOptionLE(code=pcapng.PCAPNG_OPT_IF_NAME,
                                                data=interface.encode()),
                          pcapng.PcapngOptionLE(code=pcapng.PCAPNG_OPT_IF_TSRESOL, data=b"\x06"),
                          pcapng.PcapngOptionLE()])
            self._writer = pcapng.Writer(self._file, snaplen=SNAPLEN, linktype=LINKTYPE_ETHERNET,
                                         idb=idb)
        else:
            self._writer = dpkt.pcap.Writer(self._file, snaplen=SNAPLEN,
                                            linktype=LINKTYPE_ETHERNET)
        self.count = 0

    def write(self, packet: CapturedPacket | bytes, timestamp: float | None = None) -> None:
        if isinstance(packet, (bytes, bytearray, memoryview)):
            packet = CapturedPacket(time.time() if timestamp is None else timestamp, bytes(packet))
        if self.format == "pcapng":
            self._file.write(_epb(packet))
        else:
            self._writer.writepkt(packet.data, ts=packet.timestamp)
        self.count += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_packets(path: str | Path, packets: Iterable[CapturedPacket | bytes], *,
                  fmt: str | None = None) -> int:
    """Write a whole capture (pcapng unless the name ends in .pcap or fmt says); returns the count."""
    with CaptureWriter(path, fmt=fmt) as writer:
        for packet in packets:
            writer.write(packet)
        return writer.count


def verdict_name(program_type: int, retval: int) -> str:
    """XDP_TX, TC_ACT_OK, ... for packet programs; the number otherwise."""
    from pybpf.abi import ProgramType, TcAction, XdpAction

    try:
        if program_type == ProgramType.XDP:
            return f"XDP_{XdpAction(retval).name}"
        if program_type in (ProgramType.SCHED_CLS, ProgramType.SCHED_ACT):
            signed = retval - (1 << 32) if 1 << 31 <= retval < 1 << 32 else retval
            return f"TC_ACT_{TcAction(signed).name}"
    except ValueError:
        pass
    return f"retval {retval}"


DROPPED = {"XDP_DROP", "XDP_ABORTED", "TC_ACT_SHOT"}


def sent_on(program_type: int, inputs: Iterable[CapturedPacket],
            runs: Iterable[tuple[int, bytes | None]]) -> list[CapturedPacket]:
    """The packets a packet program lets through (not dropped), as it left them, each with its
    input's timestamp and a comment naming the input packet and the verdict."""
    out = []
    for i, (packet, (retval, data)) in enumerate(zip(inputs, runs, strict=True), start=1):
        name = verdict_name(program_type, retval)
        if name not in DROPPED:
            out.append(CapturedPacket(packet.timestamp, data if data is not None else packet.data,
                                      f"packet {i}: {name}"))
    return out
