// SPDX-License-Identifier: GPL-2.0
/* Startup profiles: parsing the text file (include/nydusfs/profile.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfs/log.h"
#include "nydusfs/profile.h"
#include "nydusfs/tree.h"

#define MAX_FIELDS	4

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo \xNN in place; -EINVAL on a lone backslash or a NUL byte. */
static int unescape(char *s)
{
	char *dst = s;
	int hi, lo;

	for (; *s; s++) {
		if (*s != '\\') {
			*dst++ = *s;
			continue;
		}
		if (s[1] != 'x' || (hi = hexval(s[2])) < 0 ||
		    (lo = hexval(s[3])) < 0 || !(hi | lo))
			return -EINVAL;
		*dst++ = hi << 4 | lo;
		s += 3;
	}
	*dst = '\0';
	return 0;
}

/* A decimal number, digits only. */
static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) ||
		    n > (UINT64_MAX - (*s - '0')) / 10)
			return -EINVAL;
		n = n * 10 + (*s - '0');
	}
	*v = n;
	return 0;
}

static unsigned int split(char *line, char **fields)
{
	unsigned int n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " \t\r\n", &save); tok && n < MAX_FIELDS;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		fields[n++] = tok;
	return n;
}

static int bad_line(const struct nydusfs_profile *p, unsigned int line,
		    const char *why)
{
	nydusfs_err("%s:%u: %s", p->label, line, why);
	return -EINVAL;
}

static int parse_range(struct nydusfs_profile *p, unsigned int line,
		       char **f, struct nydusfs_profile_entry *e)
{
	if (parse_u64(f[1], &e->off))
		return bad_line(p, line, "OFFSET is not a decimal number of bytes");
	if (parse_u64(f[2], &e->len))
		return bad_line(p, line, "LENGTH is not a decimal number of bytes");
	if (!e->len)
		return bad_line(p, line, "LENGTH is 0 (a range needs at least one byte; for the whole file give only PATH)");
	if (e->off + e->len < e->off)
		return bad_line(p, line, "OFFSET + LENGTH overflows");
	return 0;
}

static int parse_line(struct nydusfs_profile *p, unsigned int line, char *s,
		      struct nydusfs_profile_entry *e)
{
	char *f[MAX_FIELDS];
	unsigned int n = split(s, f);
	int err;

	if (n != 1 && n != 3)
		return bad_line(p, line, "expected PATH or PATH OFFSET LENGTH (blanks in PATH are written \\x20)");
	if (f[0][0] != '/')
		return bad_line(p, line, "PATH must be absolute (start with '/')");
	if (unescape(f[0]))
		return bad_line(p, line, "bad escape in PATH: write \\xNN with two hex digits, not \\x00");
	if (n == 3) {
		err = parse_range(p, line, f, e);
		if (err)
			return err;
	}
	err = nydusfs_tree_clean_path(f[0]);
	if (err == -EEXIST)
		err = 0;		/* the root */
	if (err)
		return bad_line(p, line, err == -ENAMETOOLONG ?
				"a name in PATH is longer than 255 bytes" :
				"PATH has a '..' component");
	e->path = strdup(f[0]);
	e->line = line;
	return e->path ? 0 : -ENOMEM;
}

static bool skip_line(const char *s)
{
	s += strspn(s, " \t\r\n");
	return !*s || *s == '#';
}

static int add_entry(struct nydusfs_profile *p, unsigned int line, char *s)
{
	struct nydusfs_profile_entry *e;
	int err;

	e = realloc(p->entries, (p->count + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	p->entries = e;
	e = &p->entries[p->count];
	memset(e, 0, sizeof(*e));
	err = parse_line(p, line, s, e);
	if (!err)
		p->count++;
	return err;
}

int nydusfs_profile_parse(FILE *f, const char *label,
			  struct nydusfs_profile *p)
{
	unsigned int line = 0;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int err = 0;

	memset(p, 0, sizeof(*p));
	p->label = strdup(label);
	if (!p->label)
		return -ENOMEM;
	while (!err && (n = getline(&buf, &cap, f)) > 0) {
		line++;
		if ((size_t)n != strlen(buf))
			err = bad_line(p, line, "a NUL byte in the line (not a text file?)");
		else if (!skip_line(buf))
			err = add_entry(p, line, buf);
	}
	free(buf);
	if (!err && ferror(f)) {
		nydusfs_err("%s: cannot read the profile", label);
		err = -EIO;
	}
	if (err)
		nydusfs_profile_free(p);
	return err;
}

int nydusfs_profile_read(const char *path, struct nydusfs_profile *p)
{
	FILE *f = fopen(path, "r");
	int err;

	if (!f) {
		err = -errno;
		nydusfs_err("profile %s: %s", path, strerror(-err));
		return err;
	}
	err = nydusfs_profile_parse(f, path, p);
	fclose(f);
	return err;
}

void nydusfs_profile_free(struct nydusfs_profile *p)
{
	unsigned int i;

	for (i = 0; i < p->count; i++)
		free(p->entries[i].path);
	free(p->entries);
	free(p->label);
	memset(p, 0, sizeof(*p));
}
