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

from treediff.engine.trees.tree import Node
from treediff.plugins.csg2d.distance import grid_distances
from treediff.plugins.csg2d.program import MIN, Program, TreeCode, assemble, compile_tree

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
                        y0: torch.Tensor, spacing: float, n: int, out: torch.Tensor) -> torch.Tensor:
    """Distances of (group, primitive) pairs over their groups' grids, written into ``out`` [A, n * n].

    Returns ``order`` [A]: row i of ``out`` belongs to pair ``order[i]`` (pairs are grouped by primitive kind
    and sign so that each kind is computed with one set of tensor operations).
    """
    order, sizes = _by_key(program.prim_key.index_select(0, pair_prim), 6)
    groups, prims = pair_group.index_select(0, order), pair_prim.index_select(0, order)
    start = 0
    for key, size in enumerate(sizes):
        if size:
            chosen, params = groups[start:start + size], program.prim_params.index_select(0, prims[start:start + size])
            grid_distances(key // 2, -1.0 if key % 2 else 1.0, params, x0.index_select(0, chosen),
                           y0.index_select(0, chosen), spacing, n, out[start:start + size].view(size, n, n))
        start += size
    return order


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


def resolve_combines(program: Program, values: torch.Tensor, filled: int, source: torch.Tensor,
                     pair_group: torch.Tensor, pair_comb: torch.Tensor, left_near: torch.Tensor,
                     right_near: torch.Tensor) -> None:
    """Evaluate the near combines of edge tiles in place, children before parents.

    ``values`` [A + R, Q] holds the primitives' rows (the first ``filled``) and receives one row per computed
    combine; ``source`` [G * rows] maps each (group, node) to its row in ``values`` and is completed in
    place. A near node always has a near child; if its other child is far, the node's value over the tile
    equals the near child's up to values beyond the band (a far child is a constant beyond the band on the
    side that leaves min/max unchanged, otherwise the node would be far itself), so it becomes an alias of
    that child: only nodes with two near children are computed (R of them).
    """
    rows = program.rows
    order, sizes = _by_key(program.comb_step.index_select(0, pair_comb), len(program.step_ops))
    base, comb = pair_group.index_select(0, order) * rows, pair_comb.index_select(0, order)
    dst = base + program.comb_dst.index_select(0, comb)
    left = base + program.comb_left.index_select(0, comb)
    right = base + program.comb_right.index_select(0, comb)
    both, only_left = (left_near & right_near)[order], (left_near & ~right_near)[order]
    start = 0
    for op, size in zip(program.step_ops, sizes):
        part = slice(start, start + size)
        start += size
        if not size:
            continue
        lefts, rights = source.index_select(0, left[part]), source.index_select(0, right[part])
        source[dst[part]] = torch.where(only_left[part], lefts, rights)
        real = torch.nonzero(both[part]).flatten()
        if len(real) == 0:
            continue
        a = values.index_select(0, lefts.index_select(0, real))  # [R, Q]
        b = values.index_select(0, rights.index_select(0, real))
        out = values[filled:filled + len(real)]
        torch.minimum(a, b, out=out) if op == MIN else torch.maximum(a, b, out=out)
        source[dst[part].index_select(0, real)] = torch.arange(filled, filled + len(real), device=values.device)
        filled += len(real)


def evaluate_grid(program: Program, spacing: float, n: int, origin: float) -> torch.Tensor:
    """Every node's distance over one n x n grid per image: [B, rows, n * n]."""
    device = program.prim_params.device
    values = torch.empty(program.images, program.rows, n * n, device=device)  # padding rows are never read
    flat = values.view(-1, n * n)
    origins = torch.full((program.images,), origin, device=device)
    prims = torch.arange(len(program.prim_row), device=device)
    sd = torch.empty(len(prims), n * n, device=device)
    order = primitive_distances(program, program.prim_image, prims, origins, origins, spacing, n, sd)
    flat.index_copy_(0, program.prim_image[order] * program.rows + program.prim_row[order], sd)
    run_combines(program, flat, program.comb_image, torch.arange(len(program.comb_dst), device=device))
    return values


def roots(program: Program, values: torch.Tensor, group_image: torch.Tensor) -> torch.Tensor:
    """The root row of each group's image: values [G, rows, Q] -> [G, Q]."""
    return values[torch.arange(len(group_image), device=values.device), program.root_row[group_image]]


def field_dense(program: Program, band: float, out: torch.Tensor) -> torch.Tensor:
    """Write signed distances clamped to [-band, band] into ``out`` [B, 1, 128, 128], evaluating every pixel."""
    values = evaluate_grid(program, 1.0, SIZE, 0.5)
    images = torch.arange(program.images, device=values.device)
    root = roots(program, values, images).view(program.images, 1, SIZE, SIZE)
    return torch.clamp(root, -band, band, out=out)


