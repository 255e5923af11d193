"""Dense layer: a MAC array of ``lanes`` output neurons fed one weight word per cycle."""

import math

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from q8.layers import DenseConfig
from q8.weights import check_param
from hw.lib.arith import LogicMultiplier, initial_value, requantize
from hw.vendor.ice40 import MultiplierPair
from hw.lib.layouts import element_layout
from hw.lib.params import check_count
from hw.lib.ports import WeightPort
from hw.stages.kind import GatewareKind, MemoryCost, StageCost, StageEstimate

__all__ = ["WeightMemory", "DenseStage", "dense_weight_words", "check_schedule",
           "multiplier_latency", "make_stages", "estimate", "KIND"]


def dense_weight_words(weight, lanes):
    """The weight store's contents for a ``(in_features, out_features)`` int8 weight array:
    word ``g * in_features + i`` holds ``weight[i, g*lanes : (g+1)*lanes]``, zeros past the last
    output. The gateware's memories and the board's flash image both use this layout."""
    n, out = weight.shape
    groups = math.ceil(out / lanes)
    padded = np.zeros((n, groups * lanes), np.int64)
    padded[:, :out] = weight
    codes = (padded & 0xFF).reshape(n, groups, lanes).transpose(1, 0, 2)  # (g, i, lane)
    shifts = np.arange(lanes, dtype=object) * 8
    return [int(sum(int(c) << int(s) for c, s in zip(word, shifts)))
            for word in codes.reshape(-1, lanes)]


class WeightMemory(wiring.Component):
    """A weight store in block RAM (or in the simulator's memory), initialised with ``words``.

    Members
    -------
    read : In(WeightPort(depth=len(words), lanes=lanes))
    """

    def __init__(self, *, words, lanes):
        self._words = list(words)
        super().__init__({"read": In(WeightPort(depth=len(self._words), lanes=lanes))})

    def elaborate(self, platform):
        m = Module()
        mem = m.submodules.mem = Memory(shape=unsigned(8 * self.read.signature.lanes),
                                        depth=len(self._words), init=self._words)
        rd = mem.read_port()
        m.d.comb += [rd.addr.eq(self.read.addr), self.read.data.eq(rd.data)]
        return m


def multiplier_latency(logic_lanes, registered_weights=False):
    """Cycles from the operands to the products of a dense stage with ``logic_lanes`` lanes
    in logic, or whose weights pass a register first (all of its lanes wait for the
    slowest)."""
    return LogicMultiplier.LATENCY if logic_lanes or registered_weights else \
        MultiplierPair.LATENCY


def check_schedule(config, *, lanes, groups_per_pass, logic_lanes=0):
    """Validate a dense layer's folding; return its number of groups."""
    check_count("lanes", lanes)
    check_count("groups_per_pass", groups_per_pass)
    if not isinstance(logic_lanes, int) or isinstance(logic_lanes, bool) or \
            not 0 <= logic_lanes <= lanes:
        raise ValueError(f"logic_lanes must be an integer from 0 to the {lanes} lanes, "
                         f"not {logic_lanes!r}")
    groups = math.ceil(config.out_features / lanes)
    if groups % groups_per_pass:
        raise ValueError(f"groups_per_pass must divide the {groups} groups of {config.name} "
                         f"({config.out_features} outputs / {lanes} lanes), "
                         f"not {groups_per_pass!r}")
    return groups


