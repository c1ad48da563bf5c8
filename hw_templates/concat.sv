// Channel concatenation of two streams (FINN StreamingConcat with two inputs).
//
// Both inputs carry the same PIXELS pixels per frame in the same order (NHWC, frames back
// to back); in0 has CHANNELS0 channels per pixel, in1 has CHANNELS1. Per pixel the output
// carries the CHANNELS0 channels of in0, then the CHANNELS1 channels of in1: CF0 =
// CHANNELS0/SIMD words taken from in0, then CF1 = CHANNELS1/SIMD words from in1, each word
// passed on with its SIMD elements sign- or zero-extended (as SIGNED0 / SIGNED1 say) to
// OUT_WIDTH bits. Only the per-pixel word counts matter: PIXELS is only checked. Elaboration
// fails unless OUT_WIDTH/OUT_SIGNED holds every value of both input types.
//
// Each input has a 2-entry queue, so in0_ready and in1_ready are registered signals that
// depend neither on the other input nor on out_ready. The output word sits in a 1-entry
// output register; one word per cycle when the input being read and the output keep up
// (the other input's queue fills meanwhile, so switching inputs costs no cycle).
// Cycles: (CF0 + CF1) per pixel; a word leaves 2 cycles after it was taken.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in0_data : SIMD elements of WIDTH0 bits, element s of word cf = in0 channel cf*SIMD + s
//   in1_data : SIMD elements of WIDTH1 bits, element s of word cf = in1 channel cf*SIMD + s
//   out_data : SIMD elements of OUT_WIDTH bits, element s of word cf = output channel
//              cf*SIMD + s (channel c < CHANNELS0 is in0's c, then in1's c - CHANNELS0)
// requires: out_queue.sv
module concat #(
    parameter int PIXELS = 4,
    parameter int CHANNELS0 = 2,
    parameter int CHANNELS1 = 2,
    parameter int SIMD = 1,
    parameter int WIDTH0 = 4,
    parameter bit SIGNED0 = 1'b0,
    parameter int WIDTH1 = 4,
    parameter bit SIGNED1 = 1'b1,
    parameter int OUT_WIDTH = 5,
    parameter bit OUT_SIGNED = 1'b1
) (
    input  logic                      clk,
    input  logic                      rst_n,
    input  logic                      in0_valid,
    output logic                      in0_ready,
    input  logic [   SIMD*WIDTH0-1:0] in0_data,
    input  logic                      in1_valid,
    output logic                      in1_ready,
    input  logic [   SIMD*WIDTH1-1:0] in1_data,
    output logic                      out_valid,
    input  logic                      out_ready,
    output logic [SIMD*OUT_WIDTH-1:0] out_data
);
  localparam int CF0 = CHANNELS0 / SIMD;
  localparam int CF1 = CHANNELS1 / SIMD;
  localparam int AW = SIMD * WIDTH0;
  localparam int BW = SIMD * WIDTH1;
  localparam int OW = SIMD * OUT_WIDTH;
  localparam int C0_W = CF0 > 1 ? $clog2(CF0) : 1;
  localparam int C1_W = CF1 > 1 ? $clog2(CF1) : 1;
  // Bits an input type needs in the output type: one more when unsigned goes to signed.
  localparam int NEED0 = WIDTH0 + (OUT_SIGNED && !SIGNED0 ? 1 : 0);
  localparam int NEED1 = WIDTH1 + (OUT_SIGNED && !SIGNED1 ? 1 : 0);

  if (SIMD < 1 || CHANNELS0 < SIMD || CHANNELS0 % SIMD != 0 || CHANNELS1 < SIMD
      || CHANNELS1 % SIMD != 0) begin : g_bad_fold
    $error("concat: SIMD must divide CHANNELS0 and CHANNELS1");
  end
  if (PIXELS < 1 || WIDTH0 < 1 || WIDTH1 < 1) begin : g_bad_size
    $error("concat: PIXELS, WIDTH0 and WIDTH1 must be at least 1");
  end
  if ((SIGNED0 && !OUT_SIGNED) || OUT_WIDTH < NEED0) begin : g_bad_out0
    $error("concat: OUT_WIDTH/OUT_SIGNED cannot hold the in0 type (WIDTH0, SIGNED0)");
  end
  if ((SIGNED1 && !OUT_SIGNED) || OUT_WIDTH < NEED1) begin : g_bad_out1
    $error("concat: OUT_WIDTH/OUT_SIGNED cannot hold the in1 type (WIDTH1, SIGNED1)");
  end

  // Input queues (out_queue.sv), heads a0/b0: in0_ready and in1_ready are registers.
  logic [AW-1:0] a0;
  logic [BW-1:0] b0;
  logic a_valid, b_valid, afire, bfire, fire, free;
  logic sel;  // 0: the next output word comes from in0, 1: from in1
  logic [C0_W-1:0] c0;
  logic [C1_W-1:0] c1;
  logic last0, last1;
  logic [OW-1:0] ext0, ext1;

  // The selected head is present and the output register free (or being emptied).
  assign free = !out_valid || out_ready;
  assign afire = !sel && a_valid && free;
  assign bfire = sel && b_valid && free;
  assign fire = afire || bfire;
  assign last0 = c0 == C0_W'(CF0 - 1);
  assign last1 = c1 == C1_W'(CF1 - 1);

  out_queue #(.WIDTH(AW)) u_queue0 (
      .clk, .rst_n, .in_valid(in0_valid), .in_ready(in0_ready), .in_data(in0_data),
      .out_valid(a_valid), .out_ready(!sel && free), .out_data(a0)
  );

  out_queue #(.WIDTH(BW)) u_queue1 (
      .clk, .rst_n, .in_valid(in1_valid), .in_ready(in1_ready), .in_data(in1_data),
      .out_valid(b_valid), .out_ready(sel && free), .out_data(b0)
  );

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      sel <= 1'b0;
      c0 <= '0;
      c1 <= '0;
    end else begin
      if (afire) begin
        c0 <= last0 ? '0 : c0 + 1'b1;
        if (last0) sel <= 1'b1;
      end
      if (bfire) begin
        c1 <= last1 ? '0 : c1 + 1'b1;
        if (last1) sel <= 1'b0;
      end
    end
  end

  // Sign- or zero-extension of each element to OUT_WIDTH bits (never narrower: checked).
  for (genvar s = 0; s < SIMD; s++) begin : g_simd
    logic [WIDTH0-1:0] ae;
    logic [WIDTH1-1:0] be;
    assign ae = a0[s*WIDTH0+:WIDTH0];
    assign be = b0[s*WIDTH1+:WIDTH1];
    // One extension bit, then the signed size cast extends it (or drops it again when the
    // output is exactly as wide as the input).
    assign ext0[s*OUT_WIDTH+:OUT_WIDTH] = OUT_WIDTH'($signed({SIGNED0 && ae[WIDTH0-1], ae}));
    assign ext1[s*OUT_WIDTH+:OUT_WIDTH] = OUT_WIDTH'($signed({SIGNED1 && be[WIDTH1-1], be}));
  end

  // Output register.
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      out_valid <= 1'b0;
    end else if (fire) begin
      out_valid <= 1'b1;
    end else if (out_ready) begin
      out_valid <= 1'b0;
    end
    if (fire) out_data <= sel ? ext1 : ext0;
  end
endmodule
