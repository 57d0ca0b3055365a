"""Thin helpers for calling actlab from Python with NumPy arrays.

The stubs (actlab/v1/actlab_pb2*.py) are generated from proto/ at build time
with Debian's grpc_python_plugin; put the folder that holds them on
PYTHONPATH (the build writes them to build/client/python/gen).
"""

import grpc
import numpy as np

from actlab.v1 import actlab_pb2
from actlab.v1 import actlab_pb2_grpc

# The server accepts up to 256 MiB by default; gRPC clients stop at 4 MiB
# unless told otherwise.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def connect(address):
    """Returns an actlab stub for HOST:PORT with the message limits raised."""
    channel = grpc.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    return actlab_pb2_grpc.ActlabStub(channel)


def to_tensor(array):
    """A float32, C-order, little-endian Tensor holding `array`."""
    data = np.ascontiguousarray(array, dtype="<f4")
    return actlab_pb2.Tensor(
        dtype=actlab_pb2.FLOAT32, shape=list(data.shape), data=data.tobytes()
    )


def from_tensor(tensor):
    """The NumPy array a FLOAT32 Tensor holds."""
    if tensor.dtype != actlab_pb2.FLOAT32:
        raise ValueError(f"unsupported dtype {tensor.dtype}")
    return np.frombuffer(tensor.data, dtype="<f4").reshape(tuple(tensor.shape))
