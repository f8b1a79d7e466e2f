"""The batched CSG2D renderer: trees -> anti-aliased coverage images [B, 1, 128, 128] on CPU or GPU.

Semantics (DESIGN.md): 128x128 pixels, pixel (c, r) has its centre at (c + 0.5, r + 0.5), y down, one grid
unit is 8 px. Coverage of a pixel is ``clamp(0.5 - sd, 0, 1)`` where ``sd`` is the tree's signed distance
at the pixel centre (plugins/csg2d/program.py explains how trees combine, distance.py the primitives).

Rendering is coarse to fine. The whole batch is first evaluated at the centres of 8x8-pixel tiles. Every
node's distance is 1-Lipschitz, so where a node's tile-centre distance exceeds the tile's centre-to-pixel
radius plus ``band`` in magnitude, the node is beyond +-band over the whole tile ("far"). Every combine
(min, max) commutes with clamping to [-band, band], so far values may be replaced by any value beyond the
band on the same side. Tiles where the root is far are filled with +-band directly; in the other ("edge")
tiles only the near nodes are evaluated per pixel. Coverage needs ``band`` = 0.5 (the anti-aliasing
ramp); sketches use a wider band. ``tiled=False`` evaluates every node at every pixel; both give
bit-identical results.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch

from engine.tree import Node
from plugins.csg2d.distance import grid_distances
from plugins.csg2d.program import MIN, Program, TreeCode, assemble, compile_tree

SIZE = 128  # image side in pixels
TILE = 8  # tile side in pixels
TILES = SIZE // TILE  # tiles per side


def coverage(sd: torch.Tensor) -> torch.Tensor:
    """Anti-aliased coverage ``clamp(0.5 - sd, 0, 1)`` (in place on ``sd``)."""
    return torch.sub(0.5, sd, out=sd).clamp_(0.0, 1.0)


def spans(starts: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Enumerate index ranges: for owners with ``starts`` [G] and ``counts`` [G], the pairs (owner, index) [T]."""
    owners = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)  # [T]
    within = torch.arange(len(owners), device=counts.device) - (torch.cumsum(counts, 0) - counts)[owners]
    return owners, starts[owners] + within


def _by_key(keys: torch.Tensor, buckets: int) -> tuple[torch.Tensor, list[int]]:
    """A stable order grouping equal keys, and the size of each of the ``buckets`` groups."""
    order = torch.argsort(keys, stable=True)
    return order, torch.bincount(keys, minlength=buckets).tolist()


