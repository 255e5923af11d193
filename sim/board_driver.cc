// The board driver of sim/board.py: the board top (hw.board.top.BoardTop) as a CXXRTL model with
// the world around its pins, all in native code: an SPI flash holding the weights image, and the
// host's end of the UART, which drives `rx` with a waveform from Python and decodes `tx` into a
// receive buffer on every cycle. It is compiled together with the model that `write_cxxrtl`
// generates and reaches the design only through the CXXRTL C API, by port name:
//
//   clk, rst                              the sync domain
//   rx (in, idles high), tx (out)         the UART
//   flash__cs_n, flash__clk, flash__copi  to the flash (out)
//   flash__cipo                           from the flash (in)
//   led_ready, led_error                  (out)
//
// A board is a handle (board_create, board_destroy) that keeps the model, the flash and the
// receiver between calls, so Python plays the host a call at a time; ctypes releases the GIL
// during each, so boards run in threads. Every function that runs cycles runs them through
// Board::cycle, which does no allocation and no lookup by name.

#include <cxxrtl/capi/cxxrtl_capi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

extern "C" cxxrtl_toplevel cxxrtl_design_create();

namespace {

// The status codes, mirrored in sim/board.py (the same numbers as rtl_driver.cc's).
enum Status : int32_t {
    OK = 0,
    BAD_ARGUMENT = 2,  // a count out of range, a level not 0 or 1, or a null array
    BAD_PORT = 3,      // a port is missing or has the wrong width (the name goes to `message`)
};

enum FlashMode : int32_t {
    FLASH_NORMAL = 0,
    FLASH_ASLEEP = 1,  // never wakes: ignores every command, cipo stays low
};

// A 1-bit port. Top-level inputs are plain values in CXXRTL (`curr` and `next` are the same
// storage): the next evaluation sees what is set.
struct Pin {
    cxxrtl_object *object = nullptr;

    bool get() const { return object->curr[0] & 1; }
    void set(bool value) { object->next[0] = value; }
};

// An SPI flash (mode 0), as the Amaranth model that sim/board.py had (SPIFlashModel): a
// register-level model in the system clock domain. `edge` takes the pins as they are before a
// system clock edge and makes the flash's registers' values after it, so the SPI clock's edges
// are seen a system cycle late and `cipo` changes at a system clock edge, as in that model, which
// the board's loader (hw/board/spi.py) was written against. It starts in deep power-down and
// ignores everything until Release from Deep Power-down (0xAB); then Read Data (0x03 and a
// 24-bit address, MSB first, sampled at SPI clock rising edges) streams bytes MSB first, changed
// at SPI clock falling edges, the address incrementing; 0xFF outside the contents. Fast Read
// (0x0B) does the same after eight dummy clocks past the address. Chip select high resets the
// command state (but not the wake-up: a real flash stays awake).
struct Flash {
    std::vector<uint8_t> contents;
    uint64_t base = 0;
    bool asleep = false;

    // the registers, with the Amaranth model's widths
    bool prev_clk = false, awake = false, reading = false, cipo = false;
    uint32_t bits = 0;     // 6 bits: commands' bits seen (wraps, as there)
    uint32_t shift = 0;    // 32 bits: the command and address, each bit entering at the bottom
    uint32_t address = 0;  // 24 bits
    uint32_t bit = 0;      // 3 bits: the bit of the current byte
    uint32_t dummy = 0;    // Fast Read's dummy clocks still to come

    uint8_t current() const {
        uint64_t offset = uint64_t(address) - base;  // wraps to a large value below `base`
        return address >= base && offset < contents.size() ? contents[offset] : 0xFF;
    }

