// Multi-threshold activation (FINN Thresholding).
//
// For each element x of channel c: y = OUT_BIAS + #{k : x >= T[c][k]}, with NUM_STEPS
// thresholds per channel sorted ascending, reduced to OUT_WIDTH bits. Input words carry PE
// channels; CF = CHANNELS/PE words make one pixel, and pixels follow each other without
// limit (one word per cycle when not stalled).
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it never depends combinationally on out_ready (a 2-entry output queue absorbs it).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : PE elements of IN_WIDTH bits, element p of word cf is channel cf*PE + p
//   out_data : PE elements of OUT_WIDTH bits, same channel order
// Threshold file ($readmemh, one hex line per fold cf, CF lines): PE*NUM_STEPS*THR_WIDTH bits,
// element p*NUM_STEPS + k = T[cf*PE + p][k] (flow/hw/memfiles.threshold_lines). Thresholds
// have the signedness of the input (IN_SIGNED).
// requires: out_queue.sv
module thresholding #(
    parameter int CHANNELS = 4,
    parameter int PE = 1,
    parameter int IN_WIDTH = 8,
    parameter bit IN_SIGNED = 1'b1,
    parameter int NUM_STEPS = 15,
    parameter int THR_WIDTH = 8,
    parameter int OUT_WIDTH = 4,
    parameter bit OUT_SIGNED = 1'b0,
    parameter int OUT_BIAS = 0,
    parameter string THRESHOLD_FILE = "thresholds.mem",
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
    output logic [PE*OUT_WIDTH-1:0] out_data
);
  localparam int CF = CHANNELS / PE;
  localparam int CF_W = CF > 1 ? $clog2(CF) : 1;
  // Both sides of a comparison as signed numbers one bit wider than the wider of them.
  localparam int CW = (IN_WIDTH > THR_WIDTH ? IN_WIDTH : THR_WIDTH) + 1;
  localparam int OW = PE * OUT_WIDTH;
  localparam longint OUT_MIN = OUT_SIGNED ? -(64'sd1 <<< (OUT_WIDTH - 1)) : 64'sd0;
  localparam longint OUT_MAX = OUT_SIGNED ? (64'sd1 <<< (OUT_WIDTH - 1)) - 1
                                          : (64'sd1 <<< OUT_WIDTH) - 1;

  if (CHANNELS % PE != 0) begin : g_bad_fold
    $error("thresholding: PE must divide CHANNELS");
  end
  if (longint'(OUT_BIAS) < OUT_MIN || longint'(OUT_BIAS) + longint'(NUM_STEPS) > OUT_MAX) begin : g_bad_out
    $error("thresholding: OUT_BIAS..OUT_BIAS+NUM_STEPS does not fit OUT_WIDTH/OUT_SIGNED");
  end

  (* rom_style = ROM_STYLE *) logic [PE*NUM_STEPS*THR_WIDTH-1:0] trom[CF];
  initial $readmemh(THRESHOLD_FILE, trom);

  logic en;  // the output queue has room: the pipeline may advance
  logic [OW-1:0] result;

  logic [CF_W-1:0] cf;
  logic a_valid;
  logic [PE*IN_WIDTH-1:0] a_x;
  logic [PE*NUM_STEPS*THR_WIDTH-1:0] a_t;

  assign in_ready = en;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      cf <= '0;
      a_valid <= 1'b0;
    end else if (en) begin
      a_valid <= in_valid;
      if (in_valid) cf <= cf == CF_W'(CF - 1) ? '0 : cf + 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (en && in_valid) begin
      a_x <= in_data;
      a_t <= trom[cf];
    end
  end

  for (genvar p = 0; p < PE; p++) begin : g_pe
    logic [OUT_WIDTH-1:0] y;
    always_comb begin
      logic [IN_WIDTH-1:0] xe;
      logic signed [CW-1:0] xs;
      xe = a_x[p*IN_WIDTH+:IN_WIDTH];
      xs = IN_SIGNED ? CW'($signed(xe)) : CW'($signed({1'b0, xe}));
      y = OUT_WIDTH'(OUT_BIAS);
      for (int k = 0; k < NUM_STEPS; k++) begin
        logic [THR_WIDTH-1:0] te;
        logic signed [CW-1:0] ts;
        te = a_t[(p*NUM_STEPS+k)*THR_WIDTH+:THR_WIDTH];
        ts = IN_SIGNED ? CW'($signed(te)) : CW'($signed({1'b0, te}));
        y = y + OUT_WIDTH'(xs >= ts);
      end
    end
    assign result[p*OUT_WIDTH+:OUT_WIDTH] = y;
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(OW)) u_queue (
      .clk, .rst_n, .in_valid(a_valid), .in_ready(en), .in_data(result), .out_valid,
      .out_ready, .out_data
  );
endmodule
