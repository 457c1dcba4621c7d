#include "cjsonscan.h"
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// 1 for the characters after a backslash that the run takes (the escapes with no further bytes and no flag to set:
// `\/` is left to the caller, which notes it).
static const uint8_t simple_escape[256] = {
    ['"'] = 1, ['\\'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1, ['r'] = 1, ['t'] = 1,
};

#if defined(__SSE2__)

// Bit k of each mask: byte k of the 64 bytes at p is a quote, a backslash, or "special" (below 0x20 or 0x80 and
// up: one signed comparison with 0x20 finds both).
static inline void block_masks(const uint8_t *p, uint64_t *quote, uint64_t *backslash, uint64_t *special) {
    const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\'), s = _mm_set1_epi8(0x20);
    uint64_t mq = 0, mb = 0, ms = 0;
    for (int k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        mq |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, q)) << (16 * k);
        mb |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, b)) << (16 * k);
        ms |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmplt_epi8(v, s)) << (16 * k);
    }
    *quote = mq;
    *backslash = mb;
    *special = ms;
}

#define EVEN_BITS 0x5555555555555555ULL
#define ODD_BITS 0xAAAAAAAAAAAAAAAAULL

// What run_block returns when it stops at the backslash that ended the block before (escaping this block's byte 0).
#define BACKSLASH_BEFORE 65u

// One block of 64 bytes at p: the index of the first byte not taken, 64 when all are taken, or BACKSLASH_BEFORE.
// `carry` says whether byte 0 is escaped by a backslash run that ended the block before; it is set for the next.
static inline unsigned run_block(const uint8_t *p, uint64_t *carry) {
    uint64_t quote, backslash, special;
    block_masks(p, &quote, &backslash, &special);
    uint64_t escaped = *carry;  // bit 0
    // A backslash that is itself escaped starts nothing; the rest form runs. In a run of backslashes, the first,
    // third, … start escapes and the byte after the run is escaped when the run's length is odd, that is when its
    // start and its end (the first byte after it) differ in parity. Adding a run's start bit to the run carries
    // through it to its end: (runs + starts) & ~runs leaves the ends.
    uint64_t runs = backslash & ~escaped;
    uint64_t starts = runs & ~(runs << 1);
    uint64_t even_starts = starts & EVEN_BITS, odd_starts = starts & ODD_BITS;
    uint64_t even_ends = (runs + even_starts) & ~runs;
    uint64_t odd_sum;
    // A run with an odd start that reaches bit 63 has an odd length here: it escapes byte 0 of the next block.
    uint64_t overflow = __builtin_add_overflow(runs, odd_starts, &odd_sum);
    uint64_t odd_ends = odd_sum & ~runs;
    escaped |= (even_ends & ODD_BITS) | (odd_ends & EVEN_BITS);
    *carry = overflow;
    unsigned stop = 64;
    // Escaped bytes other than a quote or a backslash: the run takes only \b \f \n \r \t of them; at any other, it
    // stops at the backslash (which is bit k - 1; k = 0 only after a block of this run, so the byte exists).
    uint64_t others = escaped & ~(quote | backslash);
    while (others) {
        unsigned k = (unsigned)__builtin_ctzll(others);
        if (!simple_escape[p[k]]) {
            if (k == 0) return BACKSLASH_BEFORE;
            stop = k - 1;
            break;
        }
        others &= others - 1;
    }
    uint64_t stops = (quote & ~escaped) | special;
    if (stops) {
        unsigned k = (unsigned)__builtin_ctzll(stops);
        if (k < stop) stop = k;
    }
    return stop;
}

