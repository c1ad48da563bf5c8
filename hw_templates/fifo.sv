// Stream FIFO of DEPTH words of WIDTH bits (first-word fall-through).
//
// DEPTH must be at least 2; DEPTH = 2 is the register slice (full throughput, and both
// in_ready and out_valid are registered, which cuts combinational paths between neighbours).
// Storage is a circular buffer with an asynchronous read port, which Yosys maps to LUT RAM
// (or flip-flops for tiny depths); very deep FIFOs therefore cost LUT RAM, not block RAM.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style); it empties the FIFO.
// Cycle behaviour: a word written in cycle t is visible at out_data in cycle t+1; one word in
// and one word out per cycle; in_ready = not full, out_valid = not empty, both registered.
module fifo #(
    parameter int DEPTH = 2,
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
  localparam int PTR_W = $clog2(DEPTH);
  localparam int CNT_W = $clog2(DEPTH + 1);

  if (DEPTH < 2) begin : g_bad_depth
    $error("fifo: DEPTH must be at least 2");
  end

  logic [WIDTH-1:0] mem[DEPTH];
  logic [PTR_W-1:0] wp, rp;
  logic [CNT_W-1:0] cnt;
  logic push, pop;

  assign in_ready = cnt != CNT_W'(DEPTH);
  assign out_valid = cnt != '0;
  assign out_data = mem[rp];
  assign push = in_valid && in_ready;
  assign pop = out_valid && out_ready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wp <= '0;
      rp <= '0;
      cnt <= '0;
    end else begin
      if (push) wp <= wp == PTR_W'(DEPTH - 1) ? '0 : wp + 1'b1;
      if (pop) rp <= rp == PTR_W'(DEPTH - 1) ? '0 : rp + 1'b1;
      cnt <= cnt + CNT_W'(push) - CNT_W'(pop);
    end
  end

  always_ff @(posedge clk) begin
    if (push) mem[wp] <= in_data;
  end
endmodule
