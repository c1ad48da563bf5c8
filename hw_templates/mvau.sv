// Matrix-vector unit without activation (FINN MVAU, noActivation), LUT-based MACs.
//
// y = W x for an MH x MW weight matrix W (row = output neuron), folded onto PE rows and SIMD
// columns per cycle. One input vector arrives as SF = MW/SIMD words; it is kept in a small
// buffer during its first neuron fold and reused for the other NF = MH/PE folds, so a vector
// takes SF*NF cycles (FINN's cycle model) and the next vector starts right after.
//
// The multipliers, adder tree and accumulator are exactly ACC_WIDTH bits (two's complement,
// wrap-around): the hardware is as narrow as the accumulator the bound analysis certified.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it never depends combinationally on out_ready (a 2-entry output queue absorbs it).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : SIMD elements of IN_WIDTH bits, element s of word sf = x[sf*SIMD + s]
//   out_data : PE elements of ACC_WIDTH bits, element p of word nf = y[nf*PE + p]
// Weight file ($readmemh, one hex line per address nf*SF + sf, NF*SF lines): PE*SIMD*W_WIDTH
// bits, element p*SIMD + s = W[nf*PE + p][sf*SIMD + s] (flow/hw/memfiles.mvau_weight_lines).
// requires: out_queue.sv
module mvau #(
    parameter int MW = 4,
    parameter int MH = 4,
    parameter int PE = 1,
    parameter int SIMD = 1,
    parameter int IN_WIDTH = 4,
    parameter bit IN_SIGNED = 1'b0,
    parameter int W_WIDTH = 4,
    parameter int ACC_WIDTH = 16,
    parameter string WEIGHT_FILE = "weights.mem",
    // Memory mapping hint for synthesis: "auto", "block" (BRAM) or "logic" (LUTs). Only
    // synthesis reads it (through the rom_style attribute), so lint sees it as unused.
    /* verilator lint_off UNUSEDPARAM */
    parameter string ROM_STYLE = "auto"
    /* verilator lint_on UNUSEDPARAM */
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
  localparam int ADDR_W = SF * NF > 1 ? $clog2(SF * NF) : 1;
  localparam int XW = IN_WIDTH + 1;  // the input as a signed number, whatever IN_SIGNED
  // Products are exact in XW + W_WIDTH bits; when that exceeds ACC_WIDTH only the low
  // ACC_WIDTH bits matter (arithmetic modulo 2^ACC_WIDTH), so the multiplier is cut there.
  localparam int PW = XW + W_WIDTH < ACC_WIDTH ? XW + W_WIDTH : ACC_WIDTH;
  localparam int OW = PE * ACC_WIDTH;

  if (MW % SIMD != 0 || MH % PE != 0) begin : g_bad_fold
    $error("mvau: SIMD must divide MW and PE must divide MH");
  end

  // Weight ROM, read synchronously so that it can map to block RAM.
  (* rom_style = ROM_STYLE *) logic [PE*SIMD*W_WIDTH-1:0] wrom[SF*NF];
  initial $readmemh(WEIGHT_FILE, wrom);

  // Input vector buffer, written in fold 0 and read back in folds 1..NF-1.
  logic [SIMD*IN_WIDTH-1:0] ibuf[SF];

  logic en;  // the output queue has room: the pipeline may advance
  logic [OW-1:0] result;

  logic [SF_W-1:0] sf;
  logic [NF_W-1:0] nf;
  logic [ADDR_W-1:0] addr;
  logic issue;

  // Stage A: operands of one (nf, sf) step.
  logic a_valid, a_first, a_last;
  logic [SIMD*IN_WIDTH-1:0] a_x;
  logic [PE*SIMD*W_WIDTH-1:0] a_w;
  logic [PE*ACC_WIDTH-1:0] acc;

  assign in_ready = en && nf == '0;
  assign issue = en && (nf != '0 || in_valid);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      sf <= '0;
      nf <= '0;
      addr <= '0;
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
        addr <= addr == ADDR_W'(SF * NF - 1) ? '0 : addr + 1'b1;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (en && issue) begin
      a_x <= nf == '0 ? in_data : ibuf[sf];
      a_w <= wrom[addr];
      a_first <= sf == '0;
      a_last <= sf == SF_W'(SF - 1);
      if (nf == '0) ibuf[sf] <= in_data;
    end
  end

  // Stage B: PE dot products of SIMD terms, all in ACC_WIDTH bits.
  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic signed [ACC_WIDTH-1:0] sum;
    always_comb begin
      sum = a_first ? '0 : acc[p*ACC_WIDTH+:ACC_WIDTH];
      for (int s = 0; s < SIMD; s++) begin
        logic [IN_WIDTH-1:0] xe;
        // When ACC_WIDTH is narrower than an operand its top bits cannot affect the result.
        /* verilator lint_off UNUSEDSIGNAL */
        logic signed [W_WIDTH-1:0] we;
        logic signed [XW-1:0] xs;
        /* verilator lint_on UNUSEDSIGNAL */
        logic signed [PW-1:0] prod;
        xe = a_x[s*IN_WIDTH+:IN_WIDTH];
        we = a_w[(p*SIMD+s)*W_WIDTH+:W_WIDTH];
        xs = {IN_SIGNED ? xe[IN_WIDTH-1] : 1'b0, xe};
        prod = PW'(xs) * PW'(we);
        sum = sum + ACC_WIDTH'(prod);
      end
    end
    assign result[p*ACC_WIDTH+:ACC_WIDTH] = sum;
  end

  always_ff @(posedge clk) begin
    if (en && a_valid) acc <= result;
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(OW)) u_queue (
      .clk, .rst_n, .in_valid(a_valid && a_last), .in_ready(en), .in_data(result),
      .out_valid, .out_ready, .out_data
  );
endmodule
