/* Entry lists compared by tag (see keydiff.h). */
#include "config.h"

#include <stdlib.h>

#include "core/keydiff.h"

static int
by_tag(const void *x, const void *y)
{
	const struct keydiff_entry *a = x, *b = y;

	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	/* ties in a fixed order, so the calls do not depend on the input's */
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* How many of e[i..n) have tag (sorted). */
static size_t
run_of(const struct keydiff_entry *e, size_t i, size_t n, uint32_t tag)
{
	size_t k = i;

	while (k < n && e[k].tag == tag)
		k++;
	return k - i;
}

size_t
keydiff(struct keydiff_entry *mine, size_t nm, struct keydiff_entry *theirs, size_t nt,
        const struct keydiff_ops *ops)
{
	size_t i = 0, j = 0, compared = 0;

	if (nm > 1)
		qsort(mine, nm, sizeof(*mine), by_tag);
	if (nt > 1)
		qsort(theirs, nt, sizeof(*theirs), by_tag);
	while (i < nm || j < nt) {
		uint32_t tag = i == nm                                 ? theirs[j].tag
		               : j == nt || mine[i].tag < theirs[j].tag ? mine[i].tag
		                                                        : theirs[j].tag;
		size_t gi = run_of(mine, i, nm, tag), gj = run_of(theirs, j, nt, tag);
		bool send = false, ask = false, syncback = true;

		compared += gi > gj ? gi : gj;
		if (gj == 0) {
			send = true; /* they lack it */
			syncback = false;
		} else if (gi == 0) {
			ask = true; /* we lack it */
			syncback = false;
		} else if (gi == 1 && gj == 1) {
			if (mine[i].hash != theirs[j].hash) {
				send = mine[i].sum >= theirs[j].sum;
				ask = !send;
			}
		} else {
			send = ask = true; /* a tag two keys share */
		}
		for (size_t k = i; send && k < i + gi; k++)
			ops->send(ops->arg, mine[k].idx, syncback);
		if (ask)
			ops->want(ops->arg, tag, syncback);
		i += gi;
		j += gj;
	}
	return compared;
}
