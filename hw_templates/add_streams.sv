// Elementwise addition of two streams (FINN AddStreams / ElementwiseAdd, e.g. residual joins).
//
// Element p of an output word is in0[p] + in1[p], computed exactly and then wrapped to
// OUT_WIDTH bits (two's complement, modulo 2^OUT_WIDTH, like a register of that width). One
// output word is made from one word of each input; words pair up in order, whatever the
// relative timing of the two inputs.
//
// Each input has a 2-entry queue, so both in0_ready and in1_ready are registered signals that
// depend neither on the other input nor on out_ready. An input may run up to 2 words ahead
// of the other (then its ready drops until the other catches up). The sum goes to a 1-entry
// output register; it keeps one word per cycle when both inputs and the output keep up.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in0_data : PE elements of IN0_WIDTH bits (two's complement when IN0_SIGNED)
//   in1_data : PE elements of IN1_WIDTH bits (two's complement when IN1_SIGNED)
//   out_data : PE elements of OUT_WIDTH bits, element p = in0[p] + in1[p] mod 2^OUT_WIDTH
// requires: out_queue.sv
module add_streams #(
    parameter int PE = 1,
    parameter int IN0_WIDTH = 8,
    parameter bit IN0_SIGNED = 1'b1,
    parameter int IN1_WIDTH = 8,
    parameter bit IN1_SIGNED = 1'b1,
    parameter int OUT_WIDTH = 9,
    // How consumers read the output (two's complement or not). Wrap-around makes the output
    // bits the same either way, so the hardware does not use it (lint sees it as unused).
    /* verilator lint_off UNUSEDPARAM */
    parameter bit OUT_SIGNED = 1'b1
    /* verilator lint_on UNUSEDPARAM */
) (
    input  logic                    clk,
    input  logic                    rst_n,
    input  logic                    in0_valid,
    output logic                    in0_ready,
    input  logic [PE*IN0_WIDTH-1:0] in0_data,
    input  logic                    in1_valid,
    output logic                    in1_ready,
    input  logic [PE*IN1_WIDTH-1:0] in1_data,
    output logic                    out_valid,
    input  logic                    out_ready,
    output logic [PE*OUT_WIDTH-1:0] out_data
);
  localparam int W01 = IN0_WIDTH > IN1_WIDTH ? IN0_WIDTH : IN1_WIDTH;
  // Both operands and their sum as signed numbers, exact before the cut to OUT_WIDTH.
  localparam int SW = (W01 > OUT_WIDTH ? W01 : OUT_WIDTH) + 2;
  localparam int AW = PE * IN0_WIDTH;
  localparam int BW = PE * IN1_WIDTH;
  localparam int OW = PE * OUT_WIDTH;

  if (PE < 1 || IN0_WIDTH < 1 || IN1_WIDTH < 1 || OUT_WIDTH < 1) begin : g_bad_width
    $error("add_streams: PE and all widths must be at least 1");
  end

  // Input queues (out_queue.sv), heads a0/b0: in0_ready and in1_ready are registers.
  logic [AW-1:0] a0;
  logic [BW-1:0] b0;
  logic a_valid, b_valid, fire;
  logic [OW-1:0] sum;

  // Both heads present and the output register free (or being emptied this cycle).
  assign fire = a_valid && b_valid && (!out_valid || out_ready);

  out_queue #(.WIDTH(AW)) u_queue0 (
      .clk, .rst_n, .in_valid(in0_valid), .in_ready(in0_ready), .in_data(in0_data),
      .out_valid(a_valid), .out_ready(fire), .out_data(a0)
  );

  out_queue #(.WIDTH(BW)) u_queue1 (
      .clk, .rst_n, .in_valid(in1_valid), .in_ready(in1_ready), .in_data(in1_data),
      .out_valid(b_valid), .out_ready(fire), .out_data(b0)
  );

  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [IN0_WIDTH-1:0] ae;
    logic [IN1_WIDTH-1:0] be;
    // Only the low OUT_WIDTH bits of the exact sum are kept.
    /* verilator lint_off UNUSEDSIGNAL */
    logic signed [SW-1:0] as, bs, s;
    /* verilator lint_on UNUSEDSIGNAL */
    assign ae = a0[p*IN0_WIDTH+:IN0_WIDTH];
    assign be = b0[p*IN1_WIDTH+:IN1_WIDTH];
    assign as = SW'($signed({IN0_SIGNED ? ae[IN0_WIDTH-1] : 1'b0, ae}));
    assign bs = SW'($signed({IN1_SIGNED ? be[IN1_WIDTH-1] : 1'b0, be}));
    assign s = as + bs;
    assign sum[p*OUT_WIDTH+:OUT_WIDTH] = s[OUT_WIDTH-1:0];
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
    if (fire) out_data <= sum;
  end
endmodule
