/*
 * The shell's clocks. Only lib/io, the API layer and tools read clocks; the
 * core receives time as an argument.
 */
#ifndef DKV_UTIL_CLOCK_H
#define DKV_UTIL_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ms(void);  /* monotonic milliseconds */
uint64_t clock_wall_us(void);  /* microseconds since the Unix epoch */

#endif
