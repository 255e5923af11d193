// A simulation model of the ECP5's MULT18X18D for the netlist check (sim.rtl): Yosys ships
// the cell only as a black box (lattice/cells_bb_ecp5.v). It models what the gateware uses
// (hw.vendor.ecp5.ecp5_multiplier) and what Yosys' own mapping of `*` gives (no registers): the
// 18x18 product, signed or unsigned per operand, with the input A/B, pipeline and output
// registers each on CLK0 or bypassed ("NONE"), enabled by CE0, synchronously reset by RST0.
// Anything else (cascades, C, other clocks) is refused at elaboration by a missing module.
module MULT18X18D(
  input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
  input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
  input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
  input CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0,
  input SRIA17, SRIA16, SRIA15, SRIA14, SRIA13, SRIA12, SRIA11, SRIA10, SRIA9, SRIA8,
  input SRIA7, SRIA6, SRIA5, SRIA4, SRIA3, SRIA2, SRIA1, SRIA0,
  input SRIB17, SRIB16, SRIB15, SRIB14, SRIB13, SRIB12, SRIB11, SRIB10, SRIB9, SRIB8,
  input SRIB7, SRIB6, SRIB5, SRIB4, SRIB3, SRIB2, SRIB1, SRIB0,
  output SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8,
  output SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0,
  output SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8,
  output SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0,
  output ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8,
  output ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0,
  output ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8,
  output ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0,
  output ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8,
  output ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0,
  output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20,
  output P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2,
  output P1, P0,
  output SIGNEDP
);
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTA_CE = "CE0";
  parameter REG_INPUTA_RST = "RST0";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_INPUTB_CE = "CE0";
  parameter REG_INPUTB_RST = "RST0";
  parameter REG_INPUTC_CLK = "NONE";
  parameter REG_INPUTC_CE = "CE0";
  parameter REG_INPUTC_RST = "RST0";
  parameter REG_PIPELINE_CLK = "NONE";
  parameter REG_PIPELINE_CE = "CE0";
  parameter REG_PIPELINE_RST = "RST0";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter REG_OUTPUT_CE = "CE0";
  parameter REG_OUTPUT_RST = "RST0";
  parameter CLK0_DIV = "ENABLED";
  parameter CLK1_DIV = "ENABLED";
  parameter CLK2_DIV = "ENABLED";
  parameter CLK3_DIV = "ENABLED";
  parameter HIGHSPEED_CLK = "NONE";
  parameter GSR = "ENABLED";
  parameter CAS_MATCH_REG = "FALSE";
  parameter SOURCEB_MODE = "B_SHIFT";
  parameter MULT_BYPASS = "DISABLED";
  parameter RESETMODE = "SYNC";

  wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
  wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
  reg [17:0] a_q, b_q;
  reg sa_q, sb_q;
  always @(posedge CLK0) if (RST0) begin a_q <= 0; sa_q <= 0; end
                         else if (CE0) begin a_q <= a; sa_q <= SIGNEDA; end
  always @(posedge CLK0) if (RST0) begin b_q <= 0; sb_q <= 0; end
                         else if (CE0) begin b_q <= b; sb_q <= SIGNEDB; end
  wire [17:0] a_in = REG_INPUTA_CLK == "NONE" ? a : a_q;
  wire [17:0] b_in = REG_INPUTB_CLK == "NONE" ? b : b_q;
  wire sa = REG_INPUTA_CLK == "NONE" ? SIGNEDA : sa_q;
  wire sb = REG_INPUTB_CLK == "NONE" ? SIGNEDB : sb_q;
  wire [35:0] a_ext = {{18{sa & a_in[17]}}, a_in};
  wire [35:0] b_ext = {{18{sb & b_in[17]}}, b_in};
  wire [35:0] product = a_ext * b_ext;
  reg [35:0] pipe_q, out_q;
  always @(posedge CLK0) if (RST0) pipe_q <= 0; else if (CE0) pipe_q <= product;
  wire [35:0] piped = REG_PIPELINE_CLK == "NONE" ? product : pipe_q;
  always @(posedge CLK0) if (RST0) out_q <= 0; else if (CE0) out_q <= piped;
  wire [35:0] p = REG_OUTPUT_CLK == "NONE" ? piped : out_q;
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20,
          P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2,
          P1, P0} = p;
  assign SIGNEDP = sa | sb;
endmodule
