// A simulation model of the ECP5's DP16KD block RAM for the netlist check (sim.rtl): Yosys
// ships the cell as a black box only (lattice/cells_sim_ecp5.v). It models the configuration
// that Yosys' memory mapping (lattice/brams_map_16kd.v) gives the gateware's memories, and
// sim.rtl refuses a netlist with any other (DATA_WIDTH 18 or 9 on each port, REGMODE NOREG,
// CSDECODE 0b000): 1,024 words of 18 bits, the word address on AD13..AD4, AD1 and AD0 the
// byte enables (bits 17..9 and 8..0) of a write; or, 9 bits wide, 2,048 words on
// AD13..AD3, word a the half a % 2 (bits 17..9 or 8..0) of 18-bit word a / 2, data on
// DI8..DI0 and DO8..DO0 (brams_map_16kd.v's INIT is the 18-bit words whatever the width);
// read data registered on the clock (CE enabling), WRITEMODE NORMAL (the read data kept),
// WRITETHROUGH (the new word) or READBEFOREWRITE (the old word), RST clearing the read
// data; INITVAL_xx holds words 16 xx .. 16 xx + 15, 20 bits each, 18 used (as
// brams_map_16kd.v's init_slice writes them).
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output reg DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output reg DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
  parameter DATA_WIDTH_A = 18;
  parameter DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC";
  parameter ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000";
  parameter CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL";
  parameter WRITEMODE_B = "NORMAL";
  parameter GSR = "ENABLED";
  parameter CLKAMUX = "CLKA";
  parameter CLKBMUX = "CLKB";
  parameter INITVAL_00 = 320'h0;
  parameter INITVAL_01 = 320'h0;
  parameter INITVAL_02 = 320'h0;
  parameter INITVAL_03 = 320'h0;
  parameter INITVAL_04 = 320'h0;
  parameter INITVAL_05 = 320'h0;
  parameter INITVAL_06 = 320'h0;
  parameter INITVAL_07 = 320'h0;
  parameter INITVAL_08 = 320'h0;
  parameter INITVAL_09 = 320'h0;
  parameter INITVAL_0A = 320'h0;
  parameter INITVAL_0B = 320'h0;
  parameter INITVAL_0C = 320'h0;
  parameter INITVAL_0D = 320'h0;
  parameter INITVAL_0E = 320'h0;
  parameter INITVAL_0F = 320'h0;
  parameter INITVAL_10 = 320'h0;
  parameter INITVAL_11 = 320'h0;
  parameter INITVAL_12 = 320'h0;
  parameter INITVAL_13 = 320'h0;
  parameter INITVAL_14 = 320'h0;
  parameter INITVAL_15 = 320'h0;
  parameter INITVAL_16 = 320'h0;
  parameter INITVAL_17 = 320'h0;
  parameter INITVAL_18 = 320'h0;
  parameter INITVAL_19 = 320'h0;
  parameter INITVAL_1A = 320'h0;
  parameter INITVAL_1B = 320'h0;
  parameter INITVAL_1C = 320'h0;
  parameter INITVAL_1D = 320'h0;
  parameter INITVAL_1E = 320'h0;
  parameter INITVAL_1F = 320'h0;
  parameter INITVAL_20 = 320'h0;
  parameter INITVAL_21 = 320'h0;
  parameter INITVAL_22 = 320'h0;
  parameter INITVAL_23 = 320'h0;
  parameter INITVAL_24 = 320'h0;
  parameter INITVAL_25 = 320'h0;
  parameter INITVAL_26 = 320'h0;
  parameter INITVAL_27 = 320'h0;
  parameter INITVAL_28 = 320'h0;
  parameter INITVAL_29 = 320'h0;
  parameter INITVAL_2A = 320'h0;
  parameter INITVAL_2B = 320'h0;
  parameter INITVAL_2C = 320'h0;
  parameter INITVAL_2D = 320'h0;
  parameter INITVAL_2E = 320'h0;
  parameter INITVAL_2F = 320'h0;
  parameter INITVAL_30 = 320'h0;
  parameter INITVAL_31 = 320'h0;
  parameter INITVAL_32 = 320'h0;
  parameter INITVAL_33 = 320'h0;
  parameter INITVAL_34 = 320'h0;
  parameter INITVAL_35 = 320'h0;
  parameter INITVAL_36 = 320'h0;
  parameter INITVAL_37 = 320'h0;
  parameter INITVAL_38 = 320'h0;
  parameter INITVAL_39 = 320'h0;
  parameter INITVAL_3A = 320'h0;
  parameter INITVAL_3B = 320'h0;
  parameter INITVAL_3C = 320'h0;
  parameter INITVAL_3D = 320'h0;
  parameter INITVAL_3E = 320'h0;
  parameter INITVAL_3F = 320'h0;

  reg [17:0] mem [0:1023];
  integer i;
  initial begin
    for (i = 0; i < 16; i = i + 1) begin
      mem[0 + i] = INITVAL_00[i * 20 +: 18];
      mem[16 + i] = INITVAL_01[i * 20 +: 18];
      mem[32 + i] = INITVAL_02[i * 20 +: 18];
      mem[48 + i] = INITVAL_03[i * 20 +: 18];
      mem[64 + i] = INITVAL_04[i * 20 +: 18];
      mem[80 + i] = INITVAL_05[i * 20 +: 18];
      mem[96 + i] = INITVAL_06[i * 20 +: 18];
      mem[112 + i] = INITVAL_07[i * 20 +: 18];
      mem[128 + i] = INITVAL_08[i * 20 +: 18];
      mem[144 + i] = INITVAL_09[i * 20 +: 18];
      mem[160 + i] = INITVAL_0A[i * 20 +: 18];
      mem[176 + i] = INITVAL_0B[i * 20 +: 18];
      mem[192 + i] = INITVAL_0C[i * 20 +: 18];
      mem[208 + i] = INITVAL_0D[i * 20 +: 18];
      mem[224 + i] = INITVAL_0E[i * 20 +: 18];
      mem[240 + i] = INITVAL_0F[i * 20 +: 18];
      mem[256 + i] = INITVAL_10[i * 20 +: 18];
      mem[272 + i] = INITVAL_11[i * 20 +: 18];
      mem[288 + i] = INITVAL_12[i * 20 +: 18];
      mem[304 + i] = INITVAL_13[i * 20 +: 18];
      mem[320 + i] = INITVAL_14[i * 20 +: 18];
      mem[336 + i] = INITVAL_15[i * 20 +: 18];
      mem[352 + i] = INITVAL_16[i * 20 +: 18];
      mem[368 + i] = INITVAL_17[i * 20 +: 18];
      mem[384 + i] = INITVAL_18[i * 20 +: 18];
      mem[400 + i] = INITVAL_19[i * 20 +: 18];
      mem[416 + i] = INITVAL_1A[i * 20 +: 18];
      mem[432 + i] = INITVAL_1B[i * 20 +: 18];
      mem[448 + i] = INITVAL_1C[i * 20 +: 18];
      mem[464 + i] = INITVAL_1D[i * 20 +: 18];
      mem[480 + i] = INITVAL_1E[i * 20 +: 18];
      mem[496 + i] = INITVAL_1F[i * 20 +: 18];
      mem[512 + i] = INITVAL_20[i * 20 +: 18];
      mem[528 + i] = INITVAL_21[i * 20 +: 18];
      mem[544 + i] = INITVAL_22[i * 20 +: 18];
      mem[560 + i] = INITVAL_23[i * 20 +: 18];
      mem[576 + i] = INITVAL_24[i * 20 +: 18];
      mem[592 + i] = INITVAL_25[i * 20 +: 18];
      mem[608 + i] = INITVAL_26[i * 20 +: 18];
      mem[624 + i] = INITVAL_27[i * 20 +: 18];
      mem[640 + i] = INITVAL_28[i * 20 +: 18];
      mem[656 + i] = INITVAL_29[i * 20 +: 18];
      mem[672 + i] = INITVAL_2A[i * 20 +: 18];
      mem[688 + i] = INITVAL_2B[i * 20 +: 18];
      mem[704 + i] = INITVAL_2C[i * 20 +: 18];
      mem[720 + i] = INITVAL_2D[i * 20 +: 18];
      mem[736 + i] = INITVAL_2E[i * 20 +: 18];
      mem[752 + i] = INITVAL_2F[i * 20 +: 18];
      mem[768 + i] = INITVAL_30[i * 20 +: 18];
      mem[784 + i] = INITVAL_31[i * 20 +: 18];
      mem[800 + i] = INITVAL_32[i * 20 +: 18];
      mem[816 + i] = INITVAL_33[i * 20 +: 18];
      mem[832 + i] = INITVAL_34[i * 20 +: 18];
      mem[848 + i] = INITVAL_35[i * 20 +: 18];
      mem[864 + i] = INITVAL_36[i * 20 +: 18];
      mem[880 + i] = INITVAL_37[i * 20 +: 18];
      mem[896 + i] = INITVAL_38[i * 20 +: 18];
      mem[912 + i] = INITVAL_39[i * 20 +: 18];
      mem[928 + i] = INITVAL_3A[i * 20 +: 18];
      mem[944 + i] = INITVAL_3B[i * 20 +: 18];
      mem[960 + i] = INITVAL_3C[i * 20 +: 18];
      mem[976 + i] = INITVAL_3D[i * 20 +: 18];
      mem[992 + i] = INITVAL_3E[i * 20 +: 18];
      mem[1008 + i] = INITVAL_3F[i * 20 +: 18];
    end
  end

  // 9 bits wide: the address on AD13..AD3, its lowest bit the half of the 18-bit word
  wire [10:0] addr9_a = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3};
  wire [10:0] addr9_b = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3};
  wire [9:0] addr_a = DATA_WIDTH_A == 9 ? addr9_a[10:1] : {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4};
  wire [9:0] addr_b = DATA_WIDTH_B == 9 ? addr9_b[10:1] : {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4};
  wire [17:0] di_a_pins = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
  wire [17:0] di_b_pins = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
  wire [17:0] di_a = DATA_WIDTH_A == 9 ? {di_a_pins[8:0], di_a_pins[8:0]} : di_a_pins;
  wire [17:0] di_b = DATA_WIDTH_B == 9 ? {di_b_pins[8:0], di_b_pins[8:0]} : di_b_pins;
  wire [17:0] mask_a = DATA_WIDTH_A == 9 ? (addr9_a[0] ? {{9{1'b1}}, 9'd0} : {9'd0, {9{1'b1}}}) : {{9{ADA1}}, {9{ADA0}}};
  wire [17:0] mask_b = DATA_WIDTH_B == 9 ? (addr9_b[0] ? {{9{1'b1}}, 9'd0} : {9'd0, {9{1'b1}}}) : {{9{ADB1}}, {9{ADB0}}};
  reg [17:0] do_a, do_b;
  reg half_a, half_b;   // 9 bits wide: the half read
  wire [17:0] out_a = DATA_WIDTH_A == 9 ? {9'd0, half_a ? do_a[17:9] : do_a[8:0]} : do_a;
  wire [17:0] out_b = DATA_WIDTH_B == 9 ? {9'd0, half_b ? do_b[17:9] : do_b[8:0]} : do_b;
  always @* {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = out_a;
  always @* {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = out_b;

  always @(posedge CLKA) begin
    if (RSTA)
      do_a <= 18'd0;
    else if (CEA) begin
      half_a <= addr9_a[0];
      if (!WEA || WRITEMODE_A == "READBEFOREWRITE")
        do_a <= mem[addr_a];
      else if (WRITEMODE_A == "WRITETHROUGH")
        do_a <= (mem[addr_a] & ~mask_a) | (di_a & mask_a);
    end
    if (CEA && WEA)
      mem[addr_a] <= (mem[addr_a] & ~mask_a) | (di_a & mask_a);
  end

  always @(posedge CLKB) begin
    if (RSTB)
      do_b <= 18'd0;
    else if (CEB) begin
      half_b <= addr9_b[0];
      if (!WEB || WRITEMODE_B == "READBEFOREWRITE")
        do_b <= mem[addr_b];
      else if (WRITEMODE_B == "WRITETHROUGH")
        do_b <= (mem[addr_b] & ~mask_b) | (di_b & mask_b);
    end
    if (CEB && WEB)
      mem[addr_b] <= (mem[addr_b] & ~mask_b) | (di_b & mask_b);
  end
endmodule
