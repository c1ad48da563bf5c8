// Top-1 label select (FINN LabelSelect with K = 1): the index of the largest of NUM_LABELS
// values; ties go to the lowest index, like numpy.argmax.
//
// A frame is NF = NUM_LABELS/PE input words; after its last word one output word carries the
// index (zero-extended to OUT_WIDTH bits). Frames follow each other at one word per cycle.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it never depends combinationally on out_ready (a 2-entry output queue absorbs it).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : PE elements of IN_WIDTH bits, element p of word f is label f*PE + p
//   out_data : OUT_WIDTH bits, the winning label index (unsigned)
// requires: out_queue.sv
module label_select #(
    parameter int NUM_LABELS = 10,
    parameter int PE = 1,
    parameter int IN_WIDTH = 8,
    parameter bit IN_SIGNED = 1'b1,
    parameter int OUT_WIDTH = NUM_LABELS > 1 ? $clog2(NUM_LABELS) : 1
) (
    input  logic                   clk,
    input  logic                   rst_n,
    input  logic                   in_valid,
    output logic                   in_ready,
    input  logic [PE*IN_WIDTH-1:0] in_data,
    output logic                   out_valid,
    input  logic                   out_ready,
    output logic [  OUT_WIDTH-1:0] out_data
);
  localparam int NF = NUM_LABELS / PE;
  localparam int NF_W = NF > 1 ? $clog2(NF) : 1;
  localparam int XW = IN_WIDTH + 1;  // values as signed numbers, whatever IN_SIGNED
  localparam int IDX_W = OUT_WIDTH;

  if (NUM_LABELS % PE != 0) begin : g_bad_fold
    $error("label_select: PE must divide NUM_LABELS");
  end
  if (OUT_WIDTH < 1 || (NUM_LABELS > 1 && OUT_WIDTH < $clog2(NUM_LABELS))) begin : g_bad_out
    $error("label_select: OUT_WIDTH cannot hold NUM_LABELS-1");
  end

  logic en;  // the output queue has room: the pipeline may advance

  logic [NF_W-1:0] f;
  logic signed [XW-1:0] best_v, cand_v;
  logic [IDX_W-1:0] best_i, cand_i;
  logic accept, last;

  assign in_ready = en;
  assign accept = in_valid && en;
  assign last = f == NF_W'(NF - 1);

  // Winner of this word combined with the running winner of the earlier words; strict '>'
  // keeps the lowest index on ties because earlier labels are seen first.
  always_comb begin
    cand_v = best_v;
    cand_i = best_i;
    for (int p = 0; p < PE; p++) begin
      logic [IN_WIDTH-1:0] xe;
      logic signed [XW-1:0] xs;
      xe = in_data[p*IN_WIDTH+:IN_WIDTH];
      xs = {IN_SIGNED ? xe[IN_WIDTH-1] : 1'b0, xe};
      if ((f == '0 && p == 0) || xs > cand_v) begin
        cand_v = xs;
        cand_i = IDX_W'(f) * IDX_W'(PE) + IDX_W'(p);
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      f <= '0;
    end else if (accept) begin
      f <= last ? '0 : f + 1'b1;
    end
    if (accept) begin
      best_v <= cand_v;
      best_i <= cand_i;
    end
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(OUT_WIDTH)) u_queue (
      .clk, .rst_n, .in_valid(in_valid && last), .in_ready(en), .in_data(cand_i),
      .out_valid, .out_ready, .out_data
  );
endmodule
