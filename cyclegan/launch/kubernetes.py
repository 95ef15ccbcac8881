"""A study as a Kubernetes Job in the work-queue pattern: ``parallelism`` pods and no
``completions``; each pod takes cells from the study's queue until none is left, and only then
exits 0 (the Job is complete once a pod has succeeded and all have ended).

In a pod, a worker trains ``cells_per_process`` cells and exits 3 while cells are left (a fresh
process bounds what a long one accumulates: docs/scaling.md); the container's shell starts
the next one. The shell passes SIGTERM (pod deletion, eviction, node drain) on to the worker, which
checkpoints its cell and puts it back in the queue within ``terminationGracePeriodSeconds``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from cyclegan.launch.worker_args import STORE_VARIABLES, WorkerArgs, fill

# The container's shell: PID 1 in the container, which gets the SIGTERM. A shell does not pass a
# signal on to a child by itself, hence the trap. A `wait` that the trap cut short returns 128+15,
# not the worker's status, so the shell waits again after every signal: for a worker still
# checkpointing, until it ends; for one that already ended, `wait` gives its kept status at once
# (127 only if the shell had already collected it, and then the status before stands). Polling
# with `kill -0` instead lost the status when the worker ended first (the pod exited 143, not 4).
# Once stopping, it starts no fresh worker.
LOOP = """\
worker="" stopping="" signals=0
trap 'stopping=1; signals=$((signals + 1)); kill -TERM "$worker" 2>/dev/null' TERM
while :; do
  {{command}} {{worker}} &
  worker=$!
  [ -z "$stopping" ] || kill -TERM "$worker"
  status=""
  while :; do
    seen=$signals
    wait "$worker"; code=$?
    if [ "$code" -eq 127 ] && [ -n "$status" ]; then break; fi
    status=$code
    [ "$signals" -ne "$seen" ] || break
  done
  if [ "$status" -ne 3 ] || [ -n "$stopping" ]; then exit "$status"; fi
done
"""

TEMPLATE = """\
# cyclegan study {{study}}: {{cells}} cells, {{parallel}} pods taking cells from the study's queue.
# Written by `cyclegan launch kubernetes`; apply it with `kubectl apply -f THIS_FILE`. It expects
# (docs/cluster.md): the Secret {{secret_comment}} with the keys CYCLEGAN_STORAGE (the PostgreSQL
# queue) and MLFLOW_TRACKING_URI (the MLflow server); the ReadWriteMany claim {{claim_comment}} holding
# the project folder (the study file, its data and weights at the same relative paths, the runs
# folder), mounted at {{mount_comment}} as the working directory; the image {{image_comment}} with cyclegan installed.
apiVersion: batch/v1
kind: Job
metadata:
  name: {{name}}
  labels:
    app.kubernetes.io/name: cyclegan
    cyclegan/study: {{label}}
spec:
  parallelism: {{parallel}}
  backoffLimit: {{backoff}}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: cyclegan
        cyclegan/study: {{label}}
    spec:
      restartPolicy: OnFailure
      terminationGracePeriodSeconds: {{stop_seconds}}
      containers:
        - name: worker
          image: {{image}}
          workingDir: {{mount}}
          command: ["/bin/sh", "-c"]
          args:
            - |
{{loop}}
          env:
            - name: CYCLEGAN_STORAGE
              valueFrom:
                secretKeyRef:
                  name: {{secret}}
                  key: CYCLEGAN_STORAGE
            - name: MLFLOW_TRACKING_URI
              valueFrom:
                secretKeyRef:
                  name: {{secret}}
                  key: MLFLOW_TRACKING_URI
{{environment}}{{resources}}          volumeMounts:
            - name: work
              mountPath: {{mount}}
      volumes:
        - name: work
          persistentVolumeClaim:
            claimName: {{claim}}
"""


@dataclass(frozen=True)
class KubernetesOptions:
    image: str
    parallelism: int
    claim: str = "cyclegan-work"
    mount: str = "/work"
    secret: str = "cyclegan-stores"
    gpus: int = 1
    stop_seconds: int = 300
    """terminationGracePeriodSeconds: time for the next step and one checkpoint after SIGTERM."""
    environment: tuple[tuple[str, str], ...] = ()
    """(name, value) pairs set in the pods as they are, e.g. the launching machine's
    ``CYCLEGAN_IMAGENET_WEIGHTS``: a weights file's fingerprint is part of a cell's identity, so a pod
    without the variable would compute other cell ids (or not start offline). Never a store URL:
    those come from the Secret only."""


def dns_name(study_name: str) -> str:
    """A DNS-1123 name for the Job (lower case, digits, '-'; at most 63 characters)."""
    return ("cyclegan-" + re.sub(r"[^a-z0-9-]+", "-", study_name.lower()).strip("-"))[:63].rstrip("-")


def label_value(study_name: str) -> str:
    """A label value: letters, digits, '-', '_', '.', at most 63 characters, alphanumeric at both ends."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", study_name)[:63].strip("._-") or "study"


def manifest(*, study_name: str, cells: int, worker: WorkerArgs, command: str, options: KubernetesOptions) -> str:
    """The Job manifest (YAML). Every value that is not a number goes in as a JSON string, which
    YAML reads as the same string whatever it holds."""
    if cells < 1:
        raise ValueError(f"study {study_name}: no cells to launch")
    loop = fill(LOOP, command=command, worker=worker.shell())
    for name, _ in options.environment:
        if name in STORE_VARIABLES or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            # a store URL in the manifest would put its password in every `kubectl get job -o yaml`
            raise ValueError(f"{name!r}: not an environment variable a manifest may carry by value")
    environment = "".join(f"            - name: {name}\n              value: {json.dumps(value)}\n" for name, value in options.environment)
    resources = ""
    if options.gpus:
        resources = f"          resources:\n            limits:\n              nvidia.com/gpu: {options.gpus}\n"
    return fill(TEMPLATE, study=study_name, cells=cells, parallel=min(options.parallelism, cells), name=json.dumps(dns_name(study_name)),
                label=json.dumps(label_value(study_name)), backoff=max(6, cells), stop_seconds=options.stop_seconds,
                image=json.dumps(options.image), mount=json.dumps(options.mount), secret=json.dumps(options.secret),
                claim=json.dumps(options.claim), environment=environment, resources=resources,
                loop="".join(f"              {line}\n" for line in loop.splitlines()).rstrip("\n"),
                secret_comment=_comment(options.secret), claim_comment=_comment(options.claim),
                mount_comment=_comment(options.mount), image_comment=_comment(options.image))


def _comment(text: str) -> str:
    return " ".join(text.split())  # a line break in a value must not end the comment line


__all__ = ["KubernetesOptions", "dns_name", "label_value", "manifest"]
