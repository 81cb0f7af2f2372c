"""The hand skeleton as a graph: MediaPipe's 21 hand keypoints joined along the bones."""
from __future__ import annotations

import torch

from isyarat.errors import IsyaratError
from isyarat.landmarks.arrays import HAND_BONES, N_HAND_POINTS

HAND_NODES = N_HAND_POINTS


def hand_edges(num_nodes: int, connect_wrists: bool = True) -> list[tuple[int, int]]:
    """Undirected bone edges for one hand (21 nodes) or two (42: left 0-20, right 21-41)."""
    if num_nodes not in (HAND_NODES, 2 * HAND_NODES):
        raise IsyaratError(f"a hand graph has 21 or 42 nodes, got {num_nodes}: use one or two hands")
    edges = list(HAND_BONES)
    if num_nodes == 2 * HAND_NODES:
        edges += [(a + HAND_NODES, b + HAND_NODES) for a, b in HAND_BONES]
        if connect_wrists:
            edges.append((0, HAND_NODES))
    return edges


def adjacency(num_nodes: int, connect_wrists: bool = True) -> torch.Tensor:
    """Symmetric 0/1 adjacency matrix (V, V) of the skeleton, self loops included."""
    adj = torch.eye(num_nodes)
    for a, b in hand_edges(num_nodes, connect_wrists):
        adj[a, b] = adj[b, a] = 1.0
    return adj


def edge_index(num_nodes: int, connect_wrists: bool = True) -> torch.Tensor:
    """The same skeleton as a PyTorch Geometric `edge_index` (2, E), both directions, no self loops."""
    edges = hand_edges(num_nodes, connect_wrists)
    pairs = edges + [(b, a) for a, b in edges]
    return torch.tensor(pairs, dtype=torch.long).t().contiguous()
