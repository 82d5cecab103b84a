/* ZoneExports has no public declarations: see include/zonemalloc.h. */
