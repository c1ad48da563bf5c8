"""Constant-weight MVAU generator: the trained integers hard-wired, every adder exactly wide.

An MVAU of the ``const`` MAC style is one generated SystemVerilog module per layer with the
ports, stream order and cycle behaviour of ``hw_templates/mvau.sv`` (SF = MW/SIMD words per
vector, NF = MH/PE neuron folds, the input vector buffered during fold 0, a 2-entry output
queue so ``in_ready`` is a register). What differs is the arithmetic:

- Each (PE lane p, SIMD lane s) multiplies its input by the weights
  ``W[nf*PE + p][sf*SIMD + s]`` of the folds (nf, sf). A lane whose weight is zero in every
  fold produces no logic; a lane with one weight for every fold (always, when the layer is
  fully parallel) becomes shifted copies of its input, one per non-zero digit of the
  weight's canonical signed-digit form (7 = 8 - 1: two terms); a lane whose weight changes
  with the fold selects its constant from a small table indexed by the fold counter, so
  synthesis still drops every weight bit that is zero in all folds.
- The terms of each PE lane are summed by a balanced tree of two-input adders, each exactly
  as wide as the range of the partial sum it computes (interval arithmetic from the weights
  and the input range) and never wider than the accumulator: the exact-width idea applied
  to every node of the tree, not only to the accumulator. With ``exact_tree=False`` every
  adder is ``acc_bits`` wide (the 32-bit-accumulator twin).
- A register stage follows every ``levels_per_stage`` adder levels, so the clock stays
  realistic for deep trees; the whole pipeline stalls together when the output queue is
  full, so throughput is one (nf, sf) step per cycle like ``mvau.sv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flow.bounds import input_range, signed_bits
from flow.errors import HardwareError


def csd_digits(c: int) -> list[tuple[int, int]]:
    """Canonical signed-digit form of ``c``: ``(sign, shift)`` pairs, ``c = sum sign << shift``.

    No two adjacent digits are non-zero, so the number of terms is minimal (3 = 4 - 1).
    """
    digits, shift = [], 0
    while c:
        if c & 1:
            d = 2 - (c & 3)  # +1 if c = 1 (mod 4), -1 if c = 3 (mod 4)
            digits.append((d, shift))
            c -= d
        c >>= 1
        shift += 1
    return digits


@dataclass(frozen=True)
class Node:
    """A signal of the generated tree: its name, exact value range and declared width.

    ``src``/``coef``: a node that is ``coef`` times input ``src`` (the digits of one
    constant lane), whose range is exact from the input's alone; None for other nodes.
    """

    name: str
    lo: int
    hi: int
    width: int
    src: int | None = None
    coef: int = 0


@dataclass
class ConstMvauSpec:
    """One layer of the const MAC style (``w``: (MH, MW) integers, row = output neuron)."""

    name: str
    w: np.ndarray
    pe: int
    simd: int
    in_bits: int
    in_signed: bool
    acc_bits: int
    exact_tree: bool = True
    levels_per_stage: int = 4

    def __post_init__(self) -> None:
        self.w = np.asarray(self.w, dtype=np.int64)
        if self.w.ndim != 2:
            raise HardwareError(
                f"{self.name}: const MVAU weights must be (MH, MW), not {self.w.shape}"
            )
        mh, mw = self.w.shape
        if mh % self.pe or mw % self.simd:
            raise HardwareError(
                f"{self.name}: PE={self.pe} must divide MH={mh} and SIMD={self.simd} MW={mw}"
            )
        if self.levels_per_stage < 1:
            raise HardwareError(f"{self.name}: levels_per_stage must be >= 1")

    @property
    def nf(self) -> int:
        return self.w.shape[0] // self.pe

    @property
    def sf(self) -> int:
        return self.w.shape[1] // self.simd

    def lane_weights(self, p: int, s: int) -> np.ndarray:
        """The weights of lane (p, s) for every fold, in fold order ``nf*SF + sf``."""
        w = self.w.reshape(self.nf, self.pe, self.sf, self.simd)
        return w[:, p, :, s].reshape(-1)


class _Tree:
    """Builds the declarations and assignments of one PE lane's adder tree."""

    def __init__(self, spec: ConstMvauSpec, p: int) -> None:
        self.spec, self.p = spec, p
        self.xlo, self.xhi = input_range(spec.in_bits, spec.in_signed)
        self.decls: list[str] = []
        self.assigns: list[str] = []
        self.count = 0
        # What the tree costs, counted as it is built (see :func:`const_cost`).
        self.adder_bits = 0
        self.reg_bits = 0
        self.table_luts = 0.0

    def width(self, lo: int, hi: int) -> int:
        acc = self.spec.acc_bits
        return min(signed_bits(lo, hi), acc) if self.spec.exact_tree else acc

    def new(
        self, lo: int, hi: int, expr: str, *, reg: bool = False, src: int | None = None, coef=0
    ) -> Node:
        w = self.width(lo, hi)
        node = Node(f"t{self.p}_{self.count}", lo, hi, w, src, coef)
        self.count += 1
        self.reg_bits += w if reg else 0
        if "+" in expr or expr.startswith("-"):
            self.adder_bits += w  # one LUT per bit on a carry chain
        self.decls.append(f"  logic signed [{w - 1}:0] {node.name};")
        self.assigns.append(
            f"  always_ff @(posedge clk) if (en) {node.name} <= {expr};"
            if reg
            else f"  assign {node.name} = {expr};"
        )
        return node

    def leaves(self) -> list[Node]:
        """The terms of this PE lane: shifted inputs (constant lanes) or table products.

        The digits of one lane are adjacent, so the tree's first levels sum them first.
        """
        xlo, xhi, out = self.xlo, self.xhi, []
        for s in range(self.spec.simd):
            ws = self.spec.lane_weights(self.p, s)
            if not ws.any():
                continue
            x = f"xin[{s}]"
            if (ws == ws[0]).all():
                for sign, shift in csd_digits(int(ws[0])):
                    ends = (sign * (xlo << shift), sign * (xhi << shift))
                    lo, hi = min(ends), max(ends)
                    w = self.width(lo, hi)
                    term = f"({w}'({x}) <<< {shift})"
                    expr = f"-{term}" if sign < 0 else term
                    out.append(self.new(lo, hi, expr, src=s, coef=sign << shift))
                continue
            prods = [v * xlo for v in ws.tolist()] + [v * xhi for v in ws.tolist()]
            lo, hi = min(prods), max(prods)
            wb = signed_bits(int(ws.min()), int(ws.max()))
            table = f"c{self.p}_{s}"
            values = ", ".join(f"{wb}'sd{v}" if v >= 0 else f"-{wb}'sd{-v}" for v in ws.tolist())
            self.decls.append(
                f"  localparam logic signed [{wb - 1}:0] {table} [{len(ws)}] = '{{{values}}};"
            )
            w = self.width(lo, hi)
            self.table_luts += table_product_luts(ws, self.spec.in_bits + 1)
            out.append(self.new(lo, hi, f"{w}'({x}) * {w}'({table}[a_f])"))
        return out

    def reduce(self, nodes: list[Node], levels_per_stage: int, stages: int) -> Node:
        """Pairwise sums down to one node, a register after every ``levels_per_stage`` levels;
        the result is delayed to exactly ``stages`` register stages."""
        if not nodes:
            nodes = [self.new(0, 0, "'0")]
        level, done = 0, 0
        while len(nodes) > 1:
            level += 1
            reg = level % levels_per_stage == 0
            nxt = []
            for a, b in zip(nodes[::2], nodes[1::2], strict=False):
                src, coef = None, 0
                lo, hi = a.lo + b.lo, a.hi + b.hi
                if a.src is not None and a.src == b.src:
                    # Digits of one constant: the exact range of (their sum) * x.
                    src, coef = a.src, a.coef + b.coef
                    lo, hi = sorted((coef * self.xlo, coef * self.xhi))
                w = self.width(lo, hi)
                expr = f"{w}'({a.name}) + {w}'({b.name})"
                nxt.append(self.new(lo, hi, expr, reg=reg, src=src, coef=coef))
            if len(nodes) % 2:
                last = nodes[-1]
                if reg:
                    last = self.new(
                        last.lo, last.hi, last.name, reg=True, src=last.src, coef=last.coef
                    )
                nxt.append(last)
            nodes = nxt
            done += reg
        node = nodes[0]
        for _ in range(stages - done):
            node = self.new(node.lo, node.hi, node.name, reg=True)
        return node


