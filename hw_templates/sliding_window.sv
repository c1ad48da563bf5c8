// Sliding window generator (FINN ConvolutionInputGenerator, dilation 1): im2col on a stream.
//
// Input: frames of IFM_H x IFM_W pixels in NHWC order (pixels row-major, each pixel's
// CHANNELS channels as CF = CHANNELS/SIMD words of SIMD elements), frames back to back.
// Output, for every output pixel (oh, ow) of the OFM_H x OFM_W map in row-major order
// (OFM_H = (IFM_H-K_H)/STRIDE_H + 1, OFM_W likewise; no padding), the K_H x K_W window at
// input pixel (oh*STRIDE_H, ow*STRIDE_W) as K_H*K_W*CF words:
//   DEPTHWISE = 0: for kh, for kw, for cf  (FINN's im2col (kh, kw, c) order, for an MVAU)
//   DEPTHWISE = 1: for cf, for kh, for kw  (channel-fold major, for a depthwise/pooling unit
//                  that keeps only SIMD accumulators)
// Input rows below the last window (IFM_H - K_H not a multiple of STRIDE_H) and columns
// right of it are consumed and never sent.
//
// Storage: a line buffer, a ring of NROWS = K_H + STRIDE_H input rows, i.e.
// (K_H + STRIDE_H) * IFM_W * CF words of SIMD*WIDTH bits, simple dual port with a
// registered read (block RAM when RAM_STYLE allows). Input row g of the stream (counted
// over all frames) lives in ring row g mod NROWS, so the write address just counts round.
// The writer may fill the ring row of stream row g once every window that needs row
// g - NROWS has been sent: it runs up to STRIDE_H rows ahead of the current window row, i.e.
// it loads the next output row's new input rows while the current one is read out. The
// reader sends a word as soon as that word has been written (word-exact check), so output
// overlaps input; with DEPTHWISE = 0 a window that covers the whole map streams through at
// the input rate.
//
// Cycles (IN = IFM_H*IFM_W*CF input and OUT = OFM_H*OFM_W*K_H*K_W*CF output words a frame):
// one output word per cycle whenever that word has been written and the queue has room, one
// input word per cycle while the ring has room. Unstalled with frames back to back, a frame
// takes about max(IN, OUT) cycles (FINN's model), plus, when the output side is the
// bottleneck, a refill gap at frame starts: when a frame's last window row is read the ring
// holds only STRIDE_H - R rows of the next frame (R = (IFM_H-K_H) mod STRIDE_H unused rows),
// so its first windows wait for at most GAP = max(0, K_H - STRIDE_H + R)*IFM_W*CF input
// words (typically a few words per frame; nearly a frame with DEPTHWISE = 1 and K_H = IFM_H,
// whose first word needs the window's last row). Checked bound (tests, README):
//   cycles(N frames) <= N*max(IN, OUT + GAP) + K_H*IFM_W*CF + 8.
// Latency: a word is at out_data 2 cycles after it is issued (registered RAM read, queue).
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style); only control state is reset.
// in_ready is a register (it never depends combinationally on out_ready; a 2-entry output
// queue absorbs back-pressure).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : SIMD elements of WIDTH bits, element s of word cf = channel cf*SIMD + s
//   out_data : SIMD elements of WIDTH bits, the same channels of the window pixel
// requires: out_queue.sv
module sliding_window #(
    parameter int IFM_H = 5,
    parameter int IFM_W = 5,
    parameter int CHANNELS = 4,
    parameter int SIMD = 2,
    parameter int K_H = 3,
    parameter int K_W = 3,
    parameter int STRIDE_H = 1,
    parameter int STRIDE_W = 1,
    parameter int WIDTH = 4,
    parameter bit DEPTHWISE = 1'b0,
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
  localparam int OFM_H = (IFM_H - K_H) / STRIDE_H + 1;
  localparam int OFM_W = (IFM_W - K_W) / STRIDE_W + 1;
  localparam int NROWS = K_H + STRIDE_H;  // ring rows
  localparam int ROWW = IFM_W * CF;  // words per input row
  localparam int DEPTH = NROWS * ROWW;  // ring words
  // Input rows from the first row of a frame's last window row to the next frame's row 0.
  localparam int JUMP = IFM_H - (OFM_H - 1) * STRIDE_H;
  localparam int DW = SIMD * WIDTH;
  localparam int AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
  localparam int PW = ROWW > 1 ? $clog2(ROWW) : 1;
  localparam int OH_W = OFM_H > 1 ? $clog2(OFM_H) : 1;
  localparam int OW_W = OFM_W > 1 ? $clog2(OFM_W) : 1;
  localparam int KH_W = K_H > 1 ? $clog2(K_H) : 1;
  localparam int KW_W = K_W > 1 ? $clog2(K_W) : 1;
  localparam int CF_W = CF > 1 ? $clog2(CF) : 1;
  // Signed distance (in rows) of the writer ahead of the current window row: -STRIDE_H..NROWS.
  localparam int DCW = $clog2(NROWS + 1) + 2;
  localparam logic signed [DCW-1:0] D_NROWS = DCW'(NROWS);
  localparam logic signed [DCW-1:0] D_STRIDE = DCW'(STRIDE_H);
  localparam logic signed [DCW-1:0] D_JUMP = DCW'(JUMP);
  localparam logic [AW:0] A_DEPTH = (AW + 1)'(DEPTH);
  localparam logic [AW:0] A_ROW = (AW + 1)'(ROWW);
  localparam logic [AW:0] A_STRIDE = (AW + 1)'(STRIDE_H * ROWW);
  localparam logic [AW:0] A_JUMP = (AW + 1)'(JUMP * ROWW);

  if (SIMD < 1 || CHANNELS < SIMD || CHANNELS % SIMD != 0) begin : g_bad_fold
    $error("sliding_window: SIMD must divide CHANNELS");
  end
  if (K_H < 1 || K_W < 1 || K_H > IFM_H || K_W > IFM_W) begin : g_bad_kernel
    $error("sliding_window: the kernel K_H x K_W must fit in the input map IFM_H x IFM_W");
  end
  if (STRIDE_H < 1 || STRIDE_W < 1 || WIDTH < 1) begin : g_bad_stride
    $error("sliding_window: STRIDE_H, STRIDE_W and WIDTH must be at least 1");
  end

  (* ram_style = RAM_STYLE *) logic [DW-1:0] mem[DEPTH];

  // ---- Writer: fills the ring in stream order. -----------------------------------------
  logic wr, wrow_done;
  logic [PW-1:0] wpos;  // words of the current input row written so far
  logic [AW-1:0] waddr;

  assign wr = in_valid && in_ready;
  assign wrow_done = wr && wpos == PW'(ROWW - 1);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wpos  <= '0;
      waddr <= '0;
    end else if (wr) begin
      wpos  <= wrow_done ? '0 : wpos + 1'b1;
      waddr <= waddr == AW'(DEPTH - 1) ? '0 : waddr + 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (wr) mem[waddr] <= in_data;
  end

  // ---- Reader: walks the windows; issues a word once it has been written. ---------------
  logic [OH_W-1:0] oh;
  logic [OW_W-1:0] ow;
  logic [KH_W-1:0] kh;
  logic [KW_W-1:0] kw;
  logic [CF_W-1:0] cf;
  logic [PW-1:0] colbase;  // (ow*STRIDE_W)*CF: first word of the window in its rows
  logic [PW-1:0] kwoff;  // kw*CF
  logic [PW-1:0] rpos;  // colbase + kwoff + cf: word of the current row to read
  logic [AW-1:0] rbase0;  // ring address of the window's first row (stream row R)
  logic [AW-1:0] rbase;  // ring address of row R + kh
  logic [AW-1:0] raddr;
  logic signed [DCW-1:0] drows;  // complete rows written beyond R (row R + drows is partial)
  logic signed [DCW-1:0] khs;

  logic en;  // the output queue has room: the pipeline may advance
  logic a_valid;
  logic [DW-1:0] a_data;
  logic last_oh, last_ow, last_kh, last_kw, last_cf;
  logic inc_kh, inc_kw, inc_cf, win_done, row_done;
  logic avail, issue, rrow_done;

  logic [OW_W-1:0] ow_n;
  logic [KH_W-1:0] kh_n;
  logic [KW_W-1:0] kw_n;
  logic [CF_W-1:0] cf_n;
  logic [PW-1:0] colbase_n, kwoff_n;
  logic [AW-1:0] rbase0_n, rbase_n;
  logic [AW:0] rbase0_sum, rbase_sum;
  logic signed [DCW-1:0] drows_n;

  assign last_oh = oh == OH_W'(OFM_H - 1);
  assign last_ow = ow == OW_W'(OFM_W - 1);
  assign last_kh = kh == KH_W'(K_H - 1);
  assign last_kw = kw == KW_W'(K_W - 1);
  assign last_cf = cf == CF_W'(CF - 1);

  // Loop order inside a window: which counters advance with this word.
  if (DEPTHWISE) begin : g_dw_order
    // for cf: for kh: for kw
    assign inc_kw = 1'b1;
    assign inc_kh = last_kw;
    assign inc_cf = last_kw && last_kh;
  end else begin : g_std_order
    // for kh: for kw: for cf
    assign inc_cf = 1'b1;
    assign inc_kw = last_cf;
    assign inc_kh = last_cf && last_kw;
  end
  assign win_done = last_cf && last_kw && last_kh;
  assign row_done = win_done && last_ow;

  // Word (R + kh, rpos) has been written: its row is complete, or it is the writer's row and
  // the writer is past it.
  assign khs = DCW'(kh);
  assign avail = drows > khs || (drows == khs && wpos > rpos);
  assign issue = en && avail;
  assign rrow_done = issue && row_done;

  always_comb begin
    kh_n = inc_kh ? (last_kh ? '0 : kh + 1'b1) : kh;
    kw_n = inc_kw ? (last_kw ? '0 : kw + 1'b1) : kw;
    cf_n = inc_cf ? (last_cf ? '0 : cf + 1'b1) : cf;
    kwoff_n = inc_kw ? (last_kw ? '0 : kwoff + PW'(CF)) : kwoff;
    ow_n = ow;
    colbase_n = colbase;
    if (win_done) begin
      ow_n = last_ow ? '0 : ow + 1'b1;
      colbase_n = last_ow ? '0 : colbase + PW'(STRIDE_W * CF);
    end
    // Next window row: STRIDE_H rows down, or to row 0 of the next frame.
    rbase0_sum = {1'b0, rbase0} + (last_oh ? A_JUMP : A_STRIDE);
    rbase0_n = rbase0;
    if (row_done) rbase0_n = AW'(rbase0_sum >= A_DEPTH ? rbase0_sum - A_DEPTH : rbase0_sum);
    rbase_sum = {1'b0, rbase} + A_ROW;
    if (inc_kh && !last_kh) rbase_n = AW'(rbase_sum >= A_DEPTH ? rbase_sum - A_DEPTH : rbase_sum);
    else if (inc_kh) rbase_n = rbase0_n;
    else rbase_n = rbase;
  end

  always_comb begin
    drows_n = drows;
    if (wrow_done) drows_n = drows_n + DCW'(1);
    if (rrow_done) drows_n = drows_n - (last_oh ? D_JUMP : D_STRIDE);
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      oh <= '0;
      ow <= '0;
      kh <= '0;
      kw <= '0;
      cf <= '0;
      colbase <= '0;
      kwoff <= '0;
      rpos <= '0;
      rbase0 <= '0;
      rbase <= '0;
      drows <= '0;
      in_ready <= 1'b0;
    end else begin
      if (issue) begin
        if (row_done) oh <= last_oh ? '0 : oh + 1'b1;
        ow <= ow_n;
        kh <= kh_n;
        kw <= kw_n;
        cf <= cf_n;
        colbase <= colbase_n;
        kwoff <= kwoff_n;
        rpos <= colbase_n + kwoff_n + PW'(cf_n);
        rbase0 <= rbase0_n;
        rbase <= rbase_n;
      end
      drows <= drows_n;
      // The writer's row (R + drows) must not reuse the ring row of a row still needed.
      in_ready <= drows_n < D_NROWS;
    end
  end

  // ---- Registered RAM read (stage A) and 2-entry output queue. --------------------------
  assign raddr = rbase + AW'(rpos);

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