size_t cjsonscan_string_run(const uint8_t *p, size_t i, size_t n) {
    uint64_t carry = 0;
    while (n - i >= 64) {
        unsigned stop = run_block(p + i, &carry);
        if (stop == BACKSLASH_BEFORE) return i - 1;
        if (stop < 64) return i + stop;
        i += 64;
    }
    if (i >= n) return carry ? i - 1 : n;
    // The last bytes, in a block padded with spaces (taken, and never a stop). A backslash at n - 1 escapes a
    // space, which is not a simple escape: the run stops at that backslash.
    uint8_t tail[64];
    size_t left = n - i;
    memcpy(tail, p + i, left);
    memset(tail + left, ' ', 64 - left);
    unsigned stop = run_block(tail, &carry);
    if (stop == BACKSLASH_BEFORE) return i - 1;
    return stop < left ? i + stop : n;
}

#else

// Without SSE2: the same rules one byte at a time.
size_t cjsonscan_string_run(const uint8_t *p, size_t i, size_t n) {
    while (i < n) {
        uint8_t c = p[i];
        if (c == '\\') {
            if (i + 1 < n && simple_escape[p[i + 1]]) {
                i += 2;
                continue;
            }
            return i;
        }
        if (c == '"' || c < 0x20 || c >= 0x80) return i;
        i += 1;
    }
    return n;
}

#endif

// MARK: - Where one of a few short strings may start

// Whether bytes p[0], p[1], p[2] may be a start of one bucket.
static inline int start_at(const uint8_t *p, const cjsonscan_start_tables *t) {
    uint8_t m = t->lo[0][p[0] & 15] & t->hi[0][p[0] >> 4];
    m &= t->lo[1][p[1] & 15] & t->hi[1][p[1] >> 4];
    m &= t->lo[2][p[2] & 15] & t->hi[2][p[2] >> 4];
    return m != 0;
}

size_t cjsonscan_start_candidate_bytes(const uint8_t *p, size_t i, size_t n, const cjsonscan_start_tables *t) {
    for (; i + 2 < n; i++) {
        if (start_at(p + i, t)) return i;
    }
    return n;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <tmmintrin.h>

// Sixteen positions at a time: each of the three bytes looks up its two nibbles with pshufb (the bucket bits it
// allows), and a position is a candidate when some bucket bit survives the six lookups.
__attribute__((target("ssse3"))) static size_t start_candidate_ssse3(
    const uint8_t *p, size_t i, size_t n, const cjsonscan_start_tables *t) {
    const __m128i nibble = _mm_set1_epi8(0x0F), zero = _mm_setzero_si128();
    __m128i lo[3], hi[3];
    for (int j = 0; j < 3; j++) {
        lo[j] = _mm_loadu_si128((const __m128i *)t->lo[j]);
        hi[j] = _mm_loadu_si128((const __m128i *)t->hi[j]);
    }
    // Positions i … i + 15 read bytes up to i + 17.
    while (n - i >= 18) {
        __m128i m = _mm_set1_epi8((char)0xFF);
        for (int j = 0; j < 3; j++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(p + i + j));
            __m128i l = _mm_shuffle_epi8(lo[j], _mm_and_si128(v, nibble));
            __m128i h = _mm_shuffle_epi8(hi[j], _mm_and_si128(_mm_srli_epi16(v, 4), nibble));
            m = _mm_and_si128(m, _mm_and_si128(l, h));
        }
        unsigned found = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(m, zero)) ^ 0xFFFFu;
        if (found) return i + (size_t)__builtin_ctz(found);
        i += 16;
    }
    return cjsonscan_start_candidate_bytes(p, i, n, t);
}

// Asked of the processor once (threads that race to ask first store the same answer).
static int has_ssse3(void) {
    static int known = -1;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        unsigned a, b, c, d;
        k = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) ? 1 : 0;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}
#endif

size_t cjsonscan_start_candidate(const uint8_t *p, size_t from, size_t n, const cjsonscan_start_tables *t) {
    if (from + 2 >= n) return n;
#if defined(__x86_64__)
    if (has_ssse3()) return start_candidate_ssse3(p, from, n, t);
#endif
    return cjsonscan_start_candidate_bytes(p, from, n, t);
}
