"""The runner image runs as a real container on the local cluster's kubelet nodes.

The kubelet nodes (dev/cluster/kubelet.py) run Pods with containerd + runc from the
images imported out of podman's store. This applies a Pod with the runner image and
a restricted security context and asserts from inside the container that it is not
root, cannot write `/`, has no capabilities, got its env (a secret among it) and
emptyDir; the result comes back through the termination message, and containerd
has no task of it left. A second Pod checks deletion: SIGTERM, grace, SIGKILL, and
its container is gone from the node's containerd.
"""

from __future__ import annotations

import contextlib
import errno
import json
from pathlib import Path

import pytest
from kubernetes import client

from dev.cluster import images as pr
from dev.cluster.fixtures import Kube, wait_for, wait_pod_gone
from tests.e2e.test_images_run import SELF_PRELUDE

INSIDE = SELF_PRELUDE + r"""
result = {"uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()),
          "root": attempt("/probe"), "tmp": attempt("/tmp/probe"),
          "scratch": attempt("/scratch/probe"),
          "capEff": caps["CapEff"].strip(), "noNewPrivs": caps["NoNewPrivs"].strip(),
          "prefix": sys.prefix, "hostname": socket.gethostname(),
          "secret": os.environ.get("KT_SECRET"), "multi": os.environ.get("KT_MULTI"),
          "podName": os.environ.get("POD_NAME"),
          "token": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token")
                   and len(open("/var/run/secrets/kubernetes.io/serviceaccount/token").read()) > 0,
          "os": open("/etc/os-release").read().split("VERSION_CODENAME=")[1].split()[0]}
open("/dev/termination-log", "w").write(json.dumps(result))
"""


@pytest.fixture(scope="module")
def images() -> None:
    pr.ensure_images()


def restricted() -> client.V1SecurityContext:
    return client.V1SecurityContext(
        run_as_non_root=True, run_as_user=65532, run_as_group=65532,
        read_only_root_filesystem=True, allow_privilege_escalation=False,
        capabilities=client.V1Capabilities(drop=["ALL"]))


def pod_phase(core: client.CoreV1Api, ns: str, name: str) -> str | None:
    phase = core.read_namespaced_pod(name, ns).status.phase
    return phase if phase in ("Succeeded", "Failed") else None


def test_pod_runs_as_restricted_container(kube: Kube, images: None) -> None:
    ns = kube.namespace("img")
    core = client.CoreV1Api(kube.api_client)
    core.create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3"),
        string_data={"key": "s3cr3t-value", "pem": "line one\nline two"}))
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="inside"),
        spec=client.V1PodSpec(
            host_network=True,  # no pod network here: no sandbox otherwise
            restart_policy="Never",
            security_context=client.V1PodSecurityContext(fs_group=65532),
            containers=[client.V1Container(
                name="runner", image=pr.RUNNER_IMAGE, command=["python3", "-c", INSIDE],
                security_context=restricted(),
                env=[client.V1EnvVar(name="KT_SECRET", value_from=client.V1EnvVarSource(
                         secret_key_ref=client.V1SecretKeySelector(name="s3", key="key"))),
                     client.V1EnvVar(name="KT_MULTI", value_from=client.V1EnvVarSource(
                         secret_key_ref=client.V1SecretKeySelector(name="s3", key="pem"))),
                     client.V1EnvVar(name="POD_NAME", value_from=client.V1EnvVarSource(
                         field_ref=client.V1ObjectFieldSelector(field_path="metadata.name")))],
                volume_mounts=[client.V1VolumeMount(name="scratch", mount_path="/scratch")])],
            volumes=[client.V1Volume(name="scratch", empty_dir=client.V1EmptyDirVolumeSource())]))
    core.create_namespaced_pod(ns, pod)
    phase = wait_for(lambda: pod_phase(core, ns, "inside"), 180, "Pod inside to finish")
    got = core.read_namespaced_pod("inside", ns).status
    term = got.container_statuses[0].state.terminated
    assert phase == "Succeeded", (term.exit_code, term.message)
    seen = json.loads(term.message)
    assert seen["uid"] == 65532 and seen["uid"] != 0
    assert seen["gid"] == 65532 and 65532 in seen["groups"]
    assert seen["root"] in (errno.EROFS, errno.EACCES), seen
    assert seen["tmp"] == errno.EROFS, seen     # read-only root: no tmpfs on /tmp, as a kubelet
    assert seen["scratch"] == 0, seen           # the emptyDir is writable for the non-root user
    assert int(seen["capEff"], 16) == 0 and seen["noNewPrivs"] == "1"
    assert seen["prefix"] == "/opt/venv" and seen["os"] == "bookworm"  # the image, not the host
    assert seen["podName"] == "inside"
    assert seen["secret"] == "s3cr3t-value" and seen["multi"] == "line one\nline two"
    assert seen["token"] is True
    cid = got.container_statuses[0].container_id
    assert cid.startswith("containerd://"), cid
    node = kube.node(core.read_namespaced_pod("inside", ns).spec.node_name)
    assert cid.removeprefix("containerd://") not in node.ctr("tasks", "ls", "-q").stdout


