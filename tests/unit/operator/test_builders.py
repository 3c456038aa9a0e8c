"""The runner Pod builder: what every field of the Pod manifest must be, GPU and CPU."""

from __future__ import annotations

import json

from tests.unit.operator import helpers as h
from transcode_api import contract
from transcode_operator.domain import builders
from transcode_operator.domain import settings as settings_module


def _pod(gpu: bool = False, **spec_fields: object) -> dict[str, object]:
    s = h.spec(**spec_fields)
    return builders.pod(h.JOB, s, builders.PodRequest(2, gpu), h.CFG)


def _env(p: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {e["name"]: e for e in p["spec"]["containers"][0]["env"]}


def test_name_labels_owner_and_frozen_spec() -> None:
    s = h.spec()
    p = builders.pod(h.JOB, s, builders.PodRequest(2, False), h.CFG)
    meta = p["metadata"]
    assert meta["name"] == "trailer-2" and meta["namespace"] == "media"
    assert meta["labels"][contract.JOB_LABEL] == "trailer"
    assert meta["labels"][contract.JOB_UID_LABEL] == "uid-1234"
    assert meta["labels"][contract.ATTEMPT_LABEL] == "2"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "kube-transcoder-operator"
    assert meta["ownerReferences"] == [{
        "apiVersion": "kubetranscoder.io/v1alpha1", "kind": "TranscodeJob", "name": "trailer",
        "uid": "uid-1234", "controller": True, "blockOwnerDeletion": True}]
    assert meta["annotations"][contract.SPEC_HASH_ANNOTATION] == builders.spec_hash(s)
    env = _env(p)
    assert json.loads(env["TRANSCODER_JOB_SPEC"]["value"]) == json.loads(s.to_json())
    assert env["TRANSCODER_ATTEMPT"]["value"] == "2"
    assert env["TRANSCODER_JOB_UID"]["value"] == "uid-1234"
    assert env["TRANSCODER_SCRATCH_DIR"]["value"] == "/scratch"
    assert "TRANSCODER_REDIS_URL" not in env


def test_same_inputs_same_pod() -> None:
    assert _pod() == _pod()


def test_credentials_only_as_secret_key_refs() -> None:
    p = _pod(storage={"credentialsSecretRef": {"name": "s3", "accessKeyIdKey": "id",
                                               "secretAccessKeyKey": "key"}})
    env = _env(p)
    assert env["AWS_ACCESS_KEY_ID"] == {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {
        "secretKeyRef": {"name": "s3", "key": "id"}}}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "s3", "key": "key"}
    assert all("value" not in e for n, e in env.items() if n.startswith("AWS_"))


def test_restricted_security_context_and_scratch() -> None:
    p = _pod()
    spec = p["spec"]
    c = spec["containers"][0]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["volumeMounts"] == [{"name": "scratch", "mountPath": "/scratch"}]
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "20Gi"}}]
    assert spec["restartPolicy"] == "Never"
    assert "activeDeadlineSeconds" not in spec
    assert c["terminationMessagePath"] == "/dev/termination-log"


