"""The BISINDO GNN paper's model over the hand skeleton, with dense graph layers.

The graph is fixed (the hand's bones), so GAT and GCN are written as batched matrix products
over the adjacency instead of PyTorch Geometric's scatter ops: same maths and parameter names
as `torch_geometric.nn.GATConv` / `GCNConv`, and a plain ONNX export."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from isyarat.models.landmark_models.graph import adjacency
from isyarat.models.landmark_models.masking import masked_mean, split_mask
from isyarat.models.landmark_models.shapes import check_classes, graph_features
from isyarat.models.registry import register

MASKED_SCORE = -1e9


class DenseGATConv(nn.Module):
    """Graph attention (Velickovic et al. 2018) over a dense adjacency `adj[b, i, j]` (j sends to i)."""

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, concat: bool = True):
        super().__init__()
        self.heads, self.out_channels, self.concat = heads, out_channels, concat
        self.lin = nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        self.bias = nn.Parameter(torch.zeros(heads * out_channels if concat else out_channels))
        for weight in (self.lin.weight, self.att_src, self.att_dst):
            nn.init.xavier_uniform_(weight)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        nodes = x.shape[1]
        h = self.lin(x).reshape(-1, nodes, self.heads, self.out_channels)
        score_src = (h * self.att_src).sum(-1).transpose(1, 2)
        score_dst = (h * self.att_dst).sum(-1).transpose(1, 2)
        scores = F.leaky_relu(score_dst.unsqueeze(-1) + score_src.unsqueeze(-2), 0.2)
        scores = scores.masked_fill(adj.unsqueeze(1) < 0.5, MASKED_SCORE)
        out = torch.softmax(scores, dim=-1) @ h.transpose(1, 2)
        out = out.transpose(1, 2)
        if self.concat:
            out = out.reshape(-1, nodes, self.heads * self.out_channels)
        else:
            out = out.mean(dim=2)
        return out + self.bias


class DenseGCNConv(nn.Module):
    """Graph convolution (Kipf & Welling 2017): D^-1/2 A D^-1/2 X W + b, A with self loops."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.xavier_uniform_(self.lin.weight)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        scale = adj.sum(-1).clamp(min=1.0).pow(-0.5)
        norm = scale.unsqueeze(-1) * adj * scale.unsqueeze(-2)
        return norm @ self.lin(x) + self.bias


class MaskedBatchNorm(nn.Module):
    """BatchNorm over node features whose training statistics come from present nodes only."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.training:
            out = torch.zeros_like(x)
            keep = mask > 0.5
            out[keep] = self.norm(x[keep])
            return out
        return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape) * mask.unsqueeze(-1)


class BisindoGNN(nn.Module):
    """GAT(C->128 x4 heads) -> GAT(512->128) -> GCN(128) -> GCN(128), BatchNorm + ReLU + Dropout
    between, mean of the present nodes, Linear."""

    def __init__(
        self, nodes: int, channels: int, num_classes: int, hidden: int, heads: int, dropout: float,
        connect_wrists: bool,
    ):
        super().__init__()
        self.register_buffer("adj", adjacency(nodes, connect_wrists))
        self.register_buffer("eye", torch.eye(nodes))
        self.convs = nn.ModuleList([
            DenseGATConv(channels, hidden, heads=heads),
            DenseGATConv(hidden * heads, hidden, heads=1),
            DenseGCNConv(hidden, hidden),
            DenseGCNConv(hidden, hidden),
        ])
        self.norms = nn.ModuleList([MaskedBatchNorm(hidden * heads), MaskedBatchNorm(hidden), MaskedBatchNorm(hidden)])
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)

    def present_adjacency(self, mask: torch.Tensor) -> torch.Tensor:
        """Bones between present nodes only; an absent node keeps just its self loop."""
        both = mask.unsqueeze(-1) * mask.unsqueeze(-2)
        return torch.maximum(self.adj * both, self.eye)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, mask = split_mask(x)
        adj = self.present_adjacency(mask)
        for i, conv in enumerate(self.convs):
            h = conv(h, adj)
            if i < len(self.norms):
                h = self.dropout(torch.relu(self.norms[i](h, mask)))
        return self.head(masked_mean(h, mask))


@register("bisindo_gnn", track="landmarks")
def build_bisindo_gnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: int = 128,
    heads: int = 4,
    dropout: float = 0.6,
    connect_wrists: bool = True,
) -> nn.Module:
    """BISINDO GNN paper over (21 or 42 nodes, C + mask); about 107k parameters for 21 x (3 + 1)."""
    nodes, channels = graph_features("bisindo_gnn", input_shape)
    check_classes("bisindo_gnn", num_classes)
    return BisindoGNN(nodes, channels, num_classes, hidden, heads, dropout, connect_wrists)