def primitive_distances(program: Program, pair_group: torch.Tensor, pair_prim: torch.Tensor, x0: torch.Tensor,
                        y0: torch.Tensor, spacing: float, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances of (group, primitive) pairs over their groups' grids.

    Returns (values [A, n * n], order [A]): row i of values belongs to pair ``order[i]`` (pairs are grouped by
    primitive kind and sign so that each kind is computed with one set of tensor operations).
    """
    order, sizes = _by_key(program.prim_key[pair_prim], 6)
    values = torch.empty(len(order), n * n, device=program.prim_params.device)
    groups, prims = pair_group[order], pair_prim[order]
    start = 0
    for key, size in enumerate(sizes):
        if size:
            part = slice(start, start + size)
            sign = -1.0 if key % 2 else 1.0
            chosen_groups = groups[part]
            sd = grid_distances(key // 2, sign, program.prim_params.index_select(0, prims[part]),
                                x0.index_select(0, chosen_groups), y0.index_select(0, chosen_groups), spacing, n)
            values[part] = sd.view(size, n * n)
        start += size
    return values, order


def run_combines(program: Program, flat: torch.Tensor, pair_group: torch.Tensor, pair_comb: torch.Tensor) -> None:
    """Evaluate the (group, combine) pairs in place on ``flat`` [G * rows, Q], children before parents."""
    order, sizes = _by_key(program.comb_step[pair_comb], len(program.step_ops))
    base = pair_group[order] * program.rows
    dst = base + program.comb_dst[pair_comb[order]]
    left = base + program.comb_left[pair_comb[order]]
    right = base + program.comb_right[pair_comb[order]]
    start = 0
    for op, size in zip(program.step_ops, sizes):
        if size:
            a = flat.index_select(0, left[start:start + size])  # [size, Q]
            b = flat.index_select(0, right[start:start + size])
            flat.index_copy_(0, dst[start:start + size], torch.minimum(a, b, out=a) if op == MIN
                             else torch.maximum(a, b, out=a))
        start += size


def resolve_combines(program: Program, prim_values: torch.Tensor, source: torch.Tensor, pair_group: torch.Tensor,
                     pair_comb: torch.Tensor, left_near: torch.Tensor, right_near: torch.Tensor) -> torch.Tensor:
    """Evaluate the near combines of edge tiles, children before parents.

    ``source`` [G * rows] maps each (group, node) to its row in the returned values [A + R, Q] (primitive rows
    first, then one row per computed combine) and is completed in place. A near node always has a near
    child; if its other child is far, the node's value over the tile equals the near child's up to values
    beyond +-0.5 (a far child is a constant beyond the margin on the side that leaves min/max unchanged,
    otherwise the node would be far itself), so it becomes an alias of that child: only nodes with two
    near children are computed.
    """
    rows = program.rows
    order, sizes = _by_key(program.comb_step[pair_comb], len(program.step_ops))
    base, comb = pair_group[order] * rows, pair_comb[order]
    dst, left, right = base + program.comb_dst[comb], base + program.comb_left[comb], base + program.comb_right[comb]
    both, only_left = (left_near & right_near)[order], (left_near & ~right_near)[order]
    total = len(prim_values)
    values = torch.empty(total + int(both.sum()), prim_values.shape[1], device=prim_values.device)
    values[:total] = prim_values
    start = 0
    for op, size in zip(program.step_ops, sizes):
        part = slice(start, start + size)
        start += size
        if not size:
            continue
        source[dst[part]] = torch.where(only_left[part], source[left[part]], source[right[part]])
        real = torch.nonzero(both[part]).flatten()
        if len(real) == 0:
            continue
        a = values.index_select(0, source[left[part][real]])  # [R, Q]
        b = values.index_select(0, source[right[part][real]])
        out = values[total:total + len(real)]
        torch.minimum(a, b, out=out) if op == MIN else torch.maximum(a, b, out=out)
        source[dst[part][real]] = torch.arange(total, total + len(real), device=values.device)
        total += len(real)
    return values


def evaluate_grid(program: Program, spacing: float, n: int, origin: float) -> torch.Tensor:
    """Every node's distance over one n x n grid per image: [B, rows, n * n]."""
    device = program.prim_params.device
    values = torch.zeros(program.images, program.rows, n * n, device=device)
    flat = values.view(-1, n * n)
    origins = torch.full((program.images,), origin, device=device)
    prims = torch.arange(len(program.prim_row), device=device)
    sd, order = primitive_distances(program, program.prim_image, prims, origins, origins, spacing, n)
    flat.index_copy_(0, program.prim_image[order] * program.rows + program.prim_row[order], sd)
    run_combines(program, flat, program.comb_image, torch.arange(len(program.comb_dst), device=device))
    return values


def roots(program: Program, values: torch.Tensor, group_image: torch.Tensor) -> torch.Tensor:
    """The root row of each group's image: values [G, rows, Q] -> [G, Q]."""
    return values[torch.arange(len(group_image), device=values.device), program.root_row[group_image]]


def field_dense(program: Program, band: float = 0.5) -> torch.Tensor:
    """Signed distances clamped to [-band, band], [B, 1, 128, 128], evaluating every node at every pixel."""
    values = evaluate_grid(program, 1.0, SIZE, 0.5)
    images = torch.arange(program.images, device=values.device)
    return roots(program, values, images).clamp_(-band, band).view(program.images, 1, SIZE, SIZE)


def fill_tiles(tile_values: torch.Tensor) -> torch.Tensor:
    """Images [B, 1, 128, 128] that are constant over each tile, from tile values [B, TILES * TILES]."""
    count = len(tile_values)
    row = tile_values.view(count, TILES, TILES, 1).expand(-1, -1, -1, TILE).reshape(count, TILES, 1, SIZE)
    out = torch.empty(count, 1, SIZE, SIZE, device=tile_values.device)
    out.view(count, TILES, TILE, SIZE).copy_(row.expand(-1, -1, TILE, -1))  # contiguous 128-pixel rows
    return out


def field_tiled(program: Program, band: float = 0.5) -> torch.Tensor:
    """Signed distances clamped to [-band, band], [B, 1, 128, 128], evaluated per pixel only near the boundary.

    See the module docstring; with ``band`` = 0.5 this is all that coverage needs.
    """
    margin = (TILE - 1) / 2 * math.sqrt(2.0) + band + 1e-3  # centre-to-corner-pixel distance + band
    device = program.prim_params.device
    tiles, rows = TILES * TILES, program.rows
    coarse = evaluate_grid(program, float(TILE), TILES, TILE / 2)  # [B, rows, T]: distances at tile centres
    root = roots(program, coarse, torch.arange(program.images, device=device))  # [B, T]
    out = fill_tiles(root.clamp(-band, band))  # exactly +-band away from the edges
    edge_image, edge_tile = torch.nonzero(root.abs() <= margin, as_tuple=True)  # [K] each
    if len(edge_image) == 0:
        return out
    near = (coarse.abs() <= margin).view(-1)  # [B * rows * T]
    tile_base = edge_image * (rows * tiles) + edge_tile  # [K]: index of (image, row 0, tile) in near

    def near_at(group: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        return near.index_select(0, tile_base.index_select(0, group) + row * tiles)

    # primitives near their own boundary in the tile
    group, prim = spans(program.prim_start.index_select(0, edge_image), program.prim_count.index_select(0, edge_image))
    keep = torch.nonzero(near_at(group, program.prim_row.index_select(0, prim))).flatten()
    group, prim = group.index_select(0, keep), prim.index_select(0, keep)
    x0 = (edge_tile % TILES).to(torch.float32) * TILE + 0.5
    y0 = torch.div(edge_tile, TILES, rounding_mode="floor").to(torch.float32) * TILE + 0.5
    prim_values, order = primitive_distances(program, group, prim, x0, y0, 1.0, TILE)  # [A, 64]
    source = torch.full((len(edge_image) * rows,), -1, device=device)  # (edge tile, node) -> row of values
    source[group[order] * rows + program.prim_row[prim[order]]] = torch.arange(len(order), device=device)

    # near combines: with a far child a node equals its other child there (see resolve_combines)
    group, comb = spans(program.comb_start.index_select(0, edge_image), program.comb_count.index_select(0, edge_image))
    keep = torch.nonzero(near_at(group, program.comb_dst.index_select(0, comb))).flatten()
    group, comb = group.index_select(0, keep), comb.index_select(0, keep)
    left_near = near_at(group, program.comb_left.index_select(0, comb))
    right_near = near_at(group, program.comb_right.index_select(0, comb))
    values = resolve_combines(program, prim_values, source, group, comb, left_near, right_near)
    root_rows = torch.arange(len(edge_image), device=device) * rows + program.root_row.index_select(0, edge_image)
    patches = values.index_select(0, source.index_select(0, root_rows)).clamp_(-band, band).view(-1, TILE, TILE)
    out_tiles = out.view(program.images, TILES, TILE, TILES, TILE).permute(0, 1, 3, 2, 4)  # [B, ty, tx, 8, 8]
    out_tiles[edge_image, torch.div(edge_tile, TILES, rounding_mode="floor"), edge_tile % TILES] = patches
    return out


class Renderer:
    """Executor for CSG2D: ``execute(trees) -> float32 [B, 1, 128, 128]`` coverage on ``device``.

    Trees are compiled once each (an LRU cache of ``cache_size`` compiled trees; 0 disables it) and rendered
    in chunks of ``chunk`` images to bound memory. ``tiled=False`` selects the dense per-pixel evaluation.
    """

    def __init__(self, device: str | torch.device = "cpu", chunk: int | None = None, tiled: bool = True,
                 cache_size: int = 65536) -> None:
        self.device = torch.device(device)
        self.chunk = chunk or (256 if self.device.type == "cpu" else 8192)
        self.tiled = tiled
        self.cache_size = cache_size
        self._cache: OrderedDict[Node, TreeCode] = OrderedDict()

    def compile(self, trees: Sequence[Node]) -> Program:
        """Compile a batch of trees into one Program on this renderer's device."""
        return assemble([self._code(tree) for tree in trees], self.device)

    def _code(self, tree: Node) -> TreeCode:
        if self.cache_size <= 0:
            return compile_tree(tree)
        code = self._cache.get(tree)
        if code is None:
            code = self._cache[tree] = compile_tree(tree)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return code

    @torch.no_grad()
    def execute(self, trees: Sequence[Node]) -> torch.Tensor:
        """Render ``trees`` to coverage images [B, 1, 128, 128] (float32, 1 = inside a shape)."""
        if len(trees) == 0:
            return torch.zeros(0, 1, SIZE, SIZE, device=self.device)
        return coverage(self.distances(trees, 0.5))

    @torch.no_grad()
    def distances(self, trees: Sequence[Node], band: float) -> torch.Tensor:
        """Signed distances of ``trees`` at pixel centres clamped to [-band, band]: [B, 1, 128, 128] (px).

        Exact wherever the distance is within the band; elsewhere exactly -band (inside) or +band (outside).
        """
        if len(trees) == 0:
            return torch.zeros(0, 1, SIZE, SIZE, device=self.device)
        field = field_tiled if self.tiled else field_dense
        parts = [field(self.compile(trees[i:i + self.chunk]), band) for i in range(0, len(trees), self.chunk)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)
