"""Thin helpers for calling actlab from Python with NumPy arrays.

The stubs (actlab/v1/actlab_pb2*.py) are generated from proto/ at build time
with Debian's grpc_python_plugin; put the folder that holds them on
PYTHONPATH (the build writes them to build/client/python/gen).
"""

import collections

import grpc
import numpy as np

from actlab.v1 import actlab_pb2
from actlab.v1 import actlab_pb2_grpc

# The server accepts up to 256 MiB by default; gRPC clients stop at 4 MiB
# unless told otherwise.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready",
         "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class _BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call on a channel."""

    def __init__(self, token):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        return _CallDetails(
            details.method,
            details.timeout,
            list(details.metadata or []) + [self._header],
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)


def connect(address, token=None):
    """Returns an actlab stub for HOST:PORT with the message limits raised.

    With `token`, every call carries it as a bearer token, which a server
    started with --auth_tokens requires.
    """
    channel = grpc.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    if token:
        channel = grpc.intercept_channel(channel, _BearerToken(token))
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
