// Global accumulating pool (FINN GlobalAccPool): the sum of each channel over all PIXELS
// pixels of a frame (a global average pool without its division, which FINN leaves to the
// next layer).
//
// The input is NHWC: PIXELS pixels, each CF = CHANNELS/PE words of PE channels. The running
// sums of all CHANNELS channels live in a small memory of CF words (one per channel fold,
// asynchronous read: LUT RAM or flip-flops), updated read-modify-write as each word passes.
// Every word of the last pixel leaves as the finished sums of its PE channels, so a frame
// takes PIXELS*CF cycles and frames follow each other without gaps.
//
// Sums are exactly OUT_WIDTH bits and wrap around modulo 2^OUT_WIDTH like a register of that
// width; the inputs are sign-extended (IN_SIGNED) or zero-extended (or cut) to OUT_WIDTH, and
// the output is read as signed iff IN_SIGNED.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it never depends combinationally on out_ready (a 2-entry output queue absorbs it).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : PE elements of IN_WIDTH bits, element p of word pix*CF + cf = x[pix][cf*PE+p]
//   out_data : PE elements of OUT_WIDTH bits, element p of word cf = sum_pix x[pix][cf*PE+p]
// requires: out_queue.sv
module global_acc_pool #(
    parameter int CHANNELS = 4,
    parameter int PE = 1,
    parameter int PIXELS = 4,
    parameter int IN_WIDTH = 8,
    parameter bit IN_SIGNED = 1'b0,
    parameter int OUT_WIDTH = 10
) (
    input  logic                    clk,
    input  logic                    rst_n,
    input  logic                    in_valid,
    output logic                    in_ready,
    input  logic [ PE*IN_WIDTH-1:0] in_data,
    output logic                    out_valid,
    input  logic                    out_ready,
    output logic [PE*OUT_WIDTH-1:0] out_data
);
  localparam int CF = CHANNELS / PE;
  localparam int CF_W = CF > 1 ? $clog2(CF) : 1;
  localparam int PIX_W = PIXELS > 1 ? $clog2(PIXELS) : 1;
  // The input as a signed number wide enough for both the input and the sum.
  localparam int XW = IN_WIDTH + 1 > OUT_WIDTH ? IN_WIDTH + 1 : OUT_WIDTH;
  localparam int OW = PE * OUT_WIDTH;

  if (PE < 1 || CHANNELS % PE != 0) begin : g_bad_fold
    $error("global_acc_pool: PE must divide CHANNELS");
  end
  if (PIXELS < 1) begin : g_bad_pixels
    $error("global_acc_pool: PIXELS must be at least 1");
  end

  // Running sums of the channel folds.
  logic [OW-1:0] acc_mem[CF];

  logic en, accept, first, last;  // the output queue has room: the pipeline may advance
  logic [OW-1:0] sum;

  logic [CF_W-1:0] cf;
  logic [PIX_W-1:0] pix;

  assign in_ready = en;
  assign accept = in_valid && en;
  assign first = pix == '0;
  assign last = pix == PIX_W'(PIXELS - 1);

  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [IN_WIDTH-1:0] xe;
    // When OUT_WIDTH is narrower than the input its top bits cannot affect the sum.
    /* verilator lint_off UNUSEDSIGNAL */
    logic signed [XW-1:0] xs;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [OUT_WIDTH-1:0] prev;
    assign xe = in_data[p*IN_WIDTH+:IN_WIDTH];
    assign xs = XW'($signed({IN_SIGNED ? xe[IN_WIDTH-1] : 1'b0, xe}));
    assign prev = first ? '0 : acc_mem[cf][p*OUT_WIDTH+:OUT_WIDTH];
    assign sum[p*OUT_WIDTH+:OUT_WIDTH] = prev + OUT_WIDTH'(xs);
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cf  <= '0;
      pix <= '0;
    end else if (accept) begin
      if (cf == CF_W'(CF - 1)) begin
        cf  <= '0;
        pix <= last ? '0 : pix + 1'b1;
      end else begin
        cf <= cf + 1'b1;
      end
    end
    if (accept) acc_mem[cf] <= sum;
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(OW)) u_queue (
      .clk, .rst_n, .in_valid(in_valid && last), .in_ready(en), .in_data(sum), .out_valid,
      .out_ready, .out_data
  );
endmodule
