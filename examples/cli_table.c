/*
 * Aligned text tables for the CLI (see cli_table.h). Cells live in one
 * growing array, row after row; a short final row is padded with empty
 * cells when printed.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli_table.h"

struct table {
	size_t ncols;
	char *align;
	char **cells; /* headers first, then the rows */
	size_t ncells, cap;
	bool failed;
};

static void
table_push(struct table *t, char *cell)
{
	if (cell == NULL) {
		t->failed = true;
		return;
	}
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **cells = reallocarray(t->cells, cap, sizeof(*cells));

		if (cells == NULL) {
			free(cell);
			t->failed = true;
			return;
		}
		t->cells = cells;
		t->cap = cap;
	}
	t->cells[t->ncells++] = cell;
}

struct table *
table_new(size_t ncols, const char *align, const char *const *headers)
{
	struct table *t;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	t->align = strndup(align, ncols);
	if (t->align == NULL)
		goto fail;
	for (size_t i = 0; i < ncols; i++)
		table_push(t, strdup(headers[i]));
	if (t->failed)
		goto fail;
	return t;

fail:
	table_free(t);
	return NULL;
}

void
table_cellf(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *cell;

	va_start(ap, fmt);
	if (vasprintf(&cell, fmt, ap) < 0)
		cell = NULL;
	va_end(ap);
	table_push(t, cell);
}

int
table_print(const struct table *t, FILE *out, int indent)
{
	size_t *width;
	size_t rows;

	if (t->failed)
		return -1;
	width = calloc(t->ncols, sizeof(*width));
	if (width == NULL)
		return -1;
	for (size_t i = 0; i < t->ncells; i++) {
		size_t n = strlen(t->cells[i]);

		if (n > width[i % t->ncols])
			width[i % t->ncols] = n;
	}
	rows = (t->ncells + t->ncols - 1) / t->ncols;
	for (size_t r = 0; r < rows; r++) {
		fprintf(out, "%*s", indent, "");
		for (size_t c = 0; c < t->ncols; c++) {
			size_t i = r * t->ncols + c;
			const char *cell = i < t->ncells ? t->cells[i] : "";
			bool last = c + 1 == t->ncols;

			if (t->align[c] == 'r')
				fprintf(out, "%*s", (int)width[c], cell);
			else if (last)
				fputs(cell, out); /* no trailing blanks */
			else
				fprintf(out, "%-*s", (int)width[c], cell);
			fputs(last ? "\n" : "  ", out);
		}
	}
	free(width);
	return 0;
}

void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->align);
	free(t);
}

const char *
fmt_thousands(char *buf, size_t size, unsigned long long n)
{
	char digits[32];
	int len = snprintf(digits, sizeof(digits), "%llu", n);
	size_t out = 0;

	for (int i = 0; i < len && out + 1 < size; i++) {
		if (i > 0 && (len - i) % 3 == 0 && out + 2 < size)
			buf[out++] = ',';
		buf[out++] = digits[i];
	}
	buf[out] = '\0';
	return buf;
}
