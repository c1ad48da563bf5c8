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

  // Input queues (head a0/b0).
  logic [AW-1:0] a0, a1;
  logic [BW-1:0] b0, b1;
  logic [1:0] acnt, bcnt;
  logic apush, bpush, afire, bfire, fire, free;
  logic a0_new, b0_new, a0_load, b0_load;
  logic sel;  // 0: the next output word comes from in0, 1: from in1
  logic [C0_W-1:0] c0;
  logic [C1_W-1:0] c1;
  logic last0, last1;
  logic [OW-1:0] ext0, ext1;

  assign in0_ready = acnt != 2'd2;
  assign in1_ready = bcnt != 2'd2;
  assign apush = in0_valid && in0_ready;
  assign bpush = in1_valid && in1_ready;
  // The selected head is present and the output register free (or being emptied).
  assign free = !out_valid || out_ready;
  assign afire = !sel && acnt != 2'd0 && free;
  assign bfire = sel && bcnt != 2'd0 && free;
  assign fire = afire || bfire;
  assign a0_new = acnt == 2'd0 || (acnt == 2'd1 && afire);
  assign b0_new = bcnt == 2'd0 || (bcnt == 2'd1 && bfire);
  assign a0_load = afire || (apush && acnt == 2'd0);
  assign b0_load = bfire || (bpush && bcnt == 2'd0);
  assign last0 = c0 == C0_W'(CF0 - 1);
  assign last1 = c1 == C1_W'(CF1 - 1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      acnt <= 2'd0;
      bcnt <= 2'd0;
      sel <= 1'b0;
      c0 <= '0;
      c1 <= '0;
    end else begin
      acnt <= acnt + {1'b0, apush} - {1'b0, afire};
      bcnt <= bcnt + {1'b0, bpush} - {1'b0, bfire};
      if (afire) begin
        c0 <= last0 ? '0 : c0 + 1'b1;
        if (last0) sel <= 1'b1;
      end
      if (bfire) begin
        c1 <= last1 ? '0 : c1 + 1'b1;
        if (last1) sel <= 1'b0;
      end
    end
    // Queue data: the head loads when it is popped or when an empty queue is pushed; it takes
    // the new word when the queue is (or becomes) empty, else the second entry. Written as
    // load enable and 2:1 select so that synthesis maps it to one LUT per bit and the enable.
    if (a0_load) a0 <= a0_new ? in0_data : a1;
    if (apush && !a0_new) a1 <= in0_data;
    if (b0_load) b0 <= b0_new ? in1_data : b1;
    if (bpush && !b0_new) b1 <= in1_data;
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
