// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers of the registry protocol shared by lib/registry.c and nydusfsd:
 * auth challenges, docker auth files, token requests and answers, HTTP
 * answers, URLs (include/nydusfs/registry_auth.h).  Everything that
 * arrives here came from the network or a user's file: every length is
 * checked, nothing recurses, nothing logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "nydusfs/err.h"
#include "nydusfs/registry_auth.h"

#define AUTH_JSON_MAX	(4U << 20)	/* a config.json or a token answer */

/* ---- WWW-Authenticate ---- */

/* RFC 7230 tchar */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~/", c));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or a quoted-string at *pp; NULL on error (or no memory). */
static char *parse_value(const char **pp)
{
	const char *p = *pp, *start;
	char *out, *q;

	if (*p != '"') {
		for (start = p; is_tchar(*p) || *p == '='; p++)
			;
		*pp = p;
		return strndup(start, p - start);
	}
	out = malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	for (q = out, p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		*q++ = *p;
	}
	if (*p != '"') {
		free(out);
		return NULL;
	}
	*q = '\0';
	*pp = p + 1;
	return out;
}

struct challenge_state {
	enum nydusfs_auth_scheme cur;	/* the challenge being read */
	struct nydusfs_auth_challenge bearer, basic;
	bool have_bearer, have_basic;
};

static void set_param(struct challenge_state *st, const char *key, size_t klen,
		      char *val)
{
	struct nydusfs_auth_challenge *c = NULL;
	char **slot = NULL;

	if (st->cur == NYDUSFS_AUTH_BEARER)
		c = &st->bearer;
	else if (st->cur == NYDUSFS_AUTH_BASIC)
		c = &st->basic;
	if (c && klen == 5 && !strncasecmp(key, "realm", 5))
		slot = &c->realm;
	else if (c && klen == 7 && !strncasecmp(key, "service", 7))
		slot = &c->service;
	else if (c && klen == 5 && !strncasecmp(key, "scope", 5))
		slot = &c->scope;
	else if (c && klen == 5 && !strncasecmp(key, "error", 5))
		slot = &c->error;
	if (slot && !*slot) {
		*slot = val;		/* the first one counts */
		return;
	}
	free(val);
}

/* A scheme name starts a new challenge; only the first of each counts. */
static void start_challenge(struct challenge_state *st, const char *name,
			    size_t len)
{
	st->cur = NYDUSFS_AUTH_NONE;
	if (len == 6 && !strncasecmp(name, "Bearer", 6) && !st->have_bearer) {
		st->cur = NYDUSFS_AUTH_BEARER;
		st->have_bearer = true;
	} else if (len == 5 && !strncasecmp(name, "Basic", 5) &&
		   !st->have_basic) {
		st->cur = NYDUSFS_AUTH_BASIC;
		st->have_basic = true;
	}
}

static int scan_challenges(const char *p, struct challenge_state *st)
{
	const char *tok;
	bool in_challenge = false;
	size_t len;
	char *val;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			return in_challenge ? 0 : -EINVAL;
		for (tok = p; is_tchar(*p); p++)
			;
		len = p - tok;
		if (!len)
			return -EINVAL;
		p = skip_ws(p);
		if (*p != '=') {
			start_challenge(st, tok, len);
			in_challenge = true;
			continue;
		}
		if (!in_challenge)
			return -EINVAL;
		p = skip_ws(p + 1);
		val = parse_value(&p);
		if (!val)
			return -EINVAL;
		set_param(st, tok, len, val);
		p = skip_ws(p);
		if (*p && *p != ',')
			return -EINVAL;
	}
}

void nydusfs_auth_challenge_free(struct nydusfs_auth_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

/* A token realm is fetched: only ever over HTTP(S). */
static bool usable_realm(const char *realm)
{
	return realm && (!strncasecmp(realm, "https://", 8) ||
			 !strncasecmp(realm, "http://", 7));
}

int nydusfs_auth_parse_challenge(const char *hdr,
				 struct nydusfs_auth_challenge *c)
{
	struct challenge_state st = { 0 };
	int err;

	memset(c, 0, sizeof(*c));
	err = scan_challenges(hdr, &st);
	if (!err && st.have_bearer && usable_realm(st.bearer.realm)) {
		*c = st.bearer;
		c->scheme = NYDUSFS_AUTH_BEARER;
		memset(&st.bearer, 0, sizeof(st.bearer));
	} else if (!err && st.have_basic) {
		*c = st.basic;
		c->scheme = NYDUSFS_AUTH_BASIC;
		memset(&st.basic, 0, sizeof(st.basic));
	} else if (!err) {
		err = -EOPNOTSUPP;
	}
	nydusfs_auth_challenge_free(&st.bearer);
	nydusfs_auth_challenge_free(&st.basic);
	return err;
}

/* ---- base64 and config.json ---- */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	return c == '/' ? 63 : -1;
}

