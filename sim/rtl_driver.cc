// The batch driver of sim/rtl.py: streams images into a CXXRTL model of the network and
// collects its answers, all in native code (stepping the clock from Python would be about a
// thousand times slower). It is compiled together with the model that `write_cxxrtl` generates
// and reaches the design only through the CXXRTL C API, by port name, so one driver serves
// every design with the network's ports:
//
//   clk, rst                      the sync domain (rst optional)
//   i__valid/ready/payload        pixels: the code in bits [0, 8), `last` at bit `last_bit`
//   o__valid/ready/payload        results: the class in bits [0, logits_at), then the logits
//   w__addr/data/en               optional: a weight store's write port, loaded before the images
//
// Images go in one at a time, as sim.pysim does without overlap: the next image's first pixel is
// offered in the cycle after the previous result is taken and the previous image's last pixel
// too (a network may answer before it has taken them all). Pixels are offered on every cycle and
// results taken on every cycle, and a transfer happens at a rising edge when valid and ready were
// both high before it; an image's cycles count the edges from its first pixel's transfer to its
// result's transfer.
//
// With `back_to_back`, the images go in as one stream instead, each image's first pixel offered
// in the cycle after the previous image's last pixel was taken, whatever the results, and an
// image's cycles count the edges from the first image's first pixel's transfer to its result's
// transfer (sim/rtl.py takes the differences: the intervals between results). A result with
// no image in flight (one whose first pixel was taken and which has not been answered) is an
// error.

#include <cxxrtl/capi/cxxrtl_capi.h>

#include <cstdint>
#include <cstdio>

extern "C" cxxrtl_toplevel cxxrtl_design_create();

namespace {

// The return codes, mirrored in sim/rtl.py.
enum Status : int32_t {
    OK = 0,
    TIMEOUT = 1,       // no transfer on i or o for `watchdog_cycles` cycles
    BAD_ARGUMENT = 2,  // a count or a layout out of range, or a null array
    BAD_PORT = 3,      // a port is missing or has the wrong width (the name goes to `message`)
    EXTRA_RESULT = 4,  // a result with no image in flight
};

struct Port {
    cxxrtl_object *object = nullptr;

    uint64_t get(size_t lsb, size_t width) const {  // bits [lsb, lsb + width), width <= 32
        uint64_t chunks = object->curr[lsb / 32];
        if (lsb % 32 + width > 32)
            chunks |= uint64_t(object->curr[lsb / 32 + 1]) << 32;
        return (chunks >> (lsb % 32)) & ((uint64_t(1) << width) - 1);
    }

    void set(uint64_t value) {  // the whole port, at most 64 bits
        object->next[0] = uint32_t(value);
        if (object->width > 32)
            object->next[1] = uint32_t(value >> 32);
    }
};

struct Design {
    cxxrtl_handle handle;
    char *message;
    size_t message_size;

    Design(char *message, size_t message_size)
        : handle(cxxrtl_create(cxxrtl_design_create())), message(message),
          message_size(message_size) {}
    Design(const Design &) = delete;
    Design &operator=(const Design &) = delete;
    ~Design() { cxxrtl_destroy(handle); }

    // A port of exactly `width` bits (any width if 0); false, with the reason in `message`, if
    // there is none.
    bool find(Port &port, const char *name, size_t width, bool input) {
        size_t parts = 0;
        port.object = cxxrtl_get_parts(handle, name, &parts);
        if (port.object == nullptr)
            std::snprintf(message, message_size, "port %s is missing", name);
        else if (parts != 1 || (input && port.object->next == nullptr))
            std::snprintf(message, message_size, "port %s cannot be driven (not a single-part "
                          "input)", name);
        else if (width != 0 && port.object->width != width)
            std::snprintf(message, message_size, "port %s has %zu bits, not %zu", name,
                          port.object->width, width);
        else if (input && port.object->width > 64)
            std::snprintf(message, message_size, "port %s has %zu bits, more than the driver's "
                          "64", name, port.object->width);
        else
            return true;
        port.object = nullptr;
        return false;
    }

    bool has(const char *name) {
        size_t parts = 0;
        return cxxrtl_get_parts(handle, name, &parts) != nullptr;
    }

    // One clock cycle: the inputs set before the call are seen by the rising edge.
    void cycle(Port &clk) {
        clk.set(0);
        cxxrtl_step(handle);
        clk.set(1);
        cxxrtl_step(handle);
    }
};

// The class and logits on the result port, as image `index`'s.
void take_result(const Port &o_payload, int32_t logits_at, int32_t classes, int32_t index,
                 int32_t *classes_out, int8_t *logits_out) {
    classes_out[index] = int32_t(o_payload.get(0, logits_at));
    for (int32_t c = 0; c < classes; c++)
        logits_out[int64_t(index) * classes + c] = int8_t(o_payload.get(logits_at + 8 * c, 8));
}


}  // namespace

