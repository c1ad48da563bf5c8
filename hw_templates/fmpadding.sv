// Zero padding around a feature map (FINN FMPadding).
//
// Input: frames of IFM_H x IFM_W pixels in NHWC order (pixels row-major, each pixel's
// CHANNELS channels as CF = CHANNELS/SIMD words of SIMD elements), frames back to back.
// Output: the padded frame of (PAD_TOP + IFM_H + PAD_BOTTOM) x (PAD_LEFT + IFM_W + PAD_RIGHT)
// pixels in the same order, padding pixels as CF all-zero words.
//
// Cycles: one output word per cycle (an input word is taken in the cycle its output word is
// produced), so a frame takes OFM_H*OFM_W*CF cycles when not stalled; a word leaves 1 cycle
// after it is produced. The padding before a frame's first input pixel (top rows, left
// columns of the first input row) waits until that frame's first input word is offered
// (in_valid, not yet taken), so the unit never runs ahead into a frame that has not begun
// (after the last frame nothing more comes out); all later padding needs no input.
//
// Reset: rst_n is active-low and synchronous (ap_rst_n style). in_ready is a registered
// signal: it never depends combinationally on out_ready (a 2-entry output queue absorbs it).
//
// Streams (element i at bits [(i+1)*W-1 : i*W]):
//   in_data  : SIMD elements of WIDTH bits, element s of word cf = channel cf*SIMD + s
//   out_data : the same format
// requires: out_queue.sv
module fmpadding #(
    parameter int IFM_H = 4,
    parameter int IFM_W = 4,
    parameter int CHANNELS = 2,
    parameter int SIMD = 1,
    parameter int PAD_TOP = 1,
    parameter int PAD_BOTTOM = 1,
    parameter int PAD_LEFT = 1,
    parameter int PAD_RIGHT = 1,
    parameter int WIDTH = 4
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
  localparam int OFM_H = PAD_TOP + IFM_H + PAD_BOTTOM;
  localparam int OFM_W = PAD_LEFT + IFM_W + PAD_RIGHT;
  localparam int DW = SIMD * WIDTH;
  localparam int OH_W = OFM_H > 1 ? $clog2(OFM_H) : 1;
  localparam int OW_W = OFM_W > 1 ? $clog2(OFM_W) : 1;
  localparam int CF_W = CF > 1 ? $clog2(CF) : 1;

  if (SIMD < 1 || CHANNELS < SIMD || CHANNELS % SIMD != 0) begin : g_bad_fold
    $error("fmpadding: SIMD must divide CHANNELS");
  end
  if (IFM_H < 1 || IFM_W < 1 || WIDTH < 1) begin : g_bad_size
    $error("fmpadding: IFM_H, IFM_W and WIDTH must be at least 1");
  end
  if (PAD_TOP < 0 || PAD_BOTTOM < 0 || PAD_LEFT < 0 || PAD_RIGHT < 0) begin : g_bad_pad
    $error("fmpadding: padding amounts must not be negative");
  end

  logic en, push, word_valid;  // en: the output queue has room

  logic [OH_W-1:0] oh, oh_n;
  logic [OW_W-1:0] ow, ow_n;
  logic [CF_W-1:0] cf;
  logic last_cf, last_ow, last_oh;
  logic row_in, col_in;  // the current output pixel is an input pixel (registered)
  logic in_pix;
  logic begun;  // the current frame has produced a word (its first input word was offered)
  logic [DW-1:0] word;

  assign in_pix = row_in && col_in;
  assign in_ready = en && in_pix;
  // An input word needs its input; a padding word needs none, once the frame has begun.
  assign word_valid = in_valid || (!in_pix && begun);
  assign push = en && word_valid;
  assign word = in_pix ? in_data : '0;

  assign last_cf = cf == CF_W'(CF - 1);
  assign last_ow = ow == OW_W'(OFM_W - 1);
  assign last_oh = oh == OH_W'(OFM_H - 1);

  always_comb begin
    ow_n = ow;
    oh_n = oh;
    if (last_cf) begin
      ow_n = last_ow ? '0 : ow + 1'b1;
      if (last_ow) oh_n = last_oh ? '0 : oh + 1'b1;
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      oh <= '0;
      ow <= '0;
      cf <= '0;
      row_in <= PAD_TOP == 0;
      col_in <= PAD_LEFT == 0;
      begun <= 1'b0;
    end else if (push) begin
      begun <= !(last_cf && last_ow && last_oh);
      cf <= last_cf ? '0 : cf + 1'b1;
      ow <= ow_n;
      oh <= oh_n;
      row_in <= int'(oh_n) >= PAD_TOP && int'(oh_n) < PAD_TOP + IFM_H;
      col_in <= int'(ow_n) >= PAD_LEFT && int'(ow_n) < PAD_LEFT + IFM_W;
    end
  end

  // Output queue (out_queue.sv): en is a register output, independent of out_ready.
  out_queue #(.WIDTH(DW)) u_queue (
      .clk, .rst_n, .in_valid(word_valid), .in_ready(en), .in_data(word), .out_valid,
      .out_ready, .out_data
  );
endmodule
