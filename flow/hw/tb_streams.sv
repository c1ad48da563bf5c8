// The parts of the stream testbench of flow/hw/streamsim.py: a stall generator, a source
// per input stream, a sink per output stream and the control (clock, reset, cycle count,
// end of the run). streamsim.ports_testbench generates only the top that wires them to the
// device under test, one source or sink per stream.
//
// Run-time plusargs (all read here): +stats=FILE +max_cycles=N +seed=N; per input i<k>
// +i<k>=FILE (hex words, one a line); per output o<k> +o<k>=FILE +o<k>_n=N (words expected);
// per stream optional +<name>_bits=B +<name>_thr=T: a stall (no word offered, or ready
// low) with probability T / 2^B in each cycle.
//
// One xorshift32 generator draws every stall: each cycle its state passes through the
// inputs in order, then the outputs (rng_in -> rng_out), and each stream that draws steps
// it once, so a seed gives the same stall pattern on every simulator. An input offering a
// word that has not been taken does not draw (the word stays offered: stream protocol).
//
// The stats file gets "status ok|timeout" and "cycles N" (from reset release to the last
// expected output handshake), then per input "<name>_consumed N" (words the DUT took) and
// per output "<name>_got N" and "<name>_extra N" (words after the expected last one,
// watched for DRAIN cycles after every output has its words).