def fill_tiles(tile_values: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Fill images ``out`` [B, 1, 128, 128] with one constant per tile from tile values [B, TILES * TILES]."""
    count = len(tile_values)
    row = tile_values.view(count, TILES, TILES, 1).expand(-1, -1, -1, TILE).reshape(count, TILES, 1, SIZE)
    out.view(count, TILES, TILE, SIZE).copy_(row.expand(-1, -1, TILE, -1))  # contiguous 128-pixel rows
    return out


def field_tiled(program: Program, band: float, out: torch.Tensor) -> torch.Tensor:
    """Write signed distances clamped to [-band, band] into ``out`` [B, 1, 128, 128], evaluated per pixel only
    near the boundary.

    See the module docstring; with ``band`` = 0.5 this is all that coverage needs.
    """
    margin = (TILE - 1) / 2 * math.sqrt(2.0) + band + 1e-3  # centre-to-corner-pixel distance + band
    device = program.prim_params.device
    tiles, rows = TILES * TILES, program.rows
    coarse = evaluate_grid(program, float(TILE), TILES, TILE / 2)  # [B, rows, T]: distances at tile centres
    root = roots(program, coarse, torch.arange(program.images, device=device))  # [B, T]
    fill_tiles(root.clamp(-band, band), out)  # exactly +-band away from the edges
    edge_image, edge_tile = torch.nonzero(root.abs() <= margin, as_tuple=True)  # [K] each
    if len(edge_image) == 0:
        return out
    flat_coarse = coarse.view(-1)  # [B * rows * T]
    tile_base = edge_image * (rows * tiles) + edge_tile  # [K]: index of (image, row 0, tile) in flat_coarse

    def near_at(group: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        """Whether node ``row`` is near its boundary in edge tile ``group`` (bool, one per pair)."""
        return flat_coarse.index_select(0, tile_base.index_select(0, group) + row * tiles).abs_() <= margin

    # primitives near their own boundary in the tile
    group, prim = spans(program.prim_start.index_select(0, edge_image), program.prim_count.index_select(0, edge_image))
    keep = torch.nonzero(near_at(group, program.prim_row.index_select(0, prim))).flatten()
    prim_group, prim = group.index_select(0, keep), prim.index_select(0, keep)

    # near combines: with a far child a node equals its other child there (see resolve_combines)
    group, comb = spans(program.comb_start.index_select(0, edge_image), program.comb_count.index_select(0, edge_image))
    keep = torch.nonzero(near_at(group, program.comb_dst.index_select(0, comb))).flatten()
    comb_group, comb = group.index_select(0, keep), comb.index_select(0, keep)
    left_near = near_at(comb_group, program.comb_left.index_select(0, comb))
    right_near = near_at(comb_group, program.comb_right.index_select(0, comb))

    values = torch.empty(len(prim) + int((left_near & right_near).sum()), TILE * TILE, device=device)  # [A + R, 64]
    x0 = (edge_tile % TILES).to(torch.float32) * TILE + 0.5
    y0 = torch.div(edge_tile, TILES, rounding_mode="floor").to(torch.float32) * TILE + 0.5
    order = primitive_distances(program, prim_group, prim, x0, y0, 1.0, TILE, values)
    source = torch.full((len(edge_image) * rows,), -1, device=device)  # (edge tile, node) -> row of values
    prim_rows = prim_group.index_select(0, order) * rows + program.prim_row.index_select(0, prim.index_select(0, order))
    source[prim_rows] = torch.arange(len(order), device=device)
    resolve_combines(program, values, len(prim), source, comb_group, comb, left_near, right_near)
    root_rows = torch.arange(len(edge_image), device=device) * rows + program.root_row.index_select(0, edge_image)
    patches = values.index_select(0, source.index_select(0, root_rows)).clamp_(-band, band)  # [K, 64]
    # each patch is 8 row segments of 8 pixels; out seen as segments: [B * 128 rows * 16 tiles, 8]
    first_row = edge_image * SIZE + torch.div(edge_tile, TILES, rounding_mode="floor") * TILE  # [K]
    segments = (first_row[:, None] + torch.arange(TILE, device=device)) * TILES + (edge_tile % TILES)[:, None]
    out.view(-1, TILE).index_copy_(0, segments.view(-1), patches.view(-1, TILE))
    return out


class Renderer:
    """Executor for CSG2D: ``execute(trees) -> float32 [B, 1, 128, 128]`` coverage on ``device``.

    Trees are compiled once each (an LRU cache of ``cache_size`` compiled trees; 0 disables it) and rendered
    in chunks of ``chunk`` images to bound memory. ``tiled=False`` selects the dense per-pixel evaluation.
    """

    def __init__(self, device: str | torch.device = "cpu", chunk: int | None = None, tiled: bool = True,
                 cache_size: int = 65536) -> None:
        self.device = torch.device(device)
        self.chunk = chunk or (1024 if self.device.type == "cpu" else 8192)
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
        return coverage(self.distances(trees, 0.5))

    @torch.no_grad()
    def distances(self, trees: Sequence[Node], band: float) -> torch.Tensor:
        """Signed distances of ``trees`` at pixel centres clamped to [-band, band]: [B, 1, 128, 128] (px).

        Exact wherever the distance is within the band; elsewhere exactly -band (inside) or +band (outside).
        """
        if len(trees) == 0:
            return torch.zeros(0, 1, SIZE, SIZE, device=self.device)
        field = field_tiled if self.tiled else field_dense
        out = torch.empty(len(trees), 1, SIZE, SIZE, device=self.device)
        for start in range(0, len(trees), self.chunk):
            part = trees[start:start + self.chunk]
            field(self.compile(part), band, out[start:start + len(part)])
        return out
