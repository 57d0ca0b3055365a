#!/usr/bin/env python3
"""Evaluates an activation, then runs PWLU phases I and II on a session.

    PYTHONPATH=build/client/python/gen:client/python \
        /usr/bin/python3 client/python/example.py --server 127.0.0.1:50051

Prints JSON lines a script can check: the GELU output, the statistics after
phase I, and the learned parameters after the 3-sigma realignment.
"""

import argparse
import json
import os

import numpy as np

from actlab.v1 import actlab_pb2
from actlab_client import connect, from_tensor, to_tensor

TIMEOUT_SECONDS = 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument(
        "--token", default=os.environ.get("ACTLAB_TOKEN"),
        help="bearer token for servers with --auth_tokens "
        "(default: $ACTLAB_TOKEN)")
    args = parser.parse_args()
    stub = connect(args.server, token=args.token)

    # 1. An activation on a NumPy array.
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    reply = stub.Evaluate(
        actlab_pb2.EvaluateRequest(activation="gelu", input=to_tensor(x)),
        timeout=TIMEOUT_SECONDS,
    )
    print(json.dumps({"gelu_x": x.tolist(),
                      "gelu_y": from_tensor(reply.output).tolist()}))

    # 2. Phase I: a channel-wise unit observes batches, channel c ~ N(c, 1+c).
    unit = actlab_pb2.UnitConfig(
        name="block1.act", granularity=actlab_pb2.CHANNEL, channels=3,
        momentum=0.5)
    session = stub.CreateSession(
        actlab_pb2.CreateSessionRequest(display_name="python example",
                                        units=[unit]),
        timeout=TIMEOUT_SECONDS).session
    ref = actlab_pb2.UnitRef(session_id=session.id, unit=unit.name)
    rng = np.random.default_rng(7)
    means, stds = np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    for _ in range(10):
        batch = rng.normal(means, stds, size=(4096, 3)).astype(np.float32)
        stats = stub.Observe(
            actlab_pb2.ObserveRequest(unit=ref, input=to_tensor(batch)),
            timeout=TIMEOUT_SECONDS).stats
    print(json.dumps({"session": session.id, "batches": stats.batches,
                      "mean": list(stats.mean), "std": list(stats.std)}))

    # 3. Phase II: realign to mu +- 3 sigma and read the parameters back.
    stub.FitBoundaries(
        actlab_pb2.FitBoundariesRequest(session_id=session.id, unit=unit.name),
        timeout=TIMEOUT_SECONDS)
    learned = stub.GetUnit(actlab_pb2.GetUnitRequest(unit=ref),
                           timeout=TIMEOUT_SECONDS).unit
    p = learned.parameters
    print(json.dumps({
        "phase": actlab_pb2.Phase.Name(learned.phase),
        "left_bound": list(p.left_bound), "right_bound": list(p.right_bound),
        "values": list(p.values), "left_slope": list(p.left_slope),
        "right_slope": list(p.right_slope)}))


if __name__ == "__main__":
    main()
