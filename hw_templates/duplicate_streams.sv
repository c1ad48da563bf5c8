// Fork of one stream into two (FINN DuplicateStreams, e.g. the start of a residual branch).
//
// Every input word goes to both outputs, each exactly once and in order. The two outputs are
// independent: each has its own valid/ready and its own read pointer into a shared 2-word
// buffer, so one output may be stalled while the other advances, up to 2 words ahead of it;
// then in_ready drops until the stalled output takes a word. Nothing is lost and nothing can
// deadlock here (any longer skew between the branches must be absorbed by FIFOs on them).
// One word per cycle when both outputs keep up; a word written in cycle t is at both
// outputs in cycle t+1.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it depends only on the buffer's pointers, never combinationally on out0_ready or
// out1_ready.
//
// Streams: in_data, out0_data, out1_data are [WIDTH-1:0], passed through unchanged.
module duplicate_streams #(
    parameter int WIDTH = 8
) (
    input  logic             clk,
    input  logic             rst_n,
    input  logic             in_valid,
    output logic             in_ready,
    input  logic [WIDTH-1:0] in_data,
    output logic             out0_valid,
    input  logic             out0_ready,
    output logic [WIDTH-1:0] out0_data,
    output logic             out1_valid,
    input  logic             out1_ready,
    output logic [WIDTH-1:0] out1_data
);
  if (WIDTH < 1) begin : g_bad_width
    $error("duplicate_streams: WIDTH must be at least 1");
  end

  // Shared buffer of two words; pointers count modulo 4 so that full and empty differ.
  logic [WIDTH-1:0] mem[2];
  logic [1:0] wr, rd0, rd1, cnt0, cnt1;
  logic push, pop0, pop1;

  assign cnt0 = wr - rd0;
  assign cnt1 = wr - rd1;
  assign in_ready = cnt0 != 2'd2 && cnt1 != 2'd2;
  assign out0_valid = cnt0 != 2'd0;
  assign out1_valid = cnt1 != 2'd0;
  assign out0_data = mem[rd0[0]];
  assign out1_data = mem[rd1[0]];
  assign push = in_valid && in_ready;
  assign pop0 = out0_valid && out0_ready;
  assign pop1 = out1_valid && out1_ready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wr  <= 2'd0;
      rd0 <= 2'd0;
      rd1 <= 2'd0;
    end else begin
      if (push) wr <= wr + 2'd1;
      if (pop0) rd0 <= rd0 + 2'd1;
      if (pop1) rd1 <= rd1 + 2'd1;
    end
    if (push) mem[wr[0]] <= in_data;
  end
endmodule