def test_gpu_pod_asks_for_one_gpu_tolerates_the_taint_and_uses_the_runtime_class() -> None:
    p = _pod(gpu=True)
    c = p["spec"]["containers"][0]
    assert c["resources"]["limits"][contract.GPU_RESOURCE] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        p["spec"]["tolerations"]
    assert p["spec"]["runtimeClassName"] == "nvidia"
    env = _env(p)
    assert env["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "compute,utility,video"
    assert "NVIDIA_VISIBLE_DEVICES" not in env  # the device plugin sets it
    assert env["TRANSCODER_GPU_REQUESTED"]["value"] == "true"
    assert p["metadata"]["labels"][contract.ACCELERATOR_LABEL] == "gpu"


def test_cpu_pod_has_no_gpu_bits() -> None:
    p = _pod()
    c = p["spec"]["containers"][0]
    assert contract.GPU_RESOURCE not in c["resources"].get("limits", {})
    assert "tolerations" not in p["spec"] and "runtimeClassName" not in p["spec"]
    assert "NVIDIA_DRIVER_CAPABILITIES" not in _env(p)
    assert _env(p)["NVIDIA_VISIBLE_DEVICES"]["value"] == "void"  # no GPU, whatever the runtime


def test_cpu_pod_never_gets_the_gpu_runtime_class() -> None:
    cpu = builders.PodRequest(1, False)
    p = builders.pod(h.JOB, h.spec(runtimeClassName="nvidia"), cpu, h.CFG)
    assert "runtimeClassName" not in p["spec"]
    assert _env(p)["NVIDIA_VISIBLE_DEVICES"]["value"] == "void"
    p = builders.pod(h.JOB, h.spec(runtimeClassName="kata"), cpu, h.CFG)
    assert p["spec"]["runtimeClassName"] == "kata"  # a sandbox runtime is the tenant's choice
    gpu = builders.pod(h.JOB, h.spec(runtimeClassName="nvidia"), builders.PodRequest(1, True), h.CFG)
    assert gpu["spec"]["runtimeClassName"] == "nvidia"


def test_network_lists_reach_the_runner_only_when_set() -> None:
    assert not {"TRANSCODER_NETWORK_ALLOW", "TRANSCODER_NETWORK_DENY"} & set(_env(_pod()))
    cfg = settings_module.Settings(runner={"network_allow": ["127.0.0.1", "minio.media.svc"],
                                           "network_deny": ["10.96.0.0/12"]})
    env = _env(builders.pod(h.JOB, h.spec(), builders.PodRequest(1, False), cfg))
    assert json.loads(env[contract.ENV_NETWORK_ALLOW]["value"]) == ["127.0.0.1", "minio.media.svc"]
    assert json.loads(env[contract.ENV_NETWORK_DENY]["value"]) == ["10.96.0.0/12"]


def test_host_network_only_when_set_and_with_cluster_dns() -> None:
    assert not {"hostNetwork", "dnsPolicy"} & set(_pod()["spec"])
    cfg = settings_module.Settings(runner={"host_network": True})
    for gpu in (False, True):
        spec = builders.pod(h.JOB, h.spec(), builders.PodRequest(1, gpu), cfg)["spec"]
        assert (spec["hostNetwork"], spec["dnsPolicy"]) == (True, "ClusterFirstWithHostNet")
        # the host name is the node's there: the runner learns its Pod's name from the API
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        assert env[contract.ENV_POD_NAME]["valueFrom"] == {
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}


def test_runtime_class_setting_empty_means_none_and_spec_wins() -> None:
    cfg = settings_module.Settings(gpu={"runtime_class_name": ""})
    p = builders.pod(h.JOB, h.spec(), builders.PodRequest(1, True), cfg)
    assert "runtimeClassName" not in p["spec"]
    p = builders.pod(h.JOB, h.spec(runtimeClassName="kata"), builders.PodRequest(1, True), h.CFG)
    assert p["spec"]["runtimeClassName"] == "kata"


def test_placement_fields_are_copied() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
    p = _pod(gpu=True, nodeSelector={"pool": "video"}, priorityClassName="batch",
             tolerations=[{"key": "dedicated", "operator": "Equal", "value": "video",
                           "effect": "NoSchedule"}], affinity=affinity,
             resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "6Gi"}})
    spec = p["spec"]
    assert spec["nodeSelector"] == {"pool": "video"}
    assert spec["priorityClassName"] == "batch"
    assert spec["affinity"] == affinity
    assert spec["tolerations"][0] == {"key": "dedicated", "operator": "Equal", "value": "video",
                                      "effect": "NoSchedule"}
    assert len(spec["tolerations"]) == 2
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"},
        "limits": {"memory": "6Gi", "nvidia.com/gpu": "1"}}


