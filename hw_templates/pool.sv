// Max pooling over a depthwise window stream (FINN Pool with MaxPool, fed by a depthwise
// sliding window).
//
// For each output pixel and channel c: y[c] = max_k x[k][c] over the K window positions.
// The input is in depthwise order (as for vvau.sv): for each of the CF = CHANNELS/PE channel
// folds, K words of PE channels, one per window position. Each group of K words yields one
// output word of PE maxima, so a pixel is K*CF input words and CF output words; pixels
// follow each other without limit at one input word per cycle.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it never depends combinationally on out_ready (a 2-entry output queue absorbs it).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : PE elements of WIDTH bits, element p of word cf*K + k = x[k][cf*PE + p]
//   out_data : PE elements of WIDTH bits, element p of word cf = y[cf*PE + p]
// requires: out_queue.sv
module pool #(
    parameter int CHANNELS = 4,
    parameter int K = 4,
    parameter int PE = 1,
    parameter int WIDTH = 8,
    parameter bit SIGNED = 1'b0
) (
    input  logic                clk,
    input  logic                rst_n,
    input  logic                in_valid,
    output logic                in_ready,
    input  logic [PE*WIDTH-1:0] in_data,
    output logic                out_valid,
    input  logic                out_ready,
    output logic [PE*WIDTH-1:0] out_data
);
  localparam int K_W = K > 1 ? $clog2(K) : 1;
  localparam int OW = PE * WIDTH;

  if (PE < 1 || CHANNELS % PE != 0) begin : g_bad_fold
    $error("pool: PE must divide CHANNELS");
  end
  if (K < 1) begin : g_bad_k
    $error("pool: K must be at least 1");
  end

  logic en, accept, first, last;  // the output queue has room: the pipeline may advance

  logic [K_W-1:0] k;
  logic [OW-1:0] best, cand;

  assign in_ready = en;
  assign accept = in_valid && en;
  assign first = k == '0;
  assign last = k == K_W'(K - 1);

  // Running maximum of the words of this group so far, combined with the new word.
  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [WIDTH-1:0] xe, be;
    logic signed [WIDTH:0] xs, bs;  // both as signed numbers, whatever SIGNED
    assign xe = in_data[p*WIDTH+:WIDTH];
    assign be = best[p*WIDTH+:WIDTH];
    assign xs = {SIGNED ? xe[WIDTH-1] : 1'b0, xe};
    assign bs = {SIGNED ? be[WIDTH-1] : 1'b0, be};
    assign cand[p*WIDTH+:WIDTH] = first || xs > bs ? xe : be;
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      k <= '0;
    end else if (accept) begin
      k <= last ? '0 : k + 1'b1;
    end
    if (accept) best <= cand;
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(OW)) u_queue (
      .clk, .rst_n, .in_valid(in_valid && last), .in_ready(en), .in_data(cand), .out_valid,
      .out_ready, .out_data
  );
endmodule
