// Stream data width converter IN_WIDTH -> OUT_WIDTH, where one width is a multiple of the
// other (the general LCM case is not supported and is rejected at elaboration; the Python
// side rejects it first). Bits keep their order, LSB first: when upsizing, the first input
// word lands in the least significant bits; when downsizing, the least significant slice of
// an input word leaves first.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style).
// Cycle behaviour: equal widths are a plain wire-through (no register, no latency). Otherwise
// the converter runs at full rate on its wider side (one wide word per RATIO cycles on the
// narrow side, no bubbles) and in_ready is a registered signal that never depends
// combinationally on out_ready.
module dwc #(
    parameter int IN_WIDTH = 8,
    parameter int OUT_WIDTH = 16
) (
    input  logic                 clk,
    input  logic                 rst_n,
    input  logic                 in_valid,
    output logic                 in_ready,
    input  logic [ IN_WIDTH-1:0] in_data,
    output logic                 out_valid,
    input  logic                 out_ready,
    output logic [OUT_WIDTH-1:0] out_data
);
  if (IN_WIDTH == OUT_WIDTH) begin : g_equal
    assign in_ready = out_ready;
    assign out_valid = in_valid;
    assign out_data = in_data;
    // clk and rst_n are part of the uniform stream interface even when unused here.
    logic unused;
    assign unused = &{1'b0, clk, rst_n};
  end else if (OUT_WIDTH % IN_WIDTH == 0) begin : g_up
    localparam int RATIO = OUT_WIDTH / IN_WIDTH;
    localparam int CNT_W = $clog2(RATIO);
    // The first RATIO-1 pieces collect in `parts`; the last one completes the output word.
    logic [OUT_WIDTH-IN_WIDTH-1:0] parts;
    logic [CNT_W-1:0] cnt;
    logic last;
    assign last = cnt == CNT_W'(RATIO - 1);
    assign in_ready = !(last && out_valid);
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        cnt <= '0;
        out_valid <= 1'b0;
      end else begin
        if (out_valid && out_ready) out_valid <= 1'b0;
        if (in_valid && in_ready) begin
          cnt <= last ? '0 : cnt + 1'b1;
          if (last) out_valid <= 1'b1;
        end
      end
      if (in_valid && in_ready) begin
        if (last) out_data <= {in_data, parts};
        else parts <= (OUT_WIDTH - IN_WIDTH)'({in_data, parts} >> IN_WIDTH);
      end
    end
  end else if (IN_WIDTH % OUT_WIDTH == 0) begin : g_down
    localparam int RATIO = IN_WIDTH / OUT_WIDTH;
    localparam int CNT_W = $clog2(RATIO + 1);
    // `hold` takes the next input word while `shreg` is still being sent out.
    logic [IN_WIDTH-1:0] hold, shreg;
    logic hold_valid, load;
    logic [CNT_W-1:0] left;  // slices of shreg still to send
    assign in_ready = !hold_valid;
    assign out_valid = left != '0;
    assign out_data = shreg[OUT_WIDTH-1:0];
    assign load = hold_valid && (left == '0 || (left == CNT_W'(1) && out_ready));
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        hold_valid <= 1'b0;
        left <= '0;
      end else begin
        if (load) left <= CNT_W'(RATIO);
        else if (out_valid && out_ready) left <= left - 1'b1;
        if (in_valid && in_ready) hold_valid <= 1'b1;
        else if (load) hold_valid <= 1'b0;
      end
      if (in_valid && in_ready) hold <= in_data;
      if (load) shreg <= hold;
      else if (out_valid && out_ready) shreg <= shreg >> OUT_WIDTH;
    end
  end else begin : g_bad_ratio
    $error("dwc: one of IN_WIDTH and OUT_WIDTH must be a multiple of the other");
  end
endmodule