package a2q_tb;
  // xorshift32: one step of the stall generator.
  function automatic int unsigned step(int unsigned x);
    x = x ^ (x << 13);
    x = x ^ (x >> 17);
    return x ^ (x << 5);
  endfunction

  // A stall with probability thr / 2^bits (never when thr is 0).
  function automatic bit stalls(int unsigned x, int bits, int unsigned thr);
    return thr != 0 && (x & ((32'd1 << bits) - 1)) < thr;
  endfunction

  // Appends one "key value" line to the stats file (written first by the control).
  function automatic void stat(string key, int value);
    string path;
    int fd;
    if (!$value$plusargs("stats=%s", path)) return;
    fd = $fopen(path, "a");
    if (fd == 0) return;
    $fwrite(fd, "%s %0d\n", key, value);
    $fclose(fd);
  endfunction
endpackage

// Clock, reset, the generator's state, the cycle count and the end of the run.
module a2q_tb_control #(
    parameter int N_OUT = 1
) (
    output logic clk,
    output logic rst_n,
    output int unsigned rng,  // the generator's state at the start of a cycle
    input int unsigned rng_next,  // after the last stream
    input bit [N_OUT-1:0] done,  // each output has its words (registered)
    input bit [N_OUT-1:0] done_next  // and after this cycle's handshakes
);
  localparam int DRAIN = 32;
  typedef enum int {RUNNING, OK, TIMEOUT} state_t;

  state_t state = RUNNING;
  string stats_path;
  longint max_cycles, cycles = 0;
  int seed, drain = 0;

  initial begin
    clk = 1'b0;
    rst_n = 1'b0;
    if (!$value$plusargs("stats=%s", stats_path)
        || !$value$plusargs("max_cycles=%d", max_cycles)) begin
      $fatal(1, "missing plusargs");
    end
    if (!$value$plusargs("seed=%d", seed)) seed = 1;
    rng = int'(seed) * 32'h9E3779B9 + 32'h1234567;
    if (rng == 0) rng = 1;
    repeat (4) @(posedge clk);
    @(negedge clk) rst_n = 1'b1;
  end

  always #5 clk = ~clk;

  always @(posedge clk) begin
    if (rst_n && state == RUNNING) begin
      longint counted;
      counted = cycles + longint'(!(&done));
      rng <= rng_next;
      cycles <= counted;
      if (&done_next) begin
        drain <= drain + 1;
        if (drain + 1 > DRAIN) state <= OK;
      end else if (counted >= max_cycles) begin
        state <= TIMEOUT;
      end
    end
  end

  // The streams add their own lines from their final blocks.
  always @(negedge clk) begin
    if (state != RUNNING) begin
      int fd;
      fd = $fopen(stats_path, "w");
      $fwrite(fd, "status %s\ncycles %0d\n", state == OK ? "ok" : "timeout", cycles);
      $fclose(fd);
      $finish;
    end
  end
endmodule

// Offers the words of +NAME=FILE, in order, with random gaps.
module a2q_tb_source #(
    parameter int WIDTH = 8,
    parameter string NAME = "i0"
) (
    input logic clk,
    input logic rst_n,
    input int unsigned rng_in,
    output int unsigned rng_out,
    output logic valid,
    input logic ready,
    output logic [WIDTH-1:0] data
);
  logic [WIDTH-1:0] words[$];
  logic v = 1'b0;
  logic [WIDTH-1:0] d = '0;
  int consumed = 0, bits, thr;
  bit hold;
  int unsigned r;

  initial begin
    int fd, n;
    string path;
    logic [WIDTH-1:0] w;
    if (!$value$plusargs({NAME, "=%s"}, path)) $fatal(1, "missing +%s", NAME);
    if (!$value$plusargs({NAME, "_bits=%d"}, bits)) bits = 0;
    if (!$value$plusargs({NAME, "_thr=%d"}, thr)) thr = 0;
    fd = $fopen(path, "r");
    if (fd == 0) $fatal(1, "cannot open %s", path);
    while (!$feof(fd)) begin
      n = $fscanf(fd, "%h\n", w);
      if (n == 1) words.push_back(w);
    end
    $fclose(fd);
  end

  assign valid = v;
  assign data = d;
  assign hold = v && !ready;
  assign r = a2q_tb::step(rng_in);
  assign rng_out = hold ? rng_in : r;

  always @(posedge clk) begin
    if (rst_n) begin
      int taken;
      taken = consumed + int'(v && ready);
      consumed <= taken;
      if (!hold) begin
        if (taken < words.size() && !a2q_tb::stalls(r, bits, thr)) begin
          v <= 1'b1;
          d <= words[taken];
        end else begin
          v <= 1'b0;
        end
      end
    end
  end

  final a2q_tb::stat({NAME, "_consumed"}, consumed);
endmodule

// Writes the first +NAME_n=N words it receives to +NAME=FILE, with random back-pressure
// until then; later words are counted as extra.
module a2q_tb_sink #(
    parameter int WIDTH = 8,
    parameter string NAME = "o0"
) (
    input logic clk,
    input logic rst_n,
    input int unsigned rng_in,
    output int unsigned rng_out,
    input logic valid,
    output logic ready,
    input logic [WIDTH-1:0] data,
    output bit done,
    output bit done_next
);
  logic rdy = 1'b0;
  bit dn;
  int fd, n, got = 0, extra = 0, bits, thr;

  initial begin
    string path;
    if (!$value$plusargs({NAME, "=%s"}, path) || !$value$plusargs({NAME, "_n=%d"}, n)) begin
      $fatal(1, "missing +%s or +%s_n", NAME, NAME);
    end
    if (!$value$plusargs({NAME, "_bits=%d"}, bits)) bits = 0;
    if (!$value$plusargs({NAME, "_thr=%d"}, thr)) thr = 0;
    dn = n == 0;
    fd = $fopen(path, "w");
    if (fd == 0) $fatal(1, "cannot open %s", path);
  end

  assign ready = rdy;
  assign done = dn;
  assign done_next = dn || (valid && rdy && got + 1 == n);
  assign rng_out = a2q_tb::step(rng_in);

  always @(posedge clk) begin
    if (rst_n) begin
      if (valid && rdy) begin
        if (dn) begin
          extra <= extra + 1;
        end else begin
          $fwrite(fd, "%h\n", data);
          got <= got + 1;
        end
      end
      dn <= done_next;
      rdy <= done_next || !a2q_tb::stalls(rng_out, bits, thr);
    end
  end

  final begin
    $fclose(fd);
    a2q_tb::stat({NAME, "_got"}, got);
    a2q_tb::stat({NAME, "_extra"}, extra);
  end
endmodule
