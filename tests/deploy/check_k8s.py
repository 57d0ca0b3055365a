#!/usr/bin/python3
"""Loads every manifest under deploy/k8s/ and checks what the deployment
relies on: valid YAML with apiVersion/kind/metadata.name; a Deployment of at
least two replicas with gRPC readiness and liveness probes on the gRPC port
and resources set; a Service, a PodDisruptionBudget and the Deployment's
pods all matching one set of labels; the database URL from a Secret; bearer
tokens from a mounted Secret with an admin among them; a PostgreSQL
StatefulSet; a Job running `actlab bench` against the Service with a token
the server accepts.

Usage: check_k8s.py REPO_ROOT  (needs python3-yaml)
"""

import sys
from pathlib import Path

import yaml


def fail(message):
    raise SystemExit("deploy/k8s: " + message)


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def secret_value(secrets, ref):
    for secret in secrets:
        if secret["metadata"]["name"] == ref["name"]:
            data = secret.get("stringData", {})
            if ref["key"] in data:
                return data[ref["key"]]
    fail("the Secret %s/%s is not defined" % (ref["name"], ref["key"]))


def secret_file(pod, container, flag, secrets):
    """The content of the Secret-backed file the container's `flag` names."""
    paths = [a[len(flag):] for a in container.get("args", [])
             if a.startswith(flag)]
    if not paths:
        fail("the server is not given %s" % flag)
    path = paths[0]
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        volume = next(v for v in pod.get("volumes", [])
                      if v["name"] == mount["name"])
        if "secret" not in volume:
            fail("%s is not mounted from a Secret" % path)
        name = path[len(prefix):]
        key = next((i["key"] for i in volume["secret"].get("items", [])
                    if i["path"] == name), name)
        return secret_value(secrets,
                            {"name": volume["secret"]["secretName"], "key": key})
    fail("no volume is mounted at %s" % path)


def main():
    root = Path(sys.argv[1]) / "deploy" / "k8s"
    docs = []
    for path in sorted(root.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            for key in ("apiVersion", "kind", "metadata"):
                if key not in doc:
                    fail("%s: a document has no %s" % (path.name, key))
            if not doc["metadata"].get("name"):
                fail("%s: a %s has no name" % (path.name, doc["kind"]))
            docs.append(doc)
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "Secret",
                 "ConfigMap", "StatefulSet", "Job"):
        if kind not in by_kind:
            fail("no %s" % kind)

    deployment = next(d for d in by_kind["Deployment"]
                      if d["metadata"]["name"] == "actlab-server")
    spec = deployment["spec"]
    if spec.get("replicas", 1) < 2:
        fail("the Deployment runs fewer than 2 replicas")
    pod_labels = spec["template"]["metadata"]["labels"]
    if not matches(spec["selector"]["matchLabels"], pod_labels):
        fail("the Deployment's selector does not match its pods")
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    grpc_ports = [p["containerPort"] for p in container.get("ports", [])
                  if p.get("name") == "grpc"]
    if grpc_ports != [50051]:
        fail("the container does not name gRPC port 50051")
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        if not grpc or grpc.get("port") != 50051:
            fail("%s is not a grpc probe on port 50051" % probe)
    if container["readinessProbe"]["grpc"].get("service") != "actlab.v1.Actlab":
        fail("readiness does not ask for the actlab.v1.Actlab service, whose "
             "status the drain flips")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in resources.get(part, {}):
                fail("resources.%s.%s is not set" % (part, what))
    if pod.get("terminationGracePeriodSeconds", 30) <= 20:
        fail("terminationGracePeriodSeconds does not exceed --grace_seconds")
    if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
        fail("the pod may run as root")
    store_env = [e for e in container.get("env", [])
                 if e["name"] == "ACTLAB_STORE"]
    if not store_env or "secretKeyRef" not in store_env[0].get("valueFrom", {}):
        fail("the database URL does not come from a Secret")
    secret = store_env[0]["valueFrom"]["secretKeyRef"]
    if not any(s["metadata"]["name"] == secret["name"] and
               secret["key"] in s.get("stringData", s.get("data", {}))
               for s in by_kind["Secret"]):
        fail("the Secret %s/%s is not defined" % (secret["name"], secret["key"]))
    if "--store=$(ACTLAB_STORE)" not in container.get("args", []):
        fail("the server is not given --store=$(ACTLAB_STORE)")
    tokens = secret_file(pod, container, "--auth_tokens=", by_kind["Secret"])
    token_lines = [line.split() for line in tokens.splitlines()
                   if line.strip() and not line.startswith("#")]
    if not any(fields[2:] == ["admin"] for fields in token_lines):
        fail("the tokens file has no admin principal")

    service = next((s for s in by_kind["Service"]
                    if matches(s["spec"].get("selector"), pod_labels)), None)
    if service is None:
        fail("no Service selects the Deployment's pods")
    if not any(p.get("port") == 50051 for p in service["spec"]["ports"]):
        fail("the Service does not expose 50051")
    pdb = by_kind["PodDisruptionBudget"][0]
    if not matches(pdb["spec"]["selector"]["matchLabels"], pod_labels):
        fail("the PodDisruptionBudget does not select the Deployment's pods")
    if not ("minAvailable" in pdb["spec"] or "maxUnavailable" in pdb["spec"]):
        fail("the PodDisruptionBudget sets no budget")

    statefulset = by_kind["StatefulSet"][0]
    image = statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
    if not image.startswith("postgres:"):
        fail("the StatefulSet does not run PostgreSQL")

    job = by_kind["Job"][0]
    command = job["spec"]["template"]["spec"]["containers"][0].get("command", [])
    if not command or command[0] != "actlab" or "bench" not in command:
        fail("the Job does not run `actlab bench`")
    target = "--server=%s:50051" % service["metadata"]["name"]
    if target not in command:
        fail("the Job does not bench the Service (%s)" % target)
    bench_env = {e["name"]: e for e in
                 job["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    token_ref = bench_env.get("ACTLAB_TOKEN", {}).get("valueFrom", {}).get(
        "secretKeyRef")
    if not token_ref:
        fail("the Job sends no ACTLAB_TOKEN from a Secret")
    bench_token = secret_value(by_kind["Secret"], token_ref)
    if not any(fields and fields[0] == bench_token for fields in token_lines):
        fail("the Job's token is not in the server's tokens file")
    print("deploy/k8s: ok (%d documents)" % len(docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
