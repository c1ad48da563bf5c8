// Nearest-neighbour upsampling by an integer factor (FINN UpsampleNearestNeighbour with
// HO = SCALE*HI, WO = SCALE*WI).
//
// Input: frames of IN_H x IN_W pixels in NHWC order (pixels row-major, each pixel's
// CHANNELS channels as CF = CHANNELS/SIMD words of SIMD elements), frames back to back.
// Output: frames of OUT_H x OUT_W = (SCALE*IN_H) x (SCALE*IN_W) pixels in the same order,
// output pixel (oy, ox) = input pixel (oy / SCALE, ox / SCALE). So every input row is sent
// SCALE times, and in each of those the CF words of every pixel SCALE times in a row. Only
// the row structure matters: the unit never counts rows, IN_H is only checked.
//
// Storage: two row buffers (ping-pong), 2 * IN_W * CF words of SIMD*WIDTH bits, simple
// dual port with a registered read (block RAM when RAM_STYLE allows). Input row g of the
// stream (counted over all frames) lives in buffer g mod 2. The writer fills the next row
// while the current row is sent; it may start a row once the reader has sent every
// repetition of the row that used that buffer before. The reader sends a word as soon as it
// has been written (word-exact check), so a row is sent while it arrives when the reader
// catches up with the writer (the first row of the stream, or a slow input). Otherwise, with
// SCALE >= 2, every row is complete before the reader needs it; with SCALE = 1 (a plain
// copy) the writer stays one word ahead.
//
// Cycles: one output word per cycle when the output is not back-pressured and the input
// keeps up (it needs only one word per SCALE^2 cycles): frames back to back take exactly
// OUT_H*OUT_W*CF cycles each, for any SCALE >= 1. The first output word is at out_data 3
// cycles after the first input word was taken (registered RAM read, output queue); N frames
// take N*OUT_H*OUT_W*CF + 4 cycles from reset release (in_ready rises 1 cycle after it).
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style); only control state is reset.
// in_ready is a register (it never depends combinationally on out_ready; a 2-entry output
// queue absorbs back-pressure).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : SIMD elements of WIDTH bits, element s of word cf = channel cf*SIMD + s
//   out_data : SIMD elements of WIDTH bits, the same channels of the source pixel
// requires: out_queue.sv
module upsample #(
    parameter int IN_H = 4,
    parameter int IN_W = 4,
    parameter int SCALE = 2,
    parameter int CHANNELS = 2,
    parameter int SIMD = 1,
    parameter int WIDTH = 4,
    // Memory mapping hint for synthesis: "auto", "block" (BRAM) or "distributed" (LUT RAM).
    // Only synthesis reads it (through the ram_style attribute), so lint sees it as unused.
    /* verilator lint_off UNUSEDPARAM */
    parameter string RAM_STYLE = "auto"
    /* verilator lint_on UNUSEDPARAM */
) (
    input  logic                  clk,
    input  logic                  rst_n,
    input  logic                  in_valid,
    output logic                  in_ready,
    input  logic [SIMD*WIDTH-1:0] in_data,
    output logic                  out_valid,
    input  logic                  out_ready,
    output logic [SIMD*WIDTH-1:0] out_data
);
  localparam int CF = CHANNELS / SIMD;
  localparam int ROWW = IN_W * CF;  // words per input row
  localparam int DEPTH = 2 * ROWW;
  localparam int DW = SIMD * WIDTH;
  localparam int AW = $clog2(DEPTH);  // DEPTH >= 2
  localparam int PW = ROWW > 1 ? $clog2(ROWW) : 1;
  localparam int IW_W = IN_W > 1 ? $clog2(IN_W) : 1;
  localparam int S_W = SCALE > 1 ? $clog2(SCALE) : 1;
  localparam int CF_W = CF > 1 ? $clog2(CF) : 1;

  if (SIMD < 1 || CHANNELS < SIMD || CHANNELS % SIMD != 0) begin : g_bad_fold
    $error("upsample: SIMD must divide CHANNELS");
  end
  if (IN_H < 1 || IN_W < 1 || WIDTH < 1) begin : g_bad_size
    $error("upsample: IN_H, IN_W and WIDTH must be at least 1");
  end
  if (SCALE < 1) begin : g_bad_scale
    $error("upsample: SCALE must be at least 1");
  end

  (* ram_style = RAM_STYLE *) logic [DW-1:0] mem[DEPTH];

  // Complete rows written beyond the reader's row R: the writer is filling row R + drows.
  // 0..2; at 2 the writer waits (row R + 2 would overwrite R's buffer).
  logic [1:0] drows, drows_n;

  // ---- Writer: fills the buffers in stream order. ----------------------------------------
  logic wr, wrow_done, wbuf;
  logic [PW-1:0] wpos;  // words of the current input row written so far

  assign wr = in_valid && in_ready;
  assign wrow_done = wr && wpos == PW'(ROWW - 1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wpos <= '0;
      wbuf <= 1'b0;
    end else if (wr) begin
      wpos <= wrow_done ? '0 : wpos + 1'b1;
      if (wrow_done) wbuf <= !wbuf;
    end
  end

  always_ff @(posedge clk) begin
    if (wr) mem[wbuf ? AW'(ROWW) + AW'(wpos) : AW'(wpos)] <= in_data;
  end

  // ---- Reader: for each row SCALE times, for each pixel SCALE times, its CF words. ------
  logic [S_W-1:0] ry;  // vertical repetition of the row
  logic [IW_W-1:0] ix;  // input pixel
  logic [S_W-1:0] sx;  // horizontal repetition of the pixel
  logic [CF_W-1:0] cf;
  logic [PW-1:0] pixbase;  // ix*CF
  logic [PW-1:0] rpos;  // pixbase + cf: word of the row to read
  logic rbuf;
  logic [AW-1:0] raddr;

  logic en;  // the output queue has room: the pipeline may advance
  logic a_valid;
  logic [DW-1:0] a_data;
  logic last_ry, last_ix, last_sx, last_cf, pix_done, rep_done, row_done;
  logic avail, issue, rrow_done;

  logic [S_W-1:0] sx_n;
  logic [IW_W-1:0] ix_n;
  logic [CF_W-1:0] cf_n;
  logic [PW-1:0] pixbase_n;

  assign last_ry = ry == S_W'(SCALE - 1);
  assign last_ix = ix == IW_W'(IN_W - 1);
  assign last_sx = sx == S_W'(SCALE - 1);
  assign last_cf = cf == CF_W'(CF - 1);
  assign pix_done = last_cf && last_sx;
  assign rep_done = pix_done && last_ix;
  assign row_done = rep_done && last_ry;

  // Word (R, rpos) has been written: row R is complete, or the writer is past it.
  assign avail = drows != 2'd0 || wpos > rpos;
  assign issue = en && avail;
  assign rrow_done = issue && row_done;

  always_comb begin
    cf_n = last_cf ? '0 : cf + 1'b1;
    sx_n = sx;
    ix_n = ix;
    pixbase_n = pixbase;
    if (last_cf) sx_n = last_sx ? '0 : sx + 1'b1;
    if (pix_done) begin
      ix_n = last_ix ? '0 : ix + 1'b1;
      pixbase_n = last_ix ? '0 : pixbase + PW'(CF);
    end
  end

  assign drows_n = drows + {1'b0, wrow_done} - {1'b0, rrow_done};

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      ry <= '0;
      ix <= '0;
      sx <= '0;
      cf <= '0;
      pixbase <= '0;
      rpos <= '0;
      rbuf <= 1'b0;
      drows <= 2'd0;
      in_ready <= 1'b0;
    end else begin
      if (issue) begin
        if (rep_done) ry <= last_ry ? '0 : ry + 1'b1;
        if (row_done) rbuf <= !rbuf;
        ix <= ix_n;
        sx <= sx_n;
        cf <= cf_n;
        pixbase <= pixbase_n;
        rpos <= pixbase_n + PW'(cf_n);
      end
      drows <= drows_n;
      in_ready <= drows_n != 2'd2;
    end
  end

  // ---- Registered RAM read (stage A) and 2-entry output queue. --------------------------
  assign raddr = rbuf ? AW'(ROWW) + AW'(rpos) : AW'(rpos);

  always_ff @(posedge clk) begin
    if (!rst_n) a_valid <= 1'b0;
    else if (en) a_valid <= avail;
  end

  always_ff @(posedge clk) begin
    if (issue) a_data <= mem[raddr];
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(DW)) u_queue (
      .clk, .rst_n, .in_valid(a_valid), .in_ready(en), .in_data(a_data), .out_valid,
      .out_ready, .out_data
  );
endmodule