def table_product_luts(ws: np.ndarray, x_bits: int) -> float:
    """Estimated LUTs of one lane whose constant changes with the fold: ``x * table[f]``.

    Each bit of the table is a Boolean function of the fold counter; it costs about one LUT6
    per 64 folds, or two LUTs per fold where it is set when it is set rarely (a sparse
    table). Each table bit that is ever set adds a row of ``x_bits`` partial-product LUTs.
    """
    folds = len(ws)
    bits = signed_bits(int(ws.min()), int(ws.max()))
    u = ws.astype(np.int64) & ((1 << bits) - 1)
    luts = 0.0
    for b in range(bits):
        ones = int(((u >> b) & 1).sum())
        if ones:
            luts += min(-(-folds // 64), 2 * ones) + x_bits
    return luts


def _lanes(spec: ConstMvauSpec) -> tuple[list[tuple[_Tree, Node]], int]:
    """Every PE lane's tree and root, and the register stages they share."""
    stages = tree_depth(spec) // spec.levels_per_stage
    lanes = []
    for p in range(spec.pe):
        tree = _Tree(spec, p)
        lanes.append((tree, tree.reduce(tree.leaves(), spec.levels_per_stage, stages)))
    return lanes, stages


@dataclass(frozen=True)
class ConstCost:
    """What the generator builds for a layer: adder bits (about one LUT each), register bits
    of the trees, estimated LUTs of fold-indexed constant tables, and the lanes kept."""

    adder_bits: int
    reg_bits: int
    table_luts: float
    lanes: int
    zero_lanes: int


def const_cost(spec: ConstMvauSpec) -> ConstCost:
    """Count the logic :func:`render_const_mvau` generates for ``spec``, without rendering."""
    lanes, _ = _lanes(spec)
    zero = sum(not spec.lane_weights(p, s).any() for p in range(spec.pe) for s in range(spec.simd))
    return ConstCost(
        adder_bits=sum(t.adder_bits for t, _ in lanes),
        reg_bits=sum(t.reg_bits for t, _ in lanes),
        table_luts=sum(t.table_luts for t, _ in lanes),
        lanes=spec.pe * spec.simd,
        zero_lanes=zero,
    )


def tree_depth(spec: ConstMvauSpec) -> int:
    """Adder levels of the deepest PE lane (terms counted as the generator makes them)."""
    deepest = 0
    for p in range(spec.pe):
        terms = 0
        for s in range(spec.simd):
            ws = spec.lane_weights(p, s)
            if not ws.any():
                continue
            terms += len(csd_digits(int(ws[0]))) if (ws == ws[0]).all() else 1
        deepest = max(deepest, max(terms - 1, 0).bit_length())
    return deepest


def render_const_mvau(spec: ConstMvauSpec, header: str) -> str:
    """The SystemVerilog module of one const-style MVAU layer (module name ``spec.name``)."""
    lanes, stages = _lanes(spec)
    body = []
    for p, (tree, root) in enumerate(lanes):
        body += [f"  // PE lane {p}: dot product range [{root.lo}, {root.hi}]", *tree.decls]
        body += tree.assigns
        body.append(f"  assign dot[{p}] = ACC_WIDTH'({root.name});")
    return _MODULE.format(
        header=header,
        name=spec.name,
        mw=spec.w.shape[1],
        mh=spec.w.shape[0],
        pe=spec.pe,
        simd=spec.simd,
        in_width=spec.in_bits,
        in_signed=int(spec.in_signed),
        acc_width=spec.acc_bits,
        stages=stages,
        xw=spec.in_bits + 1,
        sign="a_x[s*IN_WIDTH+IN_WIDTH-1]" if spec.in_signed else "1'b0",
        body="\n".join(body),
    )


_MODULE = """\
// {header}
// requires: out_queue.sv
// Constant-weight MVAU (a2q-flow const MAC style): y = W x with the trained integer weights
// hard-wired. Same ports, stream order and cycle behaviour as hw_templates/mvau.sv; every
// adder of the tree is as wide as the exact range of its partial sum.
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
module {name} #(
    parameter int MW = {mw},
    parameter int MH = {mh},
    parameter int PE = {pe},
    parameter int SIMD = {simd},
    parameter int IN_WIDTH = {in_width},
    parameter bit IN_SIGNED = 1'b{in_signed},
    parameter int ACC_WIDTH = {acc_width},
    parameter int STAGES = {stages}
) (
    input  logic                      clk,
    input  logic                      rst_n,
    input  logic                      in_valid,
    output logic                      in_ready,
    input  logic [ SIMD*IN_WIDTH-1:0] in_data,
    output logic                      out_valid,
    input  logic                      out_ready,
    output logic [PE*ACC_WIDTH-1:0]   out_data
);
  localparam int SF = MW / SIMD;
  localparam int NF = MH / PE;
  localparam int SF_W = SF > 1 ? $clog2(SF) : 1;
  localparam int NF_W = NF > 1 ? $clog2(NF) : 1;
  localparam int F_W = SF * NF > 1 ? $clog2(SF * NF) : 1;
  localparam int OW = PE * ACC_WIDTH;

  logic [SIMD*IN_WIDTH-1:0] ibuf[SF];
  logic en, issue;
  logic [SF_W-1:0] sf;
  logic [NF_W-1:0] nf;
  logic [F_W-1:0] f;

  // Stage A: the operands of one (nf, sf) step; then STAGES register stages in the trees.
  logic a_valid;
  logic [SIMD*IN_WIDTH-1:0] a_x;
  logic [F_W-1:0] a_f;
  logic [STAGES:0] v, first, last;
  logic signed [ACC_WIDTH-1:0] dot[PE];
  logic [OW-1:0] acc, result;

  assign in_ready = en && nf == '0;
  assign issue = en && (nf != '0 || in_valid);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      sf <= '0;
      nf <= '0;
      f <= '0;
      a_valid <= 1'b0;
    end else if (en) begin
      a_valid <= issue;
      if (issue) begin
        if (sf == SF_W'(SF - 1)) begin
          sf <= '0;
          nf <= nf == NF_W'(NF - 1) ? '0 : nf + 1'b1;
        end else begin
          sf <= sf + 1'b1;
        end
        f <= f == F_W'(SF * NF - 1) ? '0 : f + 1'b1;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (en && issue) begin
      a_x <= nf == '0 ? in_data : ibuf[sf];
      a_f <= f;
      first[0] <= sf == '0;
      last[0] <= sf == SF_W'(SF - 1);
      if (nf == '0) ibuf[sf] <= in_data;
    end
  end
  assign v[0] = a_valid;

  // Control travels with the data through the tree's register stages.
  for (genvar k = 1; k <= STAGES; k++) begin : g_ctrl
    always_ff @(posedge clk) begin
      if (!rst_n) v[k] <= 1'b0;
      else if (en) v[k] <= v[k-1];
      if (en) begin
        first[k] <= first[k-1];
        last[k] <= last[k-1];
      end
    end
  end

  // The inputs as signed numbers, whatever IN_SIGNED.
  logic signed [{xw}-1:0] xin[SIMD];
  for (genvar s = 0; s < SIMD; s++) begin : g_x
    assign xin[s] = {{{sign}, a_x[s*IN_WIDTH+:IN_WIDTH]}};
  end
{body}

  for (genvar p = 0; p < PE; p++) begin : g_acc
    assign result[p*ACC_WIDTH+:ACC_WIDTH] =
        first[STAGES] ? dot[p] : acc[p*ACC_WIDTH+:ACC_WIDTH] + dot[p];
  end

  always_ff @(posedge clk) begin
    if (en && v[STAGES]) acc <= result;
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(OW)) u_queue (
      .clk, .rst_n, .in_valid(v[STAGES] && last[STAGES]), .in_ready(en), .in_data(result),
      .out_valid, .out_ready, .out_data
  );
endmodule
/* verilator lint_on UNUSEDPARAM */
/* verilator lint_on UNUSEDSIGNAL */
"""
