#!/usr/bin/python3
"""Checks the Dockerfile against deploy/install-deps.sh.

The image cannot be built here (no Docker engine), so this keeps it in step
with the install script: the runtime stage is debian:bookworm-slim, installs
every RUNTIME_PACKAGES entry (by running install-deps.sh --runtime, or by
naming the package), runs as a non-root user, exposes the gRPC port, checks
health with `actlab health` and keeps its data on a volume.

Usage: check_dockerfile.py REPO_ROOT
"""

import re
import shlex
import sys
from pathlib import Path


def bash_array(script, name):
    match = re.search(r"^%s=\((.*?)\)" % name, script, re.M | re.S)
    if not match:
        raise SystemExit("install-deps.sh has no %s=( ... )" % name)
    body = "\n".join(line.split("#", 1)[0] for line in match.group(1).splitlines())
    return shlex.split(body)


def stages(dockerfile):
    """[(from_line, [instructions])], continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append((line, []))
        elif result:
            result[-1][1].append(line)
    return result


def main():
    root = Path(sys.argv[1])
    runtime = bash_array((root / "deploy/install-deps.sh").read_text(),
                         "RUNTIME_PACKAGES")
    all_stages = stages((root / "Dockerfile").read_text())
    errors = []
    if len(all_stages) < 2:
        errors.append("expected a build stage and a runtime stage")
    from_line, body = all_stages[-1]
    if not re.match(r"FROM\s+debian:bookworm-slim(\s|$)", from_line, re.I):
        errors.append("final stage is %r, not debian:bookworm-slim" % from_line)
    if not re.match(r"FROM\s+\S+\s+AS\s+\S+", all_stages[0][0], re.I):
        errors.append("the build stage has no name")
    elif "install-deps.sh" not in " ".join(all_stages[0][1]):
        errors.append("the build stage does not run install-deps.sh")

    def instructions(keyword):
        return [l[len(keyword):].strip() for l in body
                if l.upper().startswith(keyword + " ")]

    runs = " ".join(instructions("RUN"))
    via_script = re.search(r"install-deps\.sh\s+--runtime", runs) is not None
    for package in runtime:
        if not via_script and not re.search(r"(^|\s)%s(\s|$)" % re.escape(package), runs):
            errors.append("runtime package %s is not installed by the runtime "
                          "stage" % package)
    users = instructions("USER")
    if not users or users[-1].split(":")[0] in ("root", "0"):
        errors.append("the runtime stage does not switch to a non-root USER")
    if not any("50051" in e.split() for e in instructions("EXPOSE")):
        errors.append("the runtime stage does not EXPOSE 50051")
    health = " ".join(instructions("HEALTHCHECK"))
    if not re.search(r"actlab\b.*\bhealth\b", health):
        errors.append("HEALTHCHECK does not run `actlab health`")
    if not instructions("VOLUME"):
        errors.append("the runtime stage declares no VOLUME")
    entry = " ".join(instructions("ENTRYPOINT"))
    volume = instructions("VOLUME")[0].strip('[]" ') if instructions("VOLUME") else None
    if volume and "--store=%s/" % volume not in entry:
        errors.append("the default SQLite store is not on the volume %s" % volume)
    for error in errors:
        print("Dockerfile: " + error, file=sys.stderr)
    if errors:
        return 1
    print("Dockerfile: ok (%d runtime packages via %s)" %
          (len(runtime), "install-deps.sh --runtime" if via_script else "names"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