def test_default_resources_and_settings_reach_the_pod() -> None:
    cfg = settings_module.Settings(
        runner={"image": "runner:9", "command": ["x", "y"], "args": ["--z"],
                "service_account_name": "transcode-runner", "extra_env": {"LOG": "debug"},
                "scratch_size_limit": "5Gi", "scratch_storage_request": "1Gi",
                "termination_grace_period_seconds": 45},
        redis={"url": "redis://r:6379/0"})
    p = builders.pod(h.JOB, h.spec(), builders.PodRequest(1, False), cfg)
    spec = p["spec"]
    c = spec["containers"][0]
    assert (c["image"], c["command"], c["args"]) == ("runner:9", ["x", "y"], ["--z"])
    assert spec["serviceAccountName"] == "transcode-runner"
    assert spec["terminationGracePeriodSeconds"] == 45
    assert spec["volumes"][0]["emptyDir"] == {"sizeLimit": "5Gi"}
    env = _env(p)
    assert env["TRANSCODER_SCRATCH_LIMIT_BYTES"]["value"] == str(5 << 30)
    assert env["LOG"]["value"] == "debug"
    assert env["TRANSCODER_REDIS_URL"]["value"] == "redis://r:6379/0"
    assert c["resources"] == {"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
                              "limits": {"memory": "8Gi"}}


def test_scratch_defaults_limit_the_volume_and_request_storage() -> None:
    p = _pod()
    c = p["spec"]["containers"][0]
    assert p["spec"]["volumes"][0]["emptyDir"] == {"sizeLimit": "20Gi"}
    assert _env(p)["TRANSCODER_SCRATCH_LIMIT_BYTES"]["value"] == str(20 << 30)
    assert c["resources"]["requests"]["ephemeral-storage"] == "2Gi"
    # the job's own ephemeral-storage wins; no limit: no sizeLimit and no byte count
    own = _pod(resources={"limits": {"ephemeral-storage": "50Gi"}})
    assert "ephemeral-storage" not in own["spec"]["containers"][0]["resources"]["requests"]
    unlimited = settings_module.Settings(runner={"scratch_size_limit": None,
                                                 "scratch_storage_request": None})
    p = builders.pod(h.JOB, h.spec(), builders.PodRequest(1, False), unlimited)
    assert p["spec"]["volumes"][0]["emptyDir"] == {}
    assert "TRANSCODER_SCRATCH_LIMIT_BYTES" not in _env(p)
    assert "ephemeral-storage" not in p["spec"]["containers"][0]["resources"]["requests"]


def test_host_network_runners_keep_cluster_dns() -> None:
    assert "hostNetwork" not in _pod()["spec"]
    cfg = settings_module.Settings(runner={"host_network": True})
    spec = builders.pod(h.JOB, h.spec(), builders.PodRequest(1, False), cfg)["spec"]
    assert (spec["hostNetwork"], spec["dnsPolicy"]) == (True, "ClusterFirstWithHostNet")


def test_a_scratch_size_that_is_no_quantity_is_refused() -> None:
    import pydantic
    import pytest
    with pytest.raises(pydantic.ValidationError, match="not a Kubernetes quantity"):
        settings_module.Settings(runner={"scratch_size_limit": "lots"})


def test_fallback_pod_records_its_reason() -> None:
    p = builders.pod(h.JOB, h.spec(), builders.PodRequest(3, False, "GPUUnschedulable"), h.CFG)
    assert p["metadata"]["annotations"][contract.FALLBACK_ANNOTATION] == "GPUUnschedulable"


def test_long_names_stay_valid() -> None:
    long = "a" * 253
    name = builders.pod_name(long, 12)
    assert len(name) <= 253 and name.endswith("-12")
    assert builders.pod_name(long, 12) != builders.pod_name("a" * 252 + "b", 12)
    assert len(builders.label_value(long)) <= 63
    assert builders.label_value("short") == "short"


def test_spec_hash_ignores_suspend_only() -> None:
    assert builders.spec_hash(h.spec()) == builders.spec_hash(h.spec(suspend=True))
    assert builders.spec_hash(h.spec()) != builders.spec_hash(h.spec(backoffLimit=5))