    void edge(bool cs_n, bool clk, bool copi) {
        if (asleep)
            return;
        bool rising = clk && !prev_clk && !cs_n;
        bool falling = !clk && prev_clk && !cs_n;
        prev_clk = clk;
        if (cs_n) {
            bits = 0;
            reading = false;
            bit = 0;
            dummy = 0;
        } else if (rising && dummy) {
            reading = --dummy == 0;  // data from the falling edge after the last dummy clock
        } else if (rising && !reading) {
            uint32_t shifted = (shift << 1) | copi;
            uint32_t command = (shift >> 23) & 0xFF;
            if (bits == 7 && (shifted & 0xFF) == 0xAB)
                awake = true;
            if (bits == 31 && awake && (command == 0x03 || command == 0x0B)) {
                reading = command == 0x03;
                dummy = command == 0x0B ? 8 : 0;
                address = shifted & 0xFFFFFF;
            }
            shift = shifted;
            bits = (bits + 1) & 63;
        } else if (falling && reading) {
            cipo = (current() >> (7 - bit)) & 1;
            if (bit == 7)
                address = (address + 1) & 0xFFFFFF;
            bit = (bit + 1) & 7;
        }
    }
};

// The host's UART receiver on `tx`, as sim/board.py's monitor was: a falling edge starts a
// byte; each bit is sampled in its middle at the host's bit period (cycle `start + floor((1.5 +
// k) * period)` for data bit k, the stop bit after the eighth); a low stop bit is a framing
// error, counted, and the byte dropped. The next start bit is the next falling edge, so a line
// held low is one error, not one per byte time.
struct Receiver {
    int64_t offsets[9] = {};  // cycles from the start bit's edge to each sample
    bool prev = true;         // tx idles high
    int next = -1;            // the next sample (0-7 data, 8 stop), -1 while idle
    int64_t start = 0;
    uint32_t byte = 0;
    std::vector<uint8_t> buffer;  // bytes received and not yet taken
    int64_t errors = 0;
    int64_t completed = 0;    // bytes completed, taken or not

    void set_period(double period) {
        for (int k = 0; k < 9; k++)
            offsets[k] = int64_t(std::floor((1.5 + k) * period));
    }

    // `tx` as it is after clock edge `cycle` (counted from 1), until the next edge
    void sample(int64_t cycle, bool tx) {
        if (next < 0) {
            if (prev && !tx) {
                start = cycle;
                next = 0;
                byte = 0;
            }
        } else if (cycle == start + offsets[next]) {
            if (next < 8) {
                byte |= uint32_t(tx) << next;
                next++;
            } else {
                if (tx)
                    buffer.push_back(uint8_t(byte));
                else
                    errors++;
                completed++;
                next = -1;
            }
        }
        prev = tx;
    }
};

struct Board {
    cxxrtl_handle handle = nullptr;
    Pin clk, rst, rx, tx, cs_n, sclk, copi, cipo, led_ready, led_error;
    Flash flash;
    Receiver receiver;
    int64_t cycles = 0;
    int64_t unsettled = 0;  // evaluations that did not converge (see `cycle`)

    Board() = default;
    Board(const Board &) = delete;
    Board &operator=(const Board &) = delete;
    ~Board() {
        if (handle != nullptr)
            cxxrtl_destroy(handle);
    }

    // A 1-bit port; false, with the reason in `message`, if there is none.
    bool find(Pin &pin, const char *name, bool input, char *message, size_t message_size) {
        size_t parts = 0;
        cxxrtl_object *object = cxxrtl_get_parts(handle, name, &parts);
        if (object == nullptr)
            std::snprintf(message, message_size, "port %s is missing", name);
        else if (parts != 1 || (input && object->next == nullptr))
            std::snprintf(message, message_size, "port %s cannot be %s (not a single part)",
                          name, input ? "driven" : "read");
        else if (object->width != 1)
            std::snprintf(message, message_size, "port %s has %zu bits, not 1", name,
                          object->width);
        else {
            pin.object = object;
            return true;
        }
        return false;
    }

    // One cycle of the system clock: the inputs set before the call are what its rising edge
    // sees; the flash's and the receiver's registers change at that edge too.
    //
    // One evaluation and one commit per cycle, half of what cxxrtl_step on both clock edges
    // costs: the evaluation at the rising edge computes the logic from the state before the
    // edge, and the commit, with the clock already low again, both stores the registers' new
    // values and records the low level that makes the next rise an edge. This holds for a
    // design whose evaluation converges at once (no combinational feedback between wires, as
    // Amaranth's designs and synth_ice40's netlists have) and nothing on the falling edge.
    //
    // With BOARD_SETTLE (sim/board.py defines it for a netlist whose cell models do not settle
    // in one evaluation: the ECP5's), each edge is a full cxxrtl_step instead, evaluated and
    // committed until it converges: the outputs the world samples are the settled ones with the
    // clock low, before the rising edge, as in the fast cycle.
    void cycle() {
#ifdef BOARD_SETTLE
        clk.set(false);
        cxxrtl_step(handle);
        flash.edge(cs_n.get(), sclk.get(), copi.get());
        receiver.sample(cycles, tx.get());
        clk.set(true);
        cxxrtl_step(handle);
        cipo.set(flash.cipo);
#else
        clk.set(true);
        if (!cxxrtl_eval(handle))
            unsettled++;
        // the outputs are those from the state before the edge: what the flash samples
        flash.edge(cs_n.get(), sclk.get(), copi.get());
        receiver.sample(cycles, tx.get());  // tx as it was after the previous edge
        clk.set(false);
        cxxrtl_commit(handle);
        // the flash's `cipo` changed at the edge: the design sees it at the next one
        cipo.set(flash.cipo);
#endif
        cycles++;
    }

