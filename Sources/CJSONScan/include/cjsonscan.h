// The two byte loops that want vector instructions: crossing the inside of a JSON string, and finding where one of
// a few short strings may start (the redactor's hints). Swift 6.3 has no portable way to compare 16 bytes at once
// and get the result as a bit mask (SSE2's movemask), nor a byte shuffle (SSSE3's pshufb), so these small functions
// are C; FlywheelSupport calls them and keeps every rule and error message of its own.
#ifndef FLYWHEEL_CJSONSCAN_H
#define FLYWHEEL_CJSONSCAN_H
#include <stddef.h>
#include <stdint.h>

/// Advances over the inside of a JSON string from `p[i]` (`i <= n`; `p[i]` is not in the middle of an escape) and
/// returns the index of the first byte it does not take, or `n`. It takes printable ASCII bytes other than `"` and
/// `\`, and the escapes `\"` `\\` `\b` `\f` `\n` `\r` `\t` whole. It stops at: the closing (unescaped) quote, a
/// backslash starting any other escape (`\u`, `\/`, an invalid one, or one cut off by `n`), a control byte, or a
/// byte of 0x80 and above. It never reads `p[n]` or beyond.
size_t cjsonscan_string_run(const uint8_t *p, size_t i, size_t n);

/// Nibble tables that say which three-byte starts to look for, sorted into up to eight buckets: a byte b may be
/// byte j (0, 1 or 2) of a start in bucket k when bit k is set in both `lo[j][b & 15]` and `hi[j][b >> 4]`.
typedef struct {
    uint8_t lo[3][16];
    uint8_t hi[3][16];
} cjsonscan_start_tables;

/// The first i in [from, n - 2) where bytes p[i], p[i + 1], p[i + 2] all may be a start of one bucket (a candidate
/// for one of the strings the tables describe: false ones are possible, missed ones are not), or n when there is
/// none. 16 positions at a time with SSSE3 (chosen at run time), else one at a time; both give the same answer.
/// Never reads p[n] or beyond.
size_t cjsonscan_start_candidate(const uint8_t *p, size_t from, size_t n, const cjsonscan_start_tables *t);

/// ``cjsonscan_start_candidate`` one position at a time, whatever the processor (for tests that hold the two equal).
size_t cjsonscan_start_candidate_bytes(const uint8_t *p, size_t from, size_t n, const cjsonscan_start_tables *t);

#endif
