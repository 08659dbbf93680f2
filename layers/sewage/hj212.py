"""The HJ 212-2017 packet (污染物在线监控（监测）系统数据传输标准): framing, CRC, parsing and building.

A packet is ``##`` + the data segment's length in 4 decimal digits + the data segment + its CRC in 4 hex digits +
CRLF. The data segment is ``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;CP=&&…&&``. The CRC is the standard's own (appendix A):
register 0xFFFF; for each byte the register becomes ``(register >> 8) XOR byte`` and is shifted right 8 times,
XORed with 0xA001 whenever a 1 falls out. It is not CRC-16/MODBUS (which XORs the byte into the low byte and keeps
the high one); checked against the standard's example packet in ``tests/test_sewage_hj212.py``. Because
``(register >> 8) XOR byte`` is below 256, one table lookup per byte does the eight shifts.

Pure functions, no I/O: the listener, the simulator and the tests share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

# Beijing time: UTC+8 all year since 1991 (a fixed offset is much cheaper to compare than a zoneinfo zone).
BEIJING = timezone(timedelta(hours=8), "CST")
MAX_SEGMENT = 9999  # four digits
DATA_CNS = {2011: "实时数据", 2051: "分钟数据", 2061: "小时数据", 2031: "日数据"}
DATA_RESPONSE_CN = 9014  # 数据应答 (HJ 212-2017 table 6.6.x: the platform's answer to an upload asking for one)
REPLY_FLAG = 0x01  # Flag bit A: the sender asks for an answer
SUFFIXES = {"Rtd": "value", "Avg": "value", "Min": "low", "Max": "high", "Cou": "cou", "Flag": "flag"}
FIELD_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
CODE_RE = re.compile(r"^[a-z][0-9]{5}$")
FLAGS = frozenset("NFMSDCTBPE")  # data flags of HJ 212-2017 (N normal, F stopped, M maintenance, D fault, T over …)


def _table() -> list[int]:
    out = []
    for x in range(256):
        r = x
        for _ in range(8):
            r = (r >> 1) ^ 0xA001 if r & 1 else r >> 1
        out.append(r)
    return out


_CRC = _table()


def crc16(data: bytes) -> int:
    r = 0xFFFF
    for b in data:
        r = _CRC[(r >> 8) ^ b]
    return r


class PacketError(ValueError):
    """A packet refused whole: ``reason`` is a machine code, the message says why in Chinese."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Packet:
    qn: str | None
    st: str
    cn: int
    pw: str
    mn: str
    flag: int
    data_time: datetime | None
    values: dict[str, dict[str, object]] = field(default_factory=dict)  # code -> {value, low, high, cou, flag}
    raw: str = ""

    @property
    def wants_reply(self) -> bool:
        return bool(self.flag & REPLY_FLAG)


def frame(segment: str) -> bytes:
    data = segment.encode("utf-8")
    if len(data) > MAX_SEGMENT:
        raise ValueError("data segment longer than 9999 bytes")
    return b"##%04d" % len(data) + data + b"%04X\r\n" % crc16(data)


TIME_RE = re.compile(r"\d{14}(\d{3})?")
NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")
CN_RE = re.compile(r"\d{4}")
FLAG_RE = re.compile(r"\d{1,3}")
MN_RE = re.compile(r"[0-9A-Za-z]{1,24}")
QN_RE = re.compile(r"\d{17}")


def parse_time(s: str) -> datetime:
    """``yyyyMMddHHmmss`` (``zzz`` milliseconds allowed after it), Beijing time."""
    if not TIME_RE.fullmatch(s):
        raise PacketError("bad_time", f"时间格式不正确：{s[:20]}（应为 yyyyMMddHHmmss）")
    try:
        return datetime(
            int(s[0:4]),
            int(s[4:6]),
            int(s[6:8]),
            int(s[8:10]),
            int(s[10:12]),
            int(s[12:14]),
            int(s[14:] or 0) * 1000,
            BEIJING,
        )
    except ValueError:
        raise PacketError("bad_time", f"时间不存在：{s[:20]}")


