"""The fake nodes of the development cluster: CPU nodes and GPU nodes, managed by KWOK.

`manifests` builds the Node objects (annotated ``kwok.x-k8s.io/node=fake`` so the
KWOK controller started by `up` takes them over); `up` registers them.
"""

from __future__ import annotations

from typing import Any

#: The annotation KWOK is told to manage (``--manage-nodes-with-annotation-selector``).
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_PRODUCT = "NVIDIA-A100-SXM4-80GB"
GPUS_PER_NODE = 8
#: The taint GPU operators put on GPU nodes: only pods that tolerate it land there.
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}


def _node(name: str, resources: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1],
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
                **labels,
            },
        },
        "spec": {},
        "status": {"capacity": resources, "allocatable": resources},
    }


def manifests(cpu_nodes: int, gpu_nodes: int) -> list[dict[str, Any]]:
    """Node objects: ``kwok-cpu-<i>`` plain nodes and ``kwok-gpu-<i>`` tainted GPU nodes.

    Args:
        cpu_nodes: how many CPU-only nodes (32 CPUs, 256 GiB each).
        gpu_nodes: how many GPU nodes (8 GPUs, 96 CPUs, 1 TiB each).

    Returns:
        The Node objects, CPU nodes first.
    """
    cpu = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    gpu = {"cpu": "96", "memory": "1Ti", "pods": "110", "ephemeral-storage": "4Ti"}
    gpu[GPU_RESOURCE] = str(GPUS_PER_NODE)
    result = [_node(f"kwok-cpu-{i}", cpu, {}) for i in range(cpu_nodes)]
    for i in range(gpu_nodes):
        node = _node(f"kwok-gpu-{i}", gpu, {GPU_PRODUCT_LABEL: GPU_PRODUCT})
        node["spec"]["taints"] = [GPU_TAINT]
        result.append(node)
    return result