extern "C" int32_t mnist_run(
    const uint8_t *pixels, int32_t images, int32_t pixels_per_image,
    const uint64_t *words, int32_t word_count, int32_t last_bit, int32_t logits_at,
    int32_t classes, int64_t watchdog_cycles, int32_t back_to_back,
    int32_t *classes_out, int8_t *logits_out, int64_t *cycles_out, int32_t *done_out,
    char *message, int32_t message_size) {
    if (message == nullptr || message_size < 1 || done_out == nullptr)
        return BAD_ARGUMENT;
    message[0] = '\0';
    *done_out = 0;
    bool counts = images >= 0 && pixels_per_image >= 1 && word_count >= 0 && classes >= 1 &&
        classes <= 256 && last_bit >= 8 && last_bit <= 31 && logits_at >= 1 && logits_at <= 8 &&
        watchdog_cycles >= 1;
    bool arrays = (images == 0 || (pixels && classes_out && logits_out && cycles_out)) &&
        (word_count == 0 || words);
    if (!counts || !arrays) {
        std::snprintf(message, message_size, "a count or a layout is out of range, or an "
                      "array is missing");
        return BAD_ARGUMENT;
    }
    Design design(message, size_t(message_size));
    Port clk, rst, i_valid, i_ready, i_payload, o_valid, o_ready, o_payload, w_addr, w_data, w_en;
    bool found = design.find(clk, "clk", 1, true) &&
        design.find(i_valid, "i__valid", 1, true) && design.find(i_ready, "i__ready", 1, false) &&
        design.find(i_payload, "i__payload", last_bit + 1, true) &&
        design.find(o_valid, "o__valid", 1, false) && design.find(o_ready, "o__ready", 1, true) &&
        design.find(o_payload, "o__payload", logits_at + 8 * classes, false);
    if (found && word_count > 0)
        found = design.find(w_addr, "w__addr", 0, true) &&
            design.find(w_data, "w__data", 64, true) && design.find(w_en, "w__en", 0, true);
    if (!found)
        return BAD_PORT;

    // A reset, as the board's reset synchroniser gives (the initial state is the reset state
    // already; the reset is here so that a design that forgets an initial value shows it).
    if (design.has("rst")) {
        if (!design.find(rst, "rst", 1, true))
            return BAD_PORT;
        rst.set(1);
        design.cycle(clk);
        rst.set(0);
    }

    for (int32_t k = 0; k < word_count; k++) {  // every lane of every word
        w_addr.set(k);
        w_data.set(words[k]);
        w_en.set(~uint64_t(0) >> (64 - w_en.object->width));
        design.cycle(clk);
    }
    if (word_count > 0)
        w_en.set(0);

    o_ready.set(1);
    // pixels: `sent` of all the images' taken; results: `answered` taken. One at a time, an
    // image's pixels are offered once the images before have all been answered; a network may
    // answer before it has taken its image's last pixels (a pooling that drops the last rows),
    // which it still takes, so the next image starts after both.
    int64_t cycle = 0, idle = 0, start = 0, sent = 0;
    int64_t total = int64_t(images) * pixels_per_image;
    int32_t answered = 0;
    while (answered < images || sent < total) {
        int64_t image = sent / pixels_per_image, in_image = sent % pixels_per_image;
        bool offering = sent < total && (back_to_back || image <= answered);
        i_valid.set(offering);
        if (offering)
            i_payload.set(pixels[sent] | uint64_t(in_image == pixels_per_image - 1) << last_bit);
        clk.set(0);
        cxxrtl_step(design.handle);
        // what the rising edge will see
        bool pixel_taken = offering && i_ready.get(0, 1);
        bool result_taken = o_valid.get(0, 1);
        int64_t begun = (sent + pixels_per_image - 1) / pixels_per_image;
        if (result_taken && answered >= begun) {
            std::snprintf(message, message_size, "result %d with no image in flight (%lld of "
                          "%lld pixels taken)", answered + 1, (long long)sent,
                          (long long)total);
            return EXTRA_RESULT;
        }
        if (result_taken)
            take_result(o_payload, logits_at, classes, answered, classes_out, logits_out);
        clk.set(1);
        cxxrtl_step(design.handle);
        cycle++;
        if (pixel_taken && (in_image == 0 && (!back_to_back || sent == 0)))
            start = cycle;
        sent += pixel_taken;
        if (result_taken) {
            cycles_out[answered] = cycle - start;
            *done_out = ++answered;
        }
        idle = (pixel_taken || result_taken) ? 0 : idle + 1;
        if (idle >= watchdog_cycles) {
            int64_t waiting = sent - int64_t(answered) * pixels_per_image;
            std::snprintf(message, message_size,
                          "no transfer on i or o for %lld cycles in image %d (%lld of %d "
                          "pixels taken)%s", (long long)watchdog_cycles, answered,
                          (long long)(waiting < pixels_per_image ? waiting : pixels_per_image),
                          pixels_per_image, back_to_back ? ", back to back" : "");
            return TIMEOUT;
        }
    }
    return OK;
}