def format_time(t: datetime, millis: bool = False) -> str:
    t = t.astimezone(BEIJING)
    return t.strftime("%Y%m%d%H%M%S") + (f"{t.microsecond // 1000:03d}" if millis else "")


def _number(s: str, what: str) -> float:
    if not NUMBER_RE.fullmatch(s):
        raise PacketError("bad_value", f"{what} 的值不是数字：{s[:20]}")
    return float(s)


def parse_segment(segment: str) -> Packet:
    """Parse a data segment whose length and CRC were checked."""
    head, sep, rest = segment.partition("CP=&&")
    if not sep or not rest.endswith("&&"):
        raise PacketError("bad_cp", "数据区 CP=&&…&& 缺失或未闭合")
    cp = rest[:-2]
    fields: dict[str, str] = {}
    for part in head.split(";"):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or key not in ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"):
            raise PacketError("bad_field", f"报文头字段不正确：{part[:30]}")
        if key in fields:
            raise PacketError("bad_field", f"报文头字段重复：{key}")
        fields[key] = value
    for key in ("ST", "CN", "PW", "MN", "Flag"):
        if key not in fields:
            raise PacketError("missing_field", f"报文头缺少 {key}")
    if not CN_RE.fullmatch(fields["CN"]):
        raise PacketError("bad_field", f"命令编码 CN 不正确：{fields['CN'][:10]}")
    if not FLAG_RE.fullmatch(fields["Flag"]):
        raise PacketError("bad_field", f"标志 Flag 不正确：{fields['Flag'][:10]}")
    if not MN_RE.fullmatch(fields["MN"]):
        raise PacketError("bad_field", f"设备唯一标识 MN 不正确：{fields['MN'][:30]}")
    if "QN" in fields and not QN_RE.fullmatch(fields["QN"]):
        raise PacketError("bad_field", f"请求编码 QN 不正确：{fields['QN'][:30]}")
    packet = Packet(
        qn=fields.get("QN"),
        st=fields["ST"],
        cn=int(fields["CN"]),
        pw=fields["PW"],
        mn=fields["MN"],
        flag=int(fields["Flag"]),
        data_time=None,
        raw=segment,
    )
    if packet.cn not in DATA_CNS:
        return packet  # not data: the caller decides (answered or ignored, nothing stored)
    for group in cp.split(";"):
        if not group:
            continue
        for item in group.split(","):
            key, eq, value = item.partition("=")
            if not eq:
                raise PacketError("bad_field", f"数据项不正确：{item[:30]}")
            if key == "DataTime":
                packet.data_time = parse_time(value)
                continue
            code, dash, suffix = key.partition("-")
            if not dash or suffix not in SUFFIXES or not CODE_RE.match(code):
                raise PacketError("bad_field", f"数据项不正确：{item[:30]}")
            slot = SUFFIXES[suffix]
            entry = packet.values.setdefault(code, {})
            if slot in entry:
                raise PacketError("bad_field", f"数据项重复：{key}")
            if slot == "flag":
                if value not in FLAGS:
                    raise PacketError("bad_flag", f"数据标记不正确：{key}={value[:5]}")
                entry[slot] = value
            else:
                entry[slot] = _number(value, key)
    if packet.data_time is None:
        raise PacketError("missing_field", "数据区缺少 DataTime")
    if not packet.values:
        raise PacketError("missing_field", "数据区没有监测因子")
    for code, entry in packet.values.items():
        if "value" not in entry and "cou" not in entry:
            raise PacketError("missing_field", f"监测因子 {code} 没有数值")
    return packet


