/*
 * Aligned text tables for the CLI's output (dkv status, dkv bench): cells
 * are collected first, then printed with every column as wide as its
 * widest cell. Out of memory while collecting is remembered and reported
 * by table_print, so callers check once, the way stdio's ferror works.
 */
#ifndef DKV_EXAMPLES_CLI_TABLE_H
#define DKV_EXAMPLES_CLI_TABLE_H

#include <stdbool.h>
#include <stdio.h>

struct table;

/* A table with ncols columns; align holds one letter per column, 'l' or
 * 'r'. The headers (ncols of them) are copied. NULL when out of memory. */
struct table *table_new(size_t ncols, const char *align, const char *const *headers);

/* Appends the next cell, filling rows left to right. */
void table_cellf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the header and rows, indented by indent spaces. -1 if any cell
 * was lost to a failed allocation (nothing is printed then), else 0. */
int table_print(const struct table *t, FILE *out, int indent);

/* Frees the table and its cells; NULL is a no-op. */
void table_free(struct table *t);

/* Writes n with thousands separators ("1,234,567") into buf. */
const char *fmt_thousands(char *buf, size_t size, unsigned long long n);

#endif