int nydusfs_base64_decode(const char *in, size_t len, uint8_t *out,
			  size_t *out_len)
{
	uint32_t acc = 0;
	size_t i, n = 0, bits = 0;
	int v;

	if (len % 4 == 0 && len && in[len - 1] == '=')
		len -= (len >= 2 && in[len - 2] == '=') ? 2 : 1;
	if (len % 4 == 1)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		v = b64_value(in[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (acc >> bits) & 0xff;
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (acc & ((1U << bits) - 1))
		return -EINVAL;
	*out_len = n;
	return 0;
}

static bool is_docker_hub(const char *host, size_t len)
{
	static const char *const names[] = {
		"docker.io", "index.docker.io", "registry-1.docker.io",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && !strncasecmp(host, names[i], len))
			return true;
	return false;
}

/* Does config.json key @key ("https://HOST/v1/", "HOST"...) name @host? */
static bool key_matches(const char *key, const char *host)
{
	const char *p = strstr(key, "://");
	size_t len;

	p = p ? p + 3 : key;
	len = strcspn(p, "/");
	if (len == strlen(host) && !strncasecmp(p, host, len))
		return true;
	return is_docker_hub(p, len) && is_docker_hub(host, strlen(host));
}

static int cred_from_auth(const char *b64, struct nydusfs_cred *cred)
{
	size_t len = strlen(b64), n;
	uint8_t *raw = malloc(len / 4 * 3 + 4);
	char *colon;
	int err;

	if (!raw)
		return -ENOMEM;
	err = nydusfs_base64_decode(b64, len, raw, &n);
	raw[err ? 0 : n] = '\0';
	colon = err ? NULL : memchr(raw, ':', n);
	if (!colon || colon == (char *)raw || memchr(raw, '\0', n)) {
		free(raw);
		return -EINVAL;
	}
	*colon = '\0';
	cred->user = strdup((char *)raw);
	cred->pass = strdup(colon + 1);
	explicit_bzero(raw, n);
	free(raw);
	return cred->user && cred->pass ? 0 : -ENOMEM;
}

static int cred_from_entry(json_t *v, struct nydusfs_cred *cred)
{
	const char *b64 = json_string_value(json_object_get(v, "auth"));
	const char *user = json_string_value(json_object_get(v, "username"));
	const char *pass = json_string_value(json_object_get(v, "password"));

	if (!json_is_object(v))
		return -EINVAL;
	if (b64 && *b64)
		return cred_from_auth(b64, cred);
	if (!user || !*user || !pass)
		return -ENOENT;		/* e.g. {} kept by a credsStore */
	cred->user = strdup(user);
	cred->pass = strdup(pass);
	return cred->user && cred->pass ? 0 : -ENOMEM;
}

int nydusfs_auth_find_cred(const char *json, size_t len, const char *host,
			   struct nydusfs_cred *cred)
{
	json_t *root, *auths, *v, *found = NULL;
	const char *key;
	int err = -ENOENT;

	memset(cred, 0, sizeof(*cred));
	if (len > AUTH_JSON_MAX)
		return -EINVAL;
	root = json_loadb(json, len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	auths = json_object_get(root, "auths");
	if (auths && !json_is_object(auths))
		err = -EINVAL;
	found = json_object_get(auths, host);	/* an exact key first */
	json_object_foreach(auths, key, v) {
		if (!found && key_matches(key, host))
			found = v;
	}
	if (found && err == -ENOENT)
		err = cred_from_entry(found, cred);
	if (err)
		nydusfs_cred_free(cred);
	json_decref(root);
	return err;
}

void nydusfs_cred_free(struct nydusfs_cred *cred)
{
	if (cred->pass)
		explicit_bzero(cred->pass, strlen(cred->pass));
	free(cred->user);
	free(cred->pass);
	cred->user = cred->pass = NULL;
}

/* ---- auth files ---- */

int nydusfs_read_small_file(const char *path, size_t max, char **buf,
			    size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t n;
	int err;

	if (!f)
		return -errno;
	*buf = malloc(max + 1);
	if (!*buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(*buf, 1, max + 1, f);
	err = ferror(f) ? -EIO : n > max ? -EFBIG : 0;
	fclose(f);
	if (err) {
		explicit_bzero(*buf, n);
		free(*buf);
		*buf = NULL;
		return err;
	}
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

static int auth_file_add(struct nydusfs_auth_files *af, const char *fmt,
			 const char *dir)
{
	struct nydusfs_auth_file *f = &af->f[af->n];

	if (asprintf(&f->path, fmt, dir) < 0) {
		f->path = NULL;
		return -ENOMEM;
	}
	af->n++;
	f->err = nydusfs_read_small_file(f->path, NYDUSFS_AUTH_FILE_MAX,
					 &f->text, &f->len);
	return f->err == -ENOMEM ? -ENOMEM : 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int nydusfs_auth_files_load(struct nydusfs_auth_files *af, const char *path)
{
	const char *v;
	int err = 0;

	memset(af, 0, sizeof(*af));
	if (path) {
		err = auth_file_add(af, "%s", path);
		return err ? err : af->f[0].err;
	}
	if ((v = env("REGISTRY_AUTH_FILE")))
		err = auth_file_add(af, "%s", v);
	if (!err && (v = env("XDG_RUNTIME_DIR")))
		err = auth_file_add(af, "%s/containers/auth.json", v);
	if (!err && (v = env("DOCKER_CONFIG")))
		err = auth_file_add(af, "%s/config.json", v);
	else if (!err && (v = env("HOME")))
		err = auth_file_add(af, "%s/.docker/config.json", v);
	return err;
}

int nydusfs_auth_files_find(const struct nydusfs_auth_files *af,
			    const char *host, struct nydusfs_cred *cred,
			    const char **from)
{
	const char *bad = NULL;
	unsigned int i;
	int err;

	memset(cred, 0, sizeof(*cred));
	*from = NULL;
	for (i = 0; i < af->n; i++) {
		if (!af->f[i].text)
			continue;
		err = nydusfs_auth_find_cred(af->f[i].text, af->f[i].len, host,
					     cred);
		if (err == -EINVAL && !bad)
			bad = af->f[i].path;
		if (err != -ENOENT && err != -EINVAL) {
			*from = af->f[i].path;
			return err;
		}
	}
	*from = bad;
	return bad ? -EINVAL : -ENOENT;
}

void nydusfs_auth_files_free(struct nydusfs_auth_files *af)
{
	unsigned int i;

	for (i = 0; i < af->n; i++) {
		if (af->f[i].text)
			explicit_bzero(af->f[i].text, af->f[i].len);
		free(af->f[i].text);
		free(af->f[i].path);
	}
	memset(af, 0, sizeof(*af));
}

/* ---- dates ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* @n decimal digits at @s; -1 if not all digits */
static int digits(const char *s, int n)
{
	int v = 0;

	while (n--) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

static bool valid_time(int mo, int d, int h, int mi, int s)
{
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h <= 23 &&
	       mi >= 0 && mi <= 59 && s >= 0 && s <= 60;
}

int nydusfs_parse_rfc3339(const char *s, int64_t *out)
{
	int y = digits(s, 4), mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p;

	if (strlen(s) < 20 || y < 0 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return -EINVAL;
	mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2);
	mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (!valid_time(mo, d, h, mi, sec))
		return -EINVAL;
	p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		if (strlen(p) != 6)		/* "+hh:mm": nothing read past it */
			return -EINVAL;
		sign = *p == '+' ? 1 : -1;
		oh = digits(p + 1, 2), om = digits(p + 4, 2);
		if (oh < 0 || om < 0 || p[3] != ':' || p[6] || oh > 23 || om > 59)
			return -EINVAL;
	} else if ((*p != 'Z' && *p != 'z') || p[1]) {
		return -EINVAL;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	       sign * (oh * 3600 + om * 60);
	return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_http_date(const char *s, int64_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *m;
	int d, y, h, mi, sec, mo;

	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
	    strcmp(s + 25, " GMT"))
		return -EINVAL;
	m = strstr(months, (char[4]){ s[8], s[9], s[10], 0 });
	if (!m || (m - months) % 3)
		return -EINVAL;
	mo = (m - months) / 3 + 1;
	d = digits(s + 5, 2), y = digits(s + 12, 4), h = digits(s + 17, 2);
	mi = digits(s + 20, 2), sec = digits(s + 23, 2);
	if (y < 0 || !valid_time(mo, d, h, mi, sec))
		return -EINVAL;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return 0;
}

int nydusfs_http_retry_after(const char *value, int64_t now, uint64_t max_ms,
			     uint64_t *ms)
{
	unsigned long long secs;
	int64_t when;
	char *end;

	while (*value == ' ')
		value++;
	if (*value >= '0' && *value <= '9') {
		secs = strtoull(value, &end, 10);
		if (*end && *end != ' ')
			return -EINVAL;
		*ms = secs > max_ms / 1000 ? max_ms : secs * 1000;
		return 0;
	}
	if (parse_http_date(value, &when))
		return -EINVAL;
	if (when <= now)
		*ms = 0;
	else
		*ms = (uint64_t)(when - now) > max_ms / 1000 ? max_ms :
		      (uint64_t)(when - now) * 1000;
	return 0;
}

/* ---- tokens ---- */

int nydusfs_auth_parse_token(const char *body, size_t len, int64_t now,
			     struct nydusfs_token *t)
{
	json_t *root, *exp;
	const char *v, *issued;
	int64_t start = now;

	memset(t, 0, sizeof(*t));
	if (len > AUTH_JSON_MAX)
		return -EINVAL;
	root = json_loadb(body, len, 0, NULL);
	v = json_string_value(json_object_get(root, "token"));
	if (!v || !*v)
		v = json_string_value(json_object_get(root, "access_token"));
	if (!v || !*v) {
		json_decref(root);
		return -EINVAL;
	}
	t->value = strdup(v);
	exp = json_object_get(root, "expires_in");
	t->expires_in = json_is_integer(exp) ? json_integer_value(exp) : 0;
	if (json_is_real(exp) && json_real_value(exp) >= 1 &&
	    json_real_value(exp) <= 366.0 * 86400)	/* NaN is neither */
		t->expires_in = json_real_value(exp);
	if (t->expires_in <= 0 || t->expires_in > 366LL * 86400)
		t->expires_in = NYDUSFS_TOKEN_DEFAULT_TTL;
	issued = json_string_value(json_object_get(root, "issued_at"));
	if (issued && nydusfs_parse_rfc3339(issued, &t->issued_at))
		t->issued_at = 0;
	if (t->issued_at && t->issued_at <= now &&
	    now - t->issued_at < t->expires_in)
		start = t->issued_at;
	t->expires_at = start + t->expires_in;
	json_decref(root);
	return t->value ? 0 : -ENOMEM;
}

void nydusfs_token_free(struct nydusfs_token *t)
{
	if (t->value)
		explicit_bzero(t->value, strlen(t->value));
	free(t->value);
	memset(t, 0, sizeof(*t));
}

bool nydusfs_token_fresh(const struct nydusfs_token *t, int64_t now)
{
	int64_t margin = t->expires_in / 10;

	if (margin < 2)
		margin = 2;
	return t->value && now < t->expires_at - margin;
}

void nydusfs_token_schedule(const struct nydusfs_token *t, int64_t now,
			    uint64_t *renew_ms, uint64_t *end_ms)
{
	uint64_t left = t->expires_at > now ? t->expires_at - now : 0;

	*end_ms = left * 1000;
	*renew_ms = left * 750;
}

char *nydusfs_auth_scope(const char *repo, const char *actions)
{
	char *s;

	return asprintf(&s, "repository:%s:%s", repo, actions) < 0 ? NULL : s;
}

/* RFC 3986 percent-encoding of all but the unreserved characters. */
static void put_escaped(FILE *f, const char *s, size_t len)
{
	unsigned char c;

	for (; len--; s++) {
		c = *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

char *nydusfs_auth_token_url(const char *realm, const char *service,
			     const char *scope)
{
	const char *p = scope ? scope : "";
	char *url = NULL;
	size_t len, n;
	FILE *f;

	f = open_memstream(&url, &len);
	if (!f)
		return NULL;
	fprintf(f, "%s%cservice=", realm, strchr(realm, '?') ? '&' : '?');
	if (service)
		put_escaped(f, service, strlen(service));
	for (;;) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (!n)
			break;
		fputs("&scope=", f);
		put_escaped(f, p, n);
		p += n;
	}
	if (fclose(f)) {
		free(url);
		return NULL;
	}
	return url;
}

/* ---- origins ---- */

struct origin {
	const char *scheme, *host;
	size_t scheme_len, host_len;
	size_t hostport_len;		/* host[:port] as written */
	unsigned long port;
};

/* RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static bool valid_scheme(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (i && ((s[i] >= '0' && s[i] <= '9') ||
			     strchr("+-.", s[i])))))
			return false;
	return len > 0;
}

static int parse_origin(const char *url, struct origin *o)
{
	const char *p = strstr(url, "://"), *end, *at, *colon, *bracket;
	char *pend;

	if (!p || !valid_scheme(url, p - url))
		return -EINVAL;
	o->scheme = url;
	o->scheme_len = p - url;
	p += 3;
	end = p + strcspn(p, "/?#");
	at = memrchr(p, '@', end - p);	/* userinfo has no '@' of its own */
	if (at)
		p = at + 1;
	bracket = p < end && *p == '[' ? memchr(p, ']', end - p) : NULL;
	colon = memchr(bracket ? bracket : p, ':', end - (bracket ? bracket : p));
	o->host = p;
	o->host_len = (colon ? colon : end) - p;
	o->hostport_len = end - p;
	if (colon) {
		o->port = strtoul(colon + 1, &pend, 10);
		if (pend != end || colon + 1 == end)
			return -EINVAL;
	} else if (o->scheme_len == 5 && !strncasecmp(url, "https", 5)) {
		o->port = 443;
	} else if (o->scheme_len == 4 && !strncasecmp(url, "http", 4)) {
		o->port = 80;
	} else {
		o->port = 0;
	}
	return o->host_len ? 0 : -EINVAL;
}

bool nydusfs_url_same_origin(const char *a, const char *b)
{
	struct origin oa, ob;

	if (parse_origin(a, &oa) || parse_origin(b, &ob))
		return false;
	return oa.scheme_len == ob.scheme_len &&
	       !strncasecmp(oa.scheme, ob.scheme, oa.scheme_len) &&
	       oa.host_len == ob.host_len &&
	       !strncasecmp(oa.host, ob.host, oa.host_len) &&
	       oa.port == ob.port;
}

char *nydusfs_url_host(const char *url)
{
	struct origin o;

	if (parse_origin(url, &o))
		return NULL;
	return strndup(o.host, o.hostport_len);
}

const char *nydusfs_url_for_log(const char *url, char *buf, size_t size)
{
	size_t n = strcspn(url, "?#"), start = 0;
	const char *p = strstr(url, "://"), *at = NULL;

	/* user:password@ in the authority, the part before any '/' */
	if (p && (size_t)(p + 3 - url) <= n) {
		start = p + 3 - url;
		at = memrchr(url + start, '@', strcspn(url + start, "/?#"));
	}
	if (at)
		snprintf(buf, size, "%.*s%.*s", (int)start, url,
			 (int)(n - (at + 1 - url)), at + 1);
	else
		snprintf(buf, size, "%.*s", (int)n, url);
	return buf;
}

/* ---- HTTP answers ---- */

char *nydusfs_http_header_value(const char *line, size_t len,
				const char *name)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
		return NULL;
	line += n + 1;
	len -= n + 1;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
		       line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	return strndup(line, len);
}

/* Decimal digits at *pp, no sign, no overflow; -EINVAL if none. */
static int parse_u64(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (*p - '0');
	}
	*pp = p;
	*out = v;
	return 0;
}

int nydusfs_http_content_range(const char *value, uint64_t *first,
			       uint64_t *last, uint64_t *total)
{
	const char *p = value;

	if (strncasecmp(p, "bytes ", 6))
		return -EINVAL;
	p = skip_ws(p + 6);
	if (parse_u64(&p, first) || *p++ != '-' || parse_u64(&p, last) ||
	    *p++ != '/')
		return -EINVAL;
	if (*p == '*' && !p[1]) {
		*total = UINT64_MAX;
		return *first <= *last ? 0 : -EINVAL;
	}
	if (parse_u64(&p, total) || *p)
		return -EINVAL;
	return *first <= *last && *last < *total ? 0 : -EINVAL;
}

int nydusfs_http_status_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 405:
	case 501:
		return -EOPNOTSUPP;
	case 408:
		return -ETIMEDOUT;
	case 413:
		return -EFBIG;
	case 416:
		return -ERANGE;
	case 429:
		return -EAGAIN;
	}
	return status >= 500 ? -EIO : -EPROTO;
}

int nydusfs_curl_errno(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EKEYREJECTED;
	case CURLE_SSL_CONNECT_ERROR:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

bool nydusfs_http_retryable(int err)
{
	return err == -EIO || err == -ECONNRESET || err == -ETIMEDOUT ||
	       err == -ECONNREFUSED || err == -EAGAIN || err == -EBADE;
}