def cmdlines() -> str:
    out = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return "\n".join(out)


def test_pod_deletion_stops_the_container(kube: Kube, images: None) -> None:
    ns = kube.namespace("img")
    core = client.CoreV1Api(kube.api_client)
    core.create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="s3"), string_data={"key": "never-in-ps-4c1d"}))
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="sleeper"),
        spec=client.V1PodSpec(
            host_network=True,  # no pod network here: no sandbox otherwise
            restart_policy="Never", termination_grace_period_seconds=2,
            containers=[client.V1Container(
                name="runner", image=pr.RUNNER_IMAGE, security_context=restricted(),
                env=[client.V1EnvVar(name="KT_SECRET", value_from=client.V1EnvVarSource(
                    secret_key_ref=client.V1SecretKeySelector(name="s3", key="key")))],
                # PID 1 without a SIGTERM handler ignores SIGTERM: SIGKILL ends it after grace
                command=["python3", "-c", "import time\nwhile True: time.sleep(1)"])]))
    core.create_namespaced_pod(ns, pod)

    def running() -> str:
        got = core.read_namespaced_pod("sleeper", ns)
        cs = (got.status.container_statuses or [None])[0]
        return str(cs.container_id) if cs and cs.state.running else ""

    cid = wait_for(running, 120, "the sleeper container to run").removeprefix("containerd://")
    node = kube.node(core.read_namespaced_pod("sleeper", ns).spec.node_name)
    assert cid in node.ctr("containers", "ls", "-q").stdout.split()
    assert "never-in-ps-4c1d" not in cmdlines()  # env went through the OCI spec, not argv
    core.delete_namespaced_pod("sleeper", ns)

    wait_pod_gone(core, ns, "sleeper", 60, "the deleted Pod to be removed")
    wait_for(lambda: cid not in node.ctr("containers", "ls", "-q").stdout.split(), 90,
             "the kubelet to remove the container from containerd")


def test_run_as_non_root_refuses_a_root_user(kube: Kube, images: None) -> None:
    ns = kube.namespace("img")
    core = client.CoreV1Api(kube.api_client)
    sc = restricted()
    sc.run_as_user = 0
    core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name="root"),
        spec=client.V1PodSpec(
            host_network=True,  # no pod network here: no sandbox otherwise
            restart_policy="Never", containers=[client.V1Container(
            name="runner", image=pr.RUNNER_IMAGE, security_context=sc,
            command=["python3", "-c", "pass"])])))

    def waiting_reason() -> str | None:
        st = core.read_namespaced_pod("root", ns).status
        cs = (st.container_statuses or [None])[0]
        return cs.state.waiting.reason if cs and cs.state.waiting else None

    reason = wait_for(lambda: waiting_reason() == "CreateContainerConfigError", 120,
                      "CreateContainerConfigError for a root user with runAsNonRoot")
    assert reason
    core.delete_namespaced_pod("root", ns)