class Framer:
    """Cuts a TCP byte stream into packets: ``feed(bytes)`` yields ``(segment or None, reason, message, raw)`` —
    a good segment (length and CRC right) or a refused piece with its reason. Split packets wait for their rest;
    several in one read come out one by one; garbage before a ``##`` is refused and skipped."""

    def __init__(self, max_buffer: int = 64 * 1024):
        self.buf = bytearray()
        self.max_buffer = max_buffer

    def feed(self, data: bytes):
        self.buf += data
        buf = self.buf
        while buf:
            start = buf.find(b"##")
            if start != 0:
                if start < 0:
                    if len(buf) > self.max_buffer or buf.endswith(b"\n"):
                        yield None, "no_header", "报文不以 ## 开头", bytes(buf[:200])
                        del buf[:]
                    return
                yield None, "no_header", "报文不以 ## 开头", bytes(buf[:start][:200])
                del buf[:start]
                continue
            if len(buf) < 6:
                return
            digits = bytes(buf[2:6])
            if not digits.isdigit():
                yield None, "bad_length", f"数据段长度不是 4 位数字：{digits!r}", bytes(buf[:200])
                del buf[:2]
                continue
            n = int(digits)
            total = 6 + n + 6
            if len(buf) < total:
                nxt = buf.find(b"##", 2)
                if nxt > 0 and buf.find(b"\r\n", 0, nxt) >= 0:  # a shorter packet than announced, then another
                    yield None, "bad_length", "数据段长度与报文不符", bytes(buf[:nxt][:200])
                    del buf[:nxt]
                    continue
                if len(buf) > self.max_buffer:
                    yield None, "bad_length", "报文超长", bytes(buf[:200])
                    del buf[:]
                return
            raw = bytes(buf[:total])
            if raw[-2:] != b"\r\n":
                end = buf.find(b"\r\n", 6)
                cut = end + 2 if end >= 0 else total
                yield None, "bad_length", "数据段长度与报文不符（结尾不是 CRLF）", bytes(buf[:cut][:200])
                del buf[:cut]
                continue
            del buf[:total]
            segment, crc = raw[6 : 6 + n], raw[6 + n : 6 + n + 4]
            try:
                given = int(crc, 16)
            except ValueError:
                yield None, "bad_crc", f"CRC 不是 4 位十六进制：{crc!r}", raw[:200]
                continue
            if given != crc16(segment):
                yield (
                    None,
                    "bad_crc",
                    f"CRC 校验失败（报文 {crc.decode('ascii', 'replace')}，计算 {crc16(segment):04X}）",
                    raw[:200],
                )
                continue
            try:
                text = segment.decode("utf-8")
            except UnicodeDecodeError:
                yield None, "bad_encoding", "数据段不是 UTF-8/ASCII 文本", raw[:200]
                continue
            yield text, "", "", raw


def data_packet(
    mn: str,
    pw: str,
    cn: int,
    data_time: datetime,
    values: dict[str, dict[str, object]],
    qn: datetime | None = None,
    st: str = "32",
    reply: bool = True,
) -> bytes:
    """A framed data packet (real-time values as ``-Rtd``, others as ``-Avg``/``-Min``/``-Max``/``-Cou``)."""
    names = {"value": "Rtd" if cn == 2011 else "Avg", "low": "Min", "high": "Max", "cou": "Cou", "flag": "Flag"}
    groups = []
    for code, entry in values.items():
        items = []
        for slot, v in entry.items():
            items.append(f"{code}-{names[slot]}={v if slot == 'flag' else _fmt(v)}")
        groups.append(",".join(items))
    qn_s = format_time(qn or datetime.now(BEIJING), millis=True)
    cp = ";".join([f"DataTime={format_time(data_time)}", *groups])
    flag = 4 | (REPLY_FLAG if reply else 0)  # version bits 000001 (HJ 212-2017), D=0, A as asked
    return frame(f"QN={qn_s};ST={st};CN={cn};PW={pw};MN={mn};Flag={flag};CP=&&{cp}&&")


def _fmt(v: object) -> str:
    return f"{float(v):.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def response(packet: Packet) -> bytes:
    """The data response (CN 9014, ST 91) to a packet that asked for one, echoing its QN."""
    return frame(f"QN={packet.qn or ''};ST=91;CN={DATA_RESPONSE_CN};PW={packet.pw};MN={packet.mn};Flag=4;CP=&&&&")