def _delayed(m, value, cycles, name):
    """``value`` ``cycles`` clock cycles later, as a chain of registers in ``m``."""
    for c in range(cycles):
        reg = Signal.like(value, name=f"{name}_{c + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


class DenseStage(wiring.Component):
    """Dense layer, bias, requantisation (and ReLU by saturation), ``lanes`` outputs at a time.

    Schedule: the outputs are cut into ``groups`` of ``lanes`` neurons. A *pass* computes
    ``groups_per_pass`` groups: for each input code ``i`` in order, and each group of the pass,
    one cycle multiplies the code by that group's weight word (``lanes`` weights, read from the
    ``weights`` port) and accumulates. With one group per pass the layer reads exactly one
    weight word per cycle (the weight-bandwidth limit of the 338x128 layer); with all groups in
    one pass it consumes its inputs as they arrive and needs no second pass (for small layers
    behind a slow producer).

    Inputs are kept in a two-bank buffer, so the next image can arrive while this one is
    computed, and a pass starts on the first inputs before the rest have arrived.

    Parameters
    ----------
    config : q8.layers.DenseConfig
    bias : numpy int8 array, shape ``(out_features,)``
        Biases are constants in logic; weights come through the ``weights`` port
        (see :func:`dense_weight_words`).
    in_width : int
        Input codes per input transfer (the producer's element width).
    lanes : int
        Multipliers, and output codes per output transfer.
    groups_per_pass : int
        Must divide the number of groups, ``ceil(out_features / lanes)``.
    logic_lanes : int
        Lanes, the last ones, whose products are made in logic (:class:`hw.lib.arith.LogicMultiplier`)
        rather than in DSPs (:class:`hw.vendor.ice40.MultiplierPair`); their latency is then the
        products' of all lanes.
    registered_weights : bool
        The weights (and the code) pass a register on their way to the DSPs, a cycle more
        (the ECP5's block RAM is slow to read, and its DSPs are far from it); lanes in logic
        register them anyway.
    positions : int
        1, or 2: each input transfer carries the codes of two inputs of the same index (two
        output positions of a folded convolution, ``hw.stages.window.WindowStage(pairs=True)``),
        each weight word multiplies both (a DSP's two products share a weight lane), and each
        output transfer carries both positions' ``lanes`` codes, the first's first: twice the
        products per weight read, where the weight store is the bound.

    Members
    -------
    i : In(stream.Signature(element_layout(in_width * positions, config.input)))
        ``ceil(in_features / in_width)`` transfers per image, codes in flattening order
        (each position's ``in_width`` in turn).
    o : Out(stream.Signature(element_layout(lanes * positions, config.output)))
        ``groups`` transfers per image; codes past ``out_features`` in the last one are 0.
    weights : Out(WeightPort(depth=groups * in_features, lanes=lanes))
    """

    #: Cycles from an input transfer to the first multiply of its codes: the transfer counts
    #: in its bank's fill a cycle later, and ``available`` is a register computed from that.
    WAIT_CYCLES = 2
    #: Cycles from a group's last multiply to its output transfer with the DSPs' multipliers:
    #: the code's register, the multiplier's (``MultiplierPair.LATENCY``), the accumulator,
    #: the requantiser into the output buffer, out. Other multipliers: :func:`result_cycles`.
    RESULT_CYCLES = 6
    #: Cycles a group's next last multiply waits for its output buffer, seen a cycle late.
    FINISH_CYCLES = 2

    def __init__(self, *, config, bias, in_width, lanes, groups_per_pass=1, logic_lanes=0,
                 registered_weights=False, positions=1):
        if not isinstance(config, DenseConfig):
            raise TypeError(f"config must be a DenseConfig, not {config!r}")
        check_param(config, "bias", bias)
        check_count("in_width", in_width)
        groups = check_schedule(config, lanes=lanes, groups_per_pass=groups_per_pass,
                                logic_lanes=logic_lanes)
        self._logic_lanes = logic_lanes
        self._registered_weights = bool(registered_weights)
        self._config, self._bias = config, bias.astype(np.int64)
        self._in_width, self._lanes = in_width, lanes
        self._groups, self._groups_per_pass = groups, groups_per_pass
        if positions not in (1, 2):
            raise ValueError(f"positions must be 1 or 2, not {positions!r}")
        self._positions = positions
        super().__init__({
            "i": In(stream.Signature(element_layout(in_width * positions, config.input))),
            "o": Out(stream.Signature(element_layout(lanes * positions, config.output))),
            "weights": Out(WeightPort(depth=groups * config.in_features, lanes=lanes)),
        })

    @property
    def config(self):
        return self._config

    @property
    def lanes(self):
        return self._lanes

    @property
    def groups(self):
        return self._groups

    @property
    def logic_lanes(self):
        return self._logic_lanes

    @property
    def positions(self):
        return self._positions

    @property
    def multiplier_latency(self):
        """Cycles from a code and its weights at the multipliers to their products."""
        return multiplier_latency(self._logic_lanes, self._registered_weights)

    def elaborate(self, platform):
        cfg = self._config
        n, k = cfg.in_features, self._in_width
        words = math.ceil(n / k)                  # input transfers per image
        m = Module()
        rd, fill, full, read_bank = self._input_buffer(m, words=words, k=k)
        seq = self._sequencer(m, rd=rd, fill=fill, full=full, read_bank=read_bank, words=words)
        products, latency = self._multipliers(m, rd=rd, sub=seq["sub"])
        self._accumulate_and_send(m, seq=seq, products=products, latency=latency)
        return m

    def _input_buffer(self, m, *, words, k):
        """The input buffer's two banks and their writer; returns the read port, the banks'
        fills and full flags, and the bank being read."""
        # Input buffer: two banks of `words` transfers; fill[b] counts the transfers in bank b.
        # The bank is the top address bit, so addresses need no adder.
        bank_bits = max(1, (words - 1).bit_length())
        buf = m.submodules.inputs = Memory(shape=unsigned(8 * k * self._positions),
                                           depth=2 << bank_bits, init=[])
        wr = buf.write_port()
        rd = buf.read_port()
        fill = Array(Signal(range(words + 1), name=f"fill_{b}") for b in range(2))
        write_bank = Signal()
        read_bank = Signal()
        # The writer keeps its own position and flags, so that its decisions need no
        # multiplexer over the banks' fills: `full[b]` says bank b holds a whole image.
        full = Signal(2)
        position = Signal(range(words))
        position_last = Signal(init=words == 1)   # position == words - 1
        # `ready` is a register, so that no chain of readys runs through the stages before:
        # it says whether the bank written next cycle has room. (A bank the reader frees in
        # the same cycle is seen a cycle later: safe.)
        ready = Signal()
        write = self.i.valid & ready
        completes = write & position_last
        m.d.comb += self.i.ready.eq(ready)
        m.d.sync += ready.eq(Mux(completes, ~full.bit_select(~write_bank, 1),
                                 write | ~full.bit_select(write_bank, 1)))
        m.d.comb += [wr.addr.eq(Cat(position[:bank_bits], write_bank)),
                     wr.data.eq(self.i.payload.data.as_value()), wr.en.eq(write)]
        with m.If(write):
            m.d.sync += fill[write_bank].eq(fill[write_bank] + 1)
            with m.If(completes):
                m.d.sync += [write_bank.eq(~write_bank), position.eq(0),
                             position_last.eq(words == 1), full.bit_select(write_bank, 1).eq(1)]
            with m.Else():
                m.d.sync += [position.eq(position + 1), position_last.eq(position == words - 2)]

        return rd, fill, full, read_bank

    def _sequencer(self, m, *, rd, fill, full, read_bank, words):
        """The sequencer: which code, group and pass is multiplied each cycle, and the weight
        and input reads for it; returns its signals that the later stages follow."""
        cfg = self._config
        n, k = cfg.in_features, self._in_width
        per_pass = self._groups_per_pass
        passes = self._groups // per_pass
        bank_bits = max(1, (words - 1).bit_length())   # as the input buffer's

        # Sequencer: pass, input code (word and code within it), group within the pass. Its
        # decisions use registered flags, so that `issue` is a few gates from registers.
        pass_ = Signal(range(passes))
        last_pass = Signal(init=passes == 1)      # pass_ == passes - 1, as a register (timing)
        word = Signal(range(words))
        sub = Signal(range(k))
        index = Signal(range(n))                  # word * k + sub
        local = Signal(range(per_pass))           # group within the pass
        group = Signal(range(self._groups))       # pass * per_pass + local
        m.d.comb += group.eq(pass_ * per_pass + local)
        weight_addr = Signal(range(self._groups * n))  # group * n + index
        at_last = Signal(init=n == 1)             # index == n - 1
        # Whether input `word` is in the buffer, as a register (timing: no comparison on the
        # path to `issue`). Each cycle both outcomes are compared, against the bank's fill a
        # cycle late (safe: it only grows while the bank is read), and the sequencer's step
        # picks one: the word stays, or it moves, to the next word or, after the last, to the
        # first of this bank or of the other (after the last pass). The sequencer never
        # passes the bank's fill (it moves on from a word only when it is in the buffer), so
        # `word < fill` is `word != fill` and `word + 1 < fill`, after a word that was in the
        # buffer, is `word + 1 != fill`: equalities, not comparisons' carry chains (timing).
        fill_read, fill_other = fill[read_bank], fill[~read_bank]
        word_next = Signal(range(words + 1), init=1)   # word + 1, as a register
        available = Signal()
        moves = Signal()  # set below with each move
        m.d.sync += available.eq(Mux(moves,
                                     Mux(at_last,
                                         Mux(last_pass, fill_other, fill_read) != 0,
                                         word_next != fill_read),
                                     word != fill_read))

        out_full = Signal(per_pass)   # the output buffer of a group holds unsent codes
        pending = Signal(per_pass)    # a group's last accumulation is in the pipeline
        # A group may take its last accumulation when its output buffer is free and its
        # previous one has left the pipeline. Seen a cycle late, as a register (timing): safe,
        # since a group's flags are set only after its own last accumulation, and its next is
        # a pass (groups_per_pass x in_features cycles) later; a late clear only waits.
        busy = out_full | pending
        if per_pass * n > 1:
            busy_seen = Signal(per_pass)
            m.d.sync += busy_seen.eq(busy)
            busy = busy_seen
        can_finish = ~busy.bit_select(local, 1)
        issue = Signal()
        m.d.comb += issue.eq(available & (~at_last | can_finish))

        # The weight word is read a cycle after the input word, to meet the code, which is
        # picked out of its input word in a cycle of its own (timing)
        weight_read = Signal.like(weight_addr)
        m.d.sync += weight_read.eq(weight_addr)
        m.d.comb += [self.weights.addr.eq(weight_read),
                     rd.addr.eq(Cat(word[:bank_bits], read_bank))]
        with m.If(issue):
            with m.If(local != per_pass - 1):
                m.d.sync += [local.eq(local + 1), weight_addr.eq(weight_addr + n)]
            with m.Else():
                m.d.sync += local.eq(0)
                with m.If(~at_last):
                    m.d.sync += [index.eq(index + 1), at_last.eq(index == n - 2),
                                 weight_addr.eq(weight_addr + 1 - (per_pass - 1) * n)]
                    with m.If(sub == k - 1):
                        m.d.sync += [sub.eq(0), word.eq(word_next), word_next.eq(word_next + 1)]
                        m.d.comb += moves.eq(1)
                    with m.Else():
                        m.d.sync += sub.eq(sub + 1)
                with m.Else():
                    m.d.sync += [index.eq(0), word.eq(0), word_next.eq(1), sub.eq(0),
                                 at_last.eq(n == 1)]
                    m.d.comb += moves.eq(1)
                    with m.If(~last_pass):
                        m.d.sync += [pass_.eq(pass_ + 1), weight_addr.eq(weight_addr + 1),
                                     last_pass.eq(pass_ == passes - 2)]
                    with m.Else():
                        # the image is done with this bank: give it back to the writer
                        m.d.sync += [pass_.eq(0), last_pass.eq(passes == 1),
                                     weight_addr.eq(0), fill[read_bank].eq(0),
                                     full.bit_select(read_bank, 1).eq(0),
                                     read_bank.eq(~read_bank)]
            with m.If(at_last):
                m.d.sync += pending.bit_select(local, 1).eq(1)

        return {"sub": sub, "issue": issue, "index": index, "at_last": at_last, "local": local,
                "group": group, "last_pass": last_pass, "out_full": out_full,
                "pending": pending}

    def _multipliers(self, m, *, rd, sub):
        """The code picked from its input word, and the lanes' multipliers (DSPs, then those
        in logic); returns the products and the cycles from an issue to them."""
        lanes, positions, k = self._lanes, self._positions, self._in_width
        # Stage 1: the input word arrives; pick the code (one per position). Stage 2: the
        # codes and the weight word meet at the multipliers.
        s1_sub = _delayed(m, sub, 1, "sub")
        codes = [Signal(8, name=f"code_{j}" if j else "code") for j in range(positions)]
        for j, code in enumerate(codes):
            m.d.sync += code.eq(rd.data.word_select(s1_sub + j * k if j else s1_sub, 8))

        # The first lanes multiply in DSPs (pairs of them), the last `logic_lanes` in logic;
        # with any in logic the DSPs' operands wait a cycle in registers, so that all
        # products arrive together (before rather than after: the registers near the weight
        # store keep its slow read and the long way to the DSPs in separate cycles). A
        # DSP's two products: two lanes of one code, or (two positions) one lane of both.
        dsp_lanes = lanes - self._logic_lanes
        wait = self.multiplier_latency - MultiplierPair.LATENCY
        dsp_codes = [_delayed(m, code, wait, f"dsp_code_{j}" if j else "dsp_code")
                     for j, code in enumerate(codes)]
        dsp_weights = _delayed(m, self.weights.data[:8 * dsp_lanes], wait, "dsp_weights")
        # (position, lane) of each DSP product, in order
        if positions == 1:
            operands = [(0, lane) for lane in range(dsp_lanes)]
        else:
            operands = [(j, lane) for lane in range(dsp_lanes) for j in range(positions)]
        products = {}
        for p in range((len(operands) + 1) // 2):
            pair = MultiplierPair()
            m.submodules[f"multipliers_{p}"] = pair
            for half in range(2):
                if 2 * p + half < len(operands):
                    j, lane = operands[2 * p + half]
                    m.d.comb += [pair.a[half].eq(dsp_codes[j]),
                                 pair.b[half].eq(dsp_weights.word_select(lane, 8))]
                    products[j, lane] = pair.p[half]
                else:
                    m.d.comb += pair.a[half].eq(dsp_codes[0])
        for lane in range(dsp_lanes, lanes):
            for j, code in enumerate(codes):
                multiplier = LogicMultiplier()
                m.submodules[f"multiplier_{lane}" + (f"_{j}" if j else "")] = multiplier
                m.d.comb += [multiplier.a.eq(code),
                             multiplier.b.eq(self.weights.data.word_select(lane, 8))]
                products[j, lane] = multiplier.p
        # the output's order: each position's lanes in turn
        products = [products[j, lane] for j in range(positions) for lane in range(lanes)]
        latency = 2 + self.multiplier_latency

        return products, latency

    #: Groups beyond which the lanes' start values come from a memory of bias codes (read
    #: early, aligned and the rounding constant added a cycle later) rather than a table of
    #: whole start values per lane in logic: with many groups such a table's decoding is
    #: the critical path, and its logic cells grow with the groups.
    WIDE_TABLE_GROUPS = 16

    def _starts(self, m, group, latency, acc_shape):
        """What each lane's accumulator starts from (the bias and the rounding constant:
        contract, ``hw.lib.arith.initial_value``) for the group accumulated at stage 4,
        looked up from ``group`` early, off the adder's path."""
        cfg, lanes = self._config, self._lanes
        codes = [[int(self._bias[g * lanes + lane]) if g * lanes + lane < cfg.out_features
                  else 0 for lane in range(lanes)] for g in range(self._groups)]
        starts = [Signal(acc_shape, name=f"start_{lane}") for lane in range(lanes)]
        if self._groups <= self.WIDE_TABLE_GROUPS:
            early = _delayed(m, group, latency - 1, "group")
            for lane, start in enumerate(starts):
                table = Array(Const(initial_value(cfg, c[lane]), acc_shape) for c in codes)
                m.d.sync += start.eq(table[early])
            return starts
        words = [sum((c & 0xFF) << (8 * lane) for lane, c in enumerate(word)) for word in codes]
        rom = m.submodules.bias_codes = Memory(shape=unsigned(8 * lanes), depth=self._groups,
                                               init=words)
        rd = rom.read_port()
        m.d.comb += rd.addr.eq(_delayed(m, group, latency - 2, "group_early"))
        for lane, start in enumerate(starts):
            bias = rd.data.word_select(lane, 8).as_signed()
            m.d.sync += start.eq((bias << cfg.bias_shift) + initial_value(cfg, 0))
        return starts

    def _accumulate_and_send(self, m, *, seq, products, latency):
        """The accumulators, the requantisers into the output buffers, and the output."""
        cfg = self._config
        lanes, per_pass = self._lanes, self._groups_per_pass
        acc_shape = signed(cfg.acc_width)
        issue, index, at_last, local = seq["issue"], seq["index"], seq["at_last"], seq["local"]
        group, last_pass = seq["group"], seq["last_pass"]
        out_full, pending = seq["out_full"], seq["pending"]

        # Stage 4: accumulate.
        s4_valid = _delayed(m, issue, latency, "valid")
        s4_first = _delayed(m, index == 0, latency, "first")
        s4_last = _delayed(m, at_last, latency, "last")
        s4_local = _delayed(m, local, latency, "local")
        s4_final = _delayed(m, last_pass, latency, "final")
        # The accumulators of a pass's groups rotate: the groups are accumulated strictly in
        # turn, so the next group's is always at the front and the one just written is always
        # at the back. No multiplexer chooses a group's accumulator (timing, logic cells).
        outs = lanes * self._positions   # an accumulator per lane and position
        accs = [[Signal(acc_shape, name=f"acc_{q}_{lane}") for lane in range(outs)]
                for q in range(per_pass)]
        starts = self._starts(m, group, latency, acc_shape)
        for lane in range(outs):
            # one adder per lane, shared by the groups of a pass
            start = starts[lane % lanes]
            total = Mux(s4_first, start, accs[0][lane]) + products[lane]
            with m.If(s4_valid):
                m.d.sync += [accs[q][lane].eq(accs[q + 1][lane]) for q in range(per_pass - 1)]
                m.d.sync += accs[-1][lane].eq(total)

        # Stage 5: a finished group is requantised into its output buffer (one requantiser
        # per lane, shared by the groups of a pass).
        s5_done = Signal()
        s5_local = Signal.like(s4_local)
        s5_final = Signal()
        m.d.sync += [s5_done.eq(s4_valid & s4_last), s5_local.eq(s4_local),
                     s5_final.eq(s4_final)]
        out_codes = [Signal(self.o.payload.data.shape(), name=f"out_{q}")
                     for q in range(per_pass)]
        out_last = Signal(per_pass)
        codes = Signal(self.o.payload.data.shape())
        for lane in range(outs):  # the group just finished is at the back
            m.d.comb += codes[lane].eq(requantize(accs[-1][lane], shift=cfg.out_shift,
                                                  fmt=cfg.output, top=cfg.out_max))
        for q in range(per_pass):
            with m.If(s5_done & (s5_local == q)):
                m.d.sync += [out_full[q].eq(1), pending[q].eq(0), out_last[q].eq(s5_final),
                             out_codes[q].eq(codes)]

        # Output: the groups of a pass leave in order.
        send = Signal(range(per_pass))
        m.d.comb += [self.o.valid.eq(out_full.bit_select(send, 1)),
                     self.o.payload.data.eq(Array(c.as_value() for c in out_codes)[send]),
                     self.o.payload.last.eq(out_last.bit_select(send, 1) & (send == per_pass - 1))]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_full.bit_select(send, 1).eq(0)
            m.d.sync += send.eq(Mux(send == per_pass - 1, 0, send + 1))


# --- the layer kind: the stages and their model ---------------------------------------------

def make_stages(layer, *, params, in_width, schedule):
    """The stage of dense ``layer`` under ``schedule`` (a ``hw.stages.network.DenseSchedule``):
    a :class:`DenseStage` whose weights port the caller connects to a store; its transfers
    carry ``schedule.lanes`` codes."""
    stage = DenseStage(config=layer, bias=params["bias"], in_width=in_width,
                       lanes=schedule.lanes, groups_per_pass=schedule.groups_per_pass,
                       logic_lanes=schedule.logic_lanes,
                       registered_weights=schedule.registered_weights)
    return [stage], schedule.lanes


def result_cycles(schedule):
    """:attr:`DenseStage.RESULT_CYCLES` with ``schedule``'s multipliers' latency."""
    return DenseStage.RESULT_CYCLES - MultiplierPair.LATENCY + \
        multiplier_latency(schedule.logic_lanes, schedule.registered_weights)


def bias_memories(lanes, groups):
    """The memory of the bias codes that a stage of ``groups`` groups of ``lanes`` has
    (:attr:`DenseStage.WIDE_TABLE_GROUPS`), as ``MemoryCost`` s."""
    if groups <= DenseStage.WIDE_TABLE_GROUPS:
        return ()
    return (MemoryCost("bias codes", 8 * lanes, groups, rom=True),)


def bias_terms(groups):
    """The logic-cell term of a stage's start values from a memory of bias codes (their
    alignment adders, the read's address), beside the memory itself."""
    return {"dense_bias_codes": 1} if groups > DenseStage.WIDE_TABLE_GROUPS else {}


def busy_cycles(n, schedule, groups):
    """Cycles per image a dense stage of ``n`` inputs and ``groups`` groups is busy, back to
    back: a cycle per code and group; a pass's last code waits for the group's previous
    result."""
    return groups // schedule.groups_per_pass * \
        max(schedule.groups_per_pass * n, result_cycles(schedule) + DenseStage.FINISH_CYCLES)


def output_times(times, n, k, schedule, groups):
    """Output transfer times of a dense stage whose input transfers (``k`` codes each) happen
    at ``times``, one image, the consumer always ready: :class:`DenseStage`'s sequencer
    multiplies one code by one group's weights per cycle, a pass over the inputs per
    ``groups_per_pass`` groups, the first pass as the inputs arrive."""
    per = schedule.groups_per_pass
    finish = DenseStage.FINISH_CYCLES if per * n > 1 else DenseStage.FINISH_CYCLES - 1
    issue = -10 ** 9
    out, last_out = [], [None] * per
    for p in range(groups // per):
        if p == 0:
            for j, t in enumerate(times):
                codes = min(k, n - j * k)
                issue = max(issue + 1, t + DenseStage.WAIT_CYCLES) + codes * per - 1
            issue -= per   # back to the cycle before the last code's first group
        else:
            issue += (n - 1) * per
        for q in range(per):   # the last code of each group of the pass
            issue += 1
            if last_out[q] is not None:
                issue = max(issue, last_out[q] + finish)
            o = issue + result_cycles(schedule)
            if out:
                o = max(o, out[-1] + 1)
            out.append(o)
            last_out[q] = o
    return out


def estimate(layer, times, *, weight=None, in_width, schedule, external_weights=False,
             family=None):
    """The model of :func:`make_stages`' stage (see :class:`hw.stages.kind.GatewareKind`): per
    lane the adder, the bias table and the requantiser (bits of the accumulator); per
    accumulator of a pass (lanes x groups per pass) its register and output buffer (bits); per
    bit of the input word the code's multiplexer; the sequencer; lanes multiplied in logic;
    the input banks; the weights in a memory of their own unless ``external_weights`` (a store
    outside the stage: the SPRAMs)."""
    lanes, per = schedule.lanes, schedule.groups_per_pass
    groups = math.ceil(layer.out_features / lanes)
    n, k = layer.in_features, in_width
    acc_width = layer.acc_width
    terms = {"dense": 1, "dense_lane_bit": lanes * acc_width,
             "dense_accumulator_bit": lanes * per * (acc_width + 8), "dense_input_bit": 8 * k,
             **bias_terms(groups)}
    if schedule.logic_lanes:
        terms["logic_lane"] = schedule.logic_lanes
    words = math.ceil(n / k)
    memories = [MemoryCost("input banks", 8 * k, 2 << max(1, (words - 1).bit_length())),
                *bias_memories(lanes, groups)]
    if not external_weights:
        memories.append(MemoryCost("weights", 8 * lanes, groups * n, rom=True))
    cost = StageCost(name=layer.name, kind=layer.kind, terms=terms, memories=tuple(memories),
                     dsp_lanes=lanes - schedule.logic_lanes,
                     weights="external" if external_weights else "memory")
    return StageEstimate(cost=cost, after=(), times=output_times(times, n, k, schedule, groups),
                         width=lanes, busy=busy_cycles(n, schedule, groups))


KIND = GatewareKind(kind="dense", make_stages=make_stages, estimate=estimate, folded=True,
                    size="out_features", size_noun="units")
