#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (checked in; rerun after a wire
format change). Protobuf messages are encoded by hand so the script needs
neither protoc nor generated Python code."""

import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
FLOAT32, BFLOAT16 = 1, 2
LAYER, CHANNEL = 1, 2


def varint(n):
    n &= (1 << 64) - 1  # negative int64 values take ten bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_double(number, value):
    return varint(number << 3 | 1) + struct.pack("<d", value)


def floats(values):
    return struct.pack("<%df" % len(values), *values)


def tensor(shape, values, dtype=FLOAT32, data=None):
    packed = b"".join(varint(d) for d in shape)
    out = field_varint(1, dtype)
    if shape:
        out += field_bytes(2, packed)
    return out + field_bytes(3, floats(values) if data is None else data)


def pwlu(intervals, units, granularity=LAYER, left=-3.0, right=3.0):
    n = intervals + 1
    out = field_varint(1, intervals) + field_varint(2, granularity)
    out += field_bytes(3, floats([left] * units))
    out += field_bytes(4, floats([right] * units))
    out += field_bytes(5, floats([max(0.0, left + (right - left) * i /
                                      intervals) for i in range(n)] * units))
    out += field_bytes(6, floats([0.0] * units))
    out += field_bytes(7, floats([1.0] * units))
    return out


def request(activation, x_shape, x, grad=None, params=None, axis=None,
            slope=None, pwlu_params=None, unit=None):
    out = field_bytes(1, activation.encode())
    for name, value in (params or {}).items():
        out += field_bytes(2, field_bytes(1, name.encode()) +
                           field_double(2, value))
    out += field_bytes(3, tensor(x_shape, x))
    if grad is not None:
        out += field_bytes(4, tensor(x_shape, grad))
    if axis is not None:
        out += field_varint(5, axis)
    if slope is not None:
        out += field_bytes(6, tensor([len(slope)], slope))
    if pwlu_params is not None:
        out += field_bytes(7, pwlu_params)
    if unit is not None:
        out += field_bytes(8, field_bytes(1, b"fuzz") +
                           field_bytes(2, unit.encode()))
    return out


def npy(header, data, version=1):
    header = header.encode()
    pad = 64 - (10 + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    length = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header + data


def write(target, name, payload):
    assert len(payload) < 4096, (target, name)
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(payload)


def main():
    x = [-2.5, -1.0, -0.25, 0.0, 0.5, 1.0, 2.0, 4.0]
    dict_ = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }"
    write("npy", "vector", npy(dict_ % "(8,)", floats(x)))
    write("npy", "matrix", npy(dict_ % "(2, 4)", floats(x)))
    write("npy", "scalar", npy(dict_ % "()", floats([1.5])))
    write("npy", "empty", npy(dict_ % "(0, 3)", b""))
    write("npy", "v2_spaced",
          npy('{"shape":(2,2,),"fortran_order":False,"descr":"<f4"}',
              floats(x[:4]), version=2))
    write("npy", "v3", npy(dict_ % "(1,)", floats([7.0]), version=3))
    write("npy", "float64", npy(dict_.replace("<f4", "<f8") % "(1,)",
                                struct.pack("<d", 1.0)))
    write("npy", "fortran",
          npy(dict_.replace("False", "True") % "(2, 2)", floats(x[:4])))
    write("npy", "short_data", npy(dict_ % "(3,)", floats(x[:2])))
    write("npy", "huge_shape",
          npy(dict_ % "(4611686018427387904, 4)", b""))

    write("tensor", "vector", tensor([8], x))
    write("tensor", "nchw", tensor([1, 2, 2, 2], x))
    write("tensor", "scalar", tensor([], [3.0]))
    write("tensor", "empty", tensor([0, 5], []))
    write("tensor", "negative_dim", tensor([-1, 8], x))
    write("tensor", "overflow", tensor([1 << 62, 1 << 62], []))
    write("tensor", "short_data", tensor([4], x[:3]))
    write("tensor", "bfloat16", tensor([4], [], dtype=BFLOAT16,
                                       data=b"\x80\x3f" * 4))

    grad = [1.0] * len(x)
    write("evaluate", "relu", request("relu", [8], x))
    write("evaluate", "gelu_backward", request("gelu", [2, 4], x, grad))
    write("evaluate", "leaky_relu_params",
          request("leaky_relu", [8], x, grad, params={"alpha": 0.2}))
    write("evaluate", "softplus_bad_param",
          request("softplus", [8], x, params={"beta": -1.0}))
    write("evaluate", "prelu_nchw",
          request("prelu", [1, 2, 2, 2], x, grad, slope=[0.1, 0.3]))
    write("evaluate", "prelu_nhwc",
          request("prelu", [1, 2, 2, 2], x, grad, axis=-1, slope=[0.1, 0.3]))
    write("evaluate", "pwlu_layer",
          request("pwlu", [8], x, grad, pwlu_params=pwlu(4, 1)))
    write("evaluate", "pwlu_channel",
          request("pwlu", [2, 4], x, grad,
                  pwlu_params=pwlu(2, 4, granularity=CHANNEL)))
    write("evaluate", "pwlu_bad_bounds",
          request("pwlu", [8], x, pwlu_params=pwlu(4, 1, left=1.0,
                                                   right=-1.0)))
    write("evaluate", "unit_layer",
          request("pwlu", [8], x, grad, unit="layer"))
    write("evaluate", "unit_channel",
          request("pwlu", [2, 4, 1], x, grad, unit="channel"))
    write("evaluate", "unknown", request("nope", [8], x))


if __name__ == "__main__":
    main()
