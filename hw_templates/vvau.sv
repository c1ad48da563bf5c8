// Depthwise vector-vector unit without activation (FINN VVAU, noActivation), LUT-based MACs.
//
// For each output pixel and channel c: y[c] = sum_k W[c][k] * x[k][c] over the K = K_H*K_W
// kernel positions of a depthwise convolution. The input is the depthwise-ordered window
// stream (FINN's "depthwise" sliding window): for each of the CF = CHANNELS/PE channel folds,
// K words of PE channels, one per kernel position. Each group of K words yields one output
// word of PE sums, so a pixel is K*CF input words and CF output words; pixels follow each
// other without limit at one input word per cycle.
//
// The multipliers and accumulators are exactly ACC_WIDTH bits (two's complement,
// wrap-around), as in mvau.sv: the hardware is as narrow as the certified accumulator.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it never depends combinationally on out_ready (a 2-entry output queue absorbs it).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : PE elements of IN_WIDTH bits, element p of word cf*K + k = x[k][cf*PE + p]
//   out_data : PE elements of ACC_WIDTH bits, element p of word cf = y[cf*PE + p]
// Weight file ($readmemh, one hex line per address cf*K + k, CF*K lines): PE*W_WIDTH bits,
// element p = W[cf*PE + p][k] (flow/hw/memfiles_conv.vvau_weight_lines).
// requires: out_queue.sv
module vvau #(
    parameter int CHANNELS = 4,
    parameter int K = 9,
    parameter int PE = 1,
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
    input  logic                    clk,
    input  logic                    rst_n,
    input  logic                    in_valid,
    output logic                    in_ready,
    input  logic [ PE*IN_WIDTH-1:0] in_data,
    output logic                    out_valid,
    input  logic                    out_ready,
    output logic [PE*ACC_WIDTH-1:0] out_data
);
  localparam int CF = CHANNELS / PE;
  localparam int K_W = K > 1 ? $clog2(K) : 1;
  localparam int ADDR_W = CF * K > 1 ? $clog2(CF * K) : 1;
  localparam int XW = IN_WIDTH + 1;  // the input as a signed number, whatever IN_SIGNED
  // Products are exact in XW + W_WIDTH bits; when that exceeds ACC_WIDTH only the low
  // ACC_WIDTH bits matter (arithmetic modulo 2^ACC_WIDTH), so the multiplier is cut there.
  localparam int PW = XW + W_WIDTH < ACC_WIDTH ? XW + W_WIDTH : ACC_WIDTH;
  localparam int OW = PE * ACC_WIDTH;

  if (PE < 1 || CHANNELS % PE != 0) begin : g_bad_fold
    $error("vvau: PE must divide CHANNELS");
  end
  if (K < 1) begin : g_bad_k
    $error("vvau: K must be at least 1");
  end

  // Weight ROM, read synchronously so that it can map to block RAM.
  (* rom_style = ROM_STYLE *) logic [PE*W_WIDTH-1:0] wrom[CF*K];
  initial $readmemh(WEIGHT_FILE, wrom);

  logic en, accept;  // the output queue has room: the pipeline may advance
  logic [OW-1:0] result;

  logic [K_W-1:0] k;
  logic [ADDR_W-1:0] addr;

  // Stage A: operands of one (cf, k) step.
  logic a_valid, a_first, a_last;
  logic [PE*IN_WIDTH-1:0] a_x;
  logic [PE*W_WIDTH-1:0] a_w;
  logic [OW-1:0] acc;

  assign in_ready = en;
  assign accept = en && in_valid;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      k <= '0;
      addr <= '0;
      a_valid <= 1'b0;
    end else if (en) begin
      a_valid <= in_valid;
      if (in_valid) begin
        k <= k == K_W'(K - 1) ? '0 : k + 1'b1;
        addr <= addr == ADDR_W'(CF * K - 1) ? '0 : addr + 1'b1;
      end
    end
  end

  always_ff @(posedge clk) begin
    if (accept) begin
      a_x <= in_data;
      a_w <= wrom[addr];
      a_first <= k == '0;
      a_last <= k == K_W'(K - 1);
    end
  end

  // Stage B: PE multiply-accumulates, all in ACC_WIDTH bits.
  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [IN_WIDTH-1:0] xe;
    // When ACC_WIDTH is narrower than an operand its top bits cannot affect the result.
    /* verilator lint_off UNUSEDSIGNAL */
    logic signed [W_WIDTH-1:0] we;
    logic signed [XW-1:0] xs;
    /* verilator lint_on UNUSEDSIGNAL */
    logic signed [PW-1:0] prod;
    logic signed [ACC_WIDTH-1:0] sum;
    assign xe = a_x[p*IN_WIDTH+:IN_WIDTH];
    assign we = a_w[p*W_WIDTH+:W_WIDTH];
    assign xs = {IN_SIGNED ? xe[IN_WIDTH-1] : 1'b0, xe};
    assign prod = PW'(xs) * PW'(we);
    assign sum = (a_first ? ACC_WIDTH'(0) : acc[p*ACC_WIDTH+:ACC_WIDTH]) + ACC_WIDTH'(prod);
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
