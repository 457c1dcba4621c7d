// The one loop of the JSON scanner that wants vector instructions: crossing the inside of a string. Swift 6.3 has
// no portable way to compare 16 bytes at once and get the result as a bit mask (SSE2's movemask), so this small
// function is C; FlywheelSupport's JSONScanner calls it and keeps every rule and error message of its own.
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

#endif
