"""The GPU status answer in the seed's shape, from node probes in the runner's format."""

from __future__ import annotations

from transcode_operator.adapters import gpustatus

# What `transcode-runner probe --report` stores: GPUCapability.to_json() of the runner.
RUNNER_PROBE = {
    "available": True,
    "deviceCount": 2,
    "nvencSupported": True,
    "driverVersion": "550.54.15",
    "updatedAt": "2025-01-17T10:00:00Z",
    "devices": [
        {"index": 0, "name": "NVIDIA GeForce RTX 3080", "uuid": "GPU-0", "memoryTotalMiB": 10240,
         "memoryFreeMiB": 8192, "memoryUsedMiB": 2048, "utilizationPercent": 25,
         "encoderUtilizationPercent": 10, "encoderSessions": 1, "temperatureC": 60,
         "nvencSupported": True},
        {"index": 1, "name": "NVIDIA GeForce RTX 3080", "uuid": "GPU-1", "memoryTotalMiB": 10240,
         "memoryFreeMiB": 9216, "utilizationPercent": 10, "encoderSessions": 0,
         "nvencSupported": True},
    ],
}
SEED_STYLE_PROBE = {
    "available": True,
    "nvenc_supported": False,
    "devices": [{"index": 0, "name": "NVIDIA H100", "memory_total_mb": 81559,
                 "memory_used_mb": 559, "utilization_percent": 0.0}],
}


def test_seed_fields_from_the_runner_probe():
    node = gpustatus.node_view("gpu-a", RUNNER_PROBE)
    first, second = node["devices"]
    assert first == {
        "node": "gpu-a", "index": 0, "name": "NVIDIA GeForce RTX 3080", "uuid": "GPU-0",
        "memory_total_mb": 10240, "memory_free_mb": 8192, "memory_used_mb": 2048,
        "utilization_percent": 25, "encoder_utilization_percent": 10, "encoder_sessions": 1,
        "temperature_c": 60, "nvenc_supported": True,
    }
    assert second["memory_used_mb"] == 1024  # derived from total - free
    assert node["device_count"] == 2 and node["nvenc_supported"] and node["available"]
    assert node["driver_version"] == "550.54.15"


def test_cluster_view_groups_by_node_and_sums_up():
    view = gpustatus.cluster_view([
        gpustatus.node_view("gpu-b", SEED_STYLE_PROBE),
        gpustatus.node_view("gpu-a", RUNNER_PROBE),
    ])
    assert view["available"] is True
    assert view["nvenc_supported"] is True
    assert view["device_count"] == 3
    assert [node["node"] for node in view["nodes"]] == ["gpu-a", "gpu-b"]
    assert view["nodes"][1]["devices"][0]["memory_free_mb"] == 81000
    assert {"available", "nvenc_supported", "device_count", "devices"} <= set(view)


def test_no_nodes_means_no_gpu():
    assert gpustatus.cluster_view([]) == {
        "available": False, "nvenc_supported": False, "device_count": 0, "devices": [],
        "nodes": [],
    }
    empty = gpustatus.node_view("cpu-node", {"available": False, "devices": [],
                                             "nvmlError": "no driver"})
    assert empty["available"] is False and empty["error"] == "no driver"