    void run(int64_t count) {
        for (int64_t k = 0; k < count; k++)
            cycle();
    }
};

void write_message(char *message, int32_t message_size, const char *text) {
    if (message != nullptr && message_size > 0)
        std::snprintf(message, size_t(message_size), "%s", text);
}

}  // namespace

extern "C" {

// A board: the model in its initial (reset) state, `rx` idle, the flash holding `flash_size`
// bytes from address `flash_base`, in `flash_mode`, and the host receiving at `host_bit_cycles`
// cycles per bit. Null on failure, with the reason in `status` and `message`.
void *board_create(const uint8_t *flash, int64_t flash_size, int64_t flash_base,
                   int32_t flash_mode, double host_bit_cycles, int32_t *status, char *message,
                   int32_t message_size) {
    if (status == nullptr || message == nullptr || message_size < 1)
        return nullptr;
    message[0] = '\0';
    *status = BAD_ARGUMENT;
    if (flash_size < 0 || flash_size > (int64_t(1) << 24) || (flash_size > 0 && !flash) ||
        flash_base < 0 || flash_base >= (int64_t(1) << 24)) {
        write_message(message, message_size, "the flash contents must fit in 16 MiB from a "
                      "base address below 2**24");
        return nullptr;
    }
    if (flash_mode != FLASH_NORMAL && flash_mode != FLASH_ASLEEP) {
        write_message(message, message_size, "the flash mode must be 0 (normal) or 1 (asleep)");
        return nullptr;
    }
    // !(x >= 1) also refuses NaN
    if (!(host_bit_cycles >= 1.0) || !(host_bit_cycles <= 1e12)) {
        write_message(message, message_size, "the host's bit period must be at least 1 cycle");
        return nullptr;
    }
    Board *board = new (std::nothrow) Board;
    if (board == nullptr) {
        write_message(message, message_size, "out of memory");
        return nullptr;
    }
    board->handle = cxxrtl_create(cxxrtl_design_create());
    size_t size = size_t(message_size);
    bool found = board->find(board->clk, "clk", true, message, size) &&
        board->find(board->rst, "rst", true, message, size) &&
        board->find(board->rx, "rx", true, message, size) &&
        board->find(board->tx, "tx", false, message, size) &&
        board->find(board->cs_n, "flash__cs_n", false, message, size) &&
        board->find(board->sclk, "flash__clk", false, message, size) &&
        board->find(board->copi, "flash__copi", false, message, size) &&
        board->find(board->cipo, "flash__cipo", true, message, size) &&
        board->find(board->led_ready, "led_ready", false, message, size) &&
        board->find(board->led_error, "led_error", false, message, size);
    if (!found) {
        delete board;
        *status = BAD_PORT;
        return nullptr;
    }
    if (flash_size > 0)
        board->flash.contents.assign(flash, flash + flash_size);
    board->flash.base = uint64_t(flash_base);
    board->flash.asleep = flash_mode == FLASH_ASLEEP;
    board->receiver.set_period(host_bit_cycles);
    board->receiver.buffer.reserve(4096);
    // the inputs' idle levels, and the outputs settled from the initial state before the first
    // edge (else `tx` would read low, a start bit)
    board->rst.set(false);
    board->rx.set(true);
    board->cipo.set(false);
    board->clk.set(false);
    cxxrtl_step(board->handle);
    board->receiver.prev = board->tx.get();
    *status = OK;
    return board;
}

void board_destroy(void *handle) {
    delete static_cast<Board *>(handle);
}

// `rst` high for `cycles` cycles, then low (rx idle).
int32_t board_reset(void *handle, int64_t cycles) {
    if (handle == nullptr || cycles < 0)
        return BAD_ARGUMENT;
    Board &board = *static_cast<Board *>(handle);
    board.rx.set(true);
    board.rst.set(true);
    board.run(cycles);
    board.rst.set(false);
    return OK;
}

// `rx` at `levels[k]` (0 or 1) for `durations[k]` cycles, k from 0 to n - 1; then idle (high).
int32_t board_play(void *handle, const uint8_t *levels, const int64_t *durations, int64_t n) {
    if (handle == nullptr || n < 0 || (n > 0 && (levels == nullptr || durations == nullptr)))
        return BAD_ARGUMENT;
    for (int64_t k = 0; k < n; k++)  // checked first: a refusal runs nothing
        if (levels[k] > 1 || durations[k] < 0)
            return BAD_ARGUMENT;
    Board &board = *static_cast<Board *>(handle);
    for (int64_t k = 0; k < n; k++) {
        board.rx.set(levels[k]);
        board.run(durations[k]);
    }
    board.rx.set(true);
    return OK;
}

// `rx` idle for `cycles` cycles.
int32_t board_run(void *handle, int64_t cycles) {
    if (handle == nullptr || cycles < 0)
        return BAD_ARGUMENT;
    Board &board = *static_cast<Board *>(handle);
    board.rx.set(true);
    board.run(cycles);
    return OK;
}

// With `rx` idle, runs until the receive buffer holds `count` bytes or `idle_timeout_cycles`
// cycles pass in which no byte completes (a framing error completes one too); then moves up to
// `count` bytes from the buffer to `out`. Returns how many (fewer on a timeout), -1 on a bad
// argument.
int64_t board_receive(void *handle, int64_t count, int64_t idle_timeout_cycles, uint8_t *out) {
    if (handle == nullptr || count < 0 || idle_timeout_cycles < 0 || (count > 0 && !out))
        return -1;
    Board &board = *static_cast<Board *>(handle);
    Receiver &receiver = board.receiver;
    board.rx.set(true);
    int64_t idle = 0, completed = receiver.completed;
    while (int64_t(receiver.buffer.size()) < count && idle < idle_timeout_cycles) {
        board.cycle();
        if (receiver.completed != completed) {
            completed = receiver.completed;
            idle = 0;
        } else {
            idle++;
        }
    }
    int64_t taken = std::min<int64_t>(count, int64_t(receiver.buffer.size()));
    if (taken > 0) {
        std::memcpy(out, receiver.buffer.data(), size_t(taken));
        receiver.buffer.erase(receiver.buffer.begin(), receiver.buffer.begin() + taken);
    }
    return taken;
}

// Moves up to `capacity` bytes from the receive buffer to `out` without running; returns how
// many, -1 on a bad argument.
int64_t board_take(void *handle, int64_t capacity, uint8_t *out) {
    if (handle == nullptr || capacity < 0 || (capacity > 0 && !out))
        return -1;
    return board_receive(handle, capacity, 0, out);
}

int64_t board_cycles(void *handle) {
    return handle ? static_cast<Board *>(handle)->cycles : -1;
}

int64_t board_pending(void *handle) {
    return handle ? int64_t(static_cast<Board *>(handle)->receiver.buffer.size()) : -1;
}

int64_t board_tx_errors(void *handle) {
    return handle ? static_cast<Board *>(handle)->receiver.errors : -1;
}

// Evaluations that did not converge at once: not 0 for a design with combinational feedback,
// which Board::cycle does not model.
int64_t board_unsettled(void *handle) {
    return handle ? static_cast<Board *>(handle)->unsettled : -1;
}

// led_ready in bit 0, led_error in bit 1; -1 on a bad argument
int32_t board_leds(void *handle) {
    if (handle == nullptr)
        return -1;
    Board &board = *static_cast<Board *>(handle);
    // The outputs are from the state before the last edge (Board::cycle); an evaluation with
    // the clock low brings them up to date and changes nothing else.
    cxxrtl_eval(board.handle);
    return int32_t(board.led_ready.get()) | int32_t(board.led_error.get()) << 1;
}

}  // extern "C"
