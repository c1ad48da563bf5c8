// Two-entry stream queue with a registered ready: the handshake the other templates end in.
//
// A template's pipeline advances only while in_ready is high (the queue has room) and pushes
// its result with in_valid. in_ready depends only on the queue's own count, never
// combinationally on out_ready, so chains of modules have no long ready paths; the second
// entry keeps full throughput (one word in and one out per cycle while the consumer keeps
// up). The templates with two inputs (add_streams, concat) put one queue on each input, so
// each input's ready is registered too and an input may run 2 words ahead of the other.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style); it empties the queue (the
// data registers are not reset).
// Cycles: a word pushed in cycle t is at out_data in cycle t+1; out_data = the head word.
//
// Ports follow the common stream convention: in_valid/in_ready/in_data is the write side,
// out_valid/out_ready/out_data the read side, both [WIDTH-1:0].
module out_queue #(
    parameter int WIDTH = 8
) (
    input  logic             clk,
    input  logic             rst_n,
    input  logic             in_valid,
    output logic             in_ready,
    input  logic [WIDTH-1:0] in_data,
    output logic             out_valid,
    input  logic             out_ready,
    output logic [WIDTH-1:0] out_data
);
  if (WIDTH < 1) begin : g_bad_width
    $error("out_queue: WIDTH must be at least 1");
  end

  logic [WIDTH-1:0] q0, q1;  // q0 is the head
  logic [1:0] cnt;
  logic push, pop;

  assign in_ready = cnt != 2'd2;
  assign out_valid = cnt != 2'd0;
  assign out_data = q0;
  assign push = in_valid && in_ready;
  assign pop = out_valid && out_ready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cnt <= 2'd0;
    end else begin
      cnt <= cnt + {1'b0, push} - {1'b0, pop};
    end
    if (pop) q0 <= q1;
    if (push) begin
      if (cnt == 2'd0 || (cnt == 2'd1 && pop)) q0 <= in_data;
      else q1 <= in_data;
    end
  end
endmodule
