// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the pure registry helpers (lib/registry_auth.c): auth
 * challenges, config.json credentials, base64, token answers and their
 * lifetime, Retry-After, RFC 3339 dates, origins; then random and mutated
 * inputs to every parser (run under ASan/UBSan by make san).  One line per
 * failed case; exit 0 if all pass, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "nydusfs/err.h"
#include "nydusfs/registry_auth.h"

static int failures, cases;

#define CHECK(cond, ...)						\
	do {								\
		cases++;						\
		if (!(cond)) {						\
			failures++;					\
			printf("FAIL %s:%d: ", __FILE__, __LINE__);	\
			printf(__VA_ARGS__);				\
			printf("\n");					\
		}							\
	} while (0)

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* ---- challenges ---- */

struct challenge_case {
	const char *hdr;
	int err;
	enum nydusfs_auth_scheme scheme;
	const char *realm, *service, *scope, *error;
};

static const struct challenge_case challenges[] = {
	{ "Bearer realm=\"https://auth.example/token\",service=\"reg\","
	  "scope=\"repository:a/b:pull\"", 0, NYDUSFS_AUTH_BEARER,
	  "https://auth.example/token", "reg", "repository:a/b:pull", NULL },
	/* the spelling docker-registry sends, and odd spacing and case */
	{ "bearer   Realm = \"http://127.0.0.1:5001/token\" , SERVICE=x",
	  0, NYDUSFS_AUTH_BEARER, "http://127.0.0.1:5001/token", "x", NULL,
	  NULL },
	{ "Bearer realm=\"https://a/t\",scope=\"repository:x:pull,push "
	  "repository:y:pull\",error=\"insufficient_scope\"", 0,
	  NYDUSFS_AUTH_BEARER, "https://a/t", NULL,
	  "repository:x:pull,push repository:y:pull", "insufficient_scope" },
	/* escapes in a quoted-string */
	{ "Bearer realm=\"https://a/t?x=\\\"q\\\"\"", 0, NYDUSFS_AUTH_BEARER,
	  "https://a/t?x=\"q\"", NULL, NULL, NULL },
	{ "Basic realm=\"Registry Realm\"", 0, NYDUSFS_AUTH_BASIC,
	  "Registry Realm", NULL, NULL, NULL },
	{ "Basic", 0, NYDUSFS_AUTH_BASIC, NULL, NULL, NULL, NULL },
	/* two challenges: Bearer wins, whichever comes first */
	{ "Basic realm=\"r\", Bearer realm=\"https://t\",service=\"s\"", 0,
	  NYDUSFS_AUTH_BEARER, "https://t", "s", NULL, NULL },
	{ "Bearer realm=\"https://t\", Basic realm=\"r\"", 0,
	  NYDUSFS_AUTH_BEARER, "https://t", NULL, NULL, NULL },
	/* a Bearer without realm is unusable: Basic then */
	{ "Bearer service=\"s\", Basic realm=\"r\"", 0, NYDUSFS_AUTH_BASIC,
	  "r", NULL, NULL, NULL },
	/* the first of a repeated parameter counts */
	{ "Bearer realm=\"https://one\",realm=\"https://two\"", 0,
	  NYDUSFS_AUTH_BEARER, "https://one", NULL, NULL, NULL },
	/* an unknown scheme next to a known one */
	{ "Negotiate, Bearer realm=\"https://t\"", 0, NYDUSFS_AUTH_BEARER,
	  "https://t", NULL, NULL, NULL },
	{ "Negotiate abc", -EOPNOTSUPP },
	{ "Bearer service=\"s\"", -EOPNOTSUPP },
	{ "Bearer realm=\"\"", -EOPNOTSUPP },
	{ "", -EINVAL },
	{ "   ", -EINVAL },
	/* a realm the client would not fetch over HTTP(S) */
	{ "Bearer realm=\"file:///etc/passwd\"", -EOPNOTSUPP },
	{ "Bearer realm=\"ftp://t\", Basic realm=\"r\"", 0, NYDUSFS_AUTH_BASIC,
	  "r", NULL, NULL, NULL },
	{ "realm=\"x\"", -EINVAL },
	{ "Bearer realm=\"unterminated", -EINVAL },
	{ "Bearer realm=\"x\" junk=", -EINVAL },
	{ "Bearer =x", -EINVAL },
};

static void test_challenges(void)
{
	struct nydusfs_auth_challenge c;
	size_t i;
	int err;

	for (i = 0; i < sizeof(challenges) / sizeof(challenges[0]); i++) {
		const struct challenge_case *t = &challenges[i];

		err = nydusfs_auth_parse_challenge(t->hdr, &c);
		CHECK(err == t->err, "challenge '%s': %d, expected %d", t->hdr,
		      err, t->err);
		if (!err && !t->err) {
			CHECK(c.scheme == t->scheme && same(c.realm, t->realm) &&
			      same(c.service, t->service) &&
			      same(c.scope, t->scope) && same(c.error, t->error),
			      "challenge '%s': scheme %d realm '%s' service '%s' "
			      "scope '%s' error '%s'", t->hdr, c.scheme,
			      c.realm ?: "-", c.service ?: "-", c.scope ?: "-",
			      c.error ?: "-");
		}
		nydusfs_auth_challenge_free(&c);
	}
}

/* ---- base64 and credentials ---- */

static void test_base64(void)
{
	static const struct { const char *in; const char *out; int err; } t[] = {
		{ "", "", 0 },
		{ "Zg==", "f", 0 }, { "Zg", "f", 0 },
		{ "Zm8=", "fo", 0 }, { "Zm8", "fo", 0 },
		{ "Zm9v", "foo", 0 },
		{ "dXNlcjpwYXNz", "user:pass", 0 },
		{ "Zh==", NULL, -EINVAL },	/* non-zero trailing bits */
		{ "Z", NULL, -EINVAL },
		{ "Zm9v!", NULL, -EINVAL },
		{ "Zm 9v", NULL, -EINVAL },
		{ "=", NULL, -EINVAL },
	};
	uint8_t out[64];
	size_t i, n;
	int err;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err = nydusfs_base64_decode(t[i].in, strlen(t[i].in), out, &n);
		CHECK(err == t[i].err, "base64 '%s': %d", t[i].in, err);
		if (!err && t[i].out)
			CHECK(n == strlen(t[i].out) && !memcmp(out, t[i].out, n),
			      "base64 '%s': wrong bytes", t[i].in);
	}
}

struct cred_case {
	const char *json, *host;
	int err;
	const char *user, *pass;
};

static const struct cred_case creds[] = {
	/* base64 "user:pass" */
	{ "{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
	  "127.0.0.1:5000", 0, "user", "pass" },
	/* a password with ':' keeps it */
	{ "{\"auths\":{\"r.example\":{\"auth\":\"dTpwOnc6eA==\"}}}",
	  "r.example", 0, "u", "p:w:x" },
	/* URL-shaped keys */
	{ "{\"auths\":{\"https://r.example/v1/\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
	  "r.example", 0, "user", "pass" },
	{ "{\"auths\":{\"http://R.Example:5000\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
	  "r.example:5000", 0, "user", "pass" },
	/* a port is part of the host */
	{ "{\"auths\":{\"r.example\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
	  "r.example:5000", -ENOENT },
	/* username/password fields */
	{ "{\"auths\":{\"h\":{\"username\":\"a\",\"password\":\"b\"}}}",
	  "h", 0, "a", "b" },
	/* docker.io and its legacy key */
	{ "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
	  "docker.io", 0, "user", "pass" },
	{ "{\"auths\":{\"docker.io\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
	  "registry-1.docker.io", 0, "user", "pass" },
	/* an exact key beats a looser one */
	{ "{\"auths\":{\"https://h\":{\"auth\":\"YTpi\"},"
	  "\"h\":{\"auth\":\"dXNlcjpwYXNz\"}}}", "h", 0, "user", "pass" },
	/* nothing for this host; a credsStore's empty entry */
	{ "{\"auths\":{\"other\":{\"auth\":\"dXNlcjpwYXNz\"}}}", "h", -ENOENT },
	{ "{\"auths\":{\"h\":{}},\"credsStore\":\"desktop\"}", "h", -ENOENT },
	{ "{}", "h", -ENOENT },
	/* malformed */
	{ "{\"auths\":{\"h\":{\"auth\":\"!!!\"}}}", "h", -EINVAL },
	{ "{\"auths\":{\"h\":{\"auth\":\"dXNlcg==\"}}}", "h", -EINVAL },
	{ "{\"auths\":{\"h\":{\"auth\":\"OnBhc3M=\"}}}", "h", -EINVAL },
	{ "{\"auths\":[1]}", "h", -EINVAL },
	{ "{\"auths\":{\"h\":7}}", "h", -EINVAL },
	{ "not json", "h", -EINVAL },
	{ "[]", "h", -EINVAL },
};

static void test_creds(void)
{
	struct nydusfs_cred c;
	size_t i;
	int err;

	for (i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
		const struct cred_case *t = &creds[i];

		err = nydusfs_auth_find_cred(t->json, strlen(t->json), t->host,
					     &c);
		CHECK(err == t->err, "creds #%zu for %s: %d, expected %d", i,
		      t->host, err, t->err);
		if (!err && !t->err)
			CHECK(same(c.user, t->user) && same(c.pass, t->pass),
			      "creds #%zu: user '%s'", i, c.user);
		if (err)
			CHECK(!c.user && !c.pass, "creds #%zu: left set", i);
		nydusfs_cred_free(&c);
	}
}

/* ---- tokens and dates ---- */

static void test_rfc3339(void)
{
	static const struct { const char *s; int64_t v; int err; } t[] = {
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2009-11-10T23:00:00Z", 1257894000, 0 },
		{ "2009-11-10T23:00:00.123456789Z", 1257894000, 0 },
		{ "2009-11-11T00:30:00+01:30", 1257894000, 0 },
		{ "2009-11-10T21:00:00-02:00", 1257894000, 0 },
		{ "2000-02-29T12:00:00z", 951825600, 0 },
		{ "2009-11-10 23:00:00Z", 1257894000, 0 },
		{ "2009-11-10T23:00:00", 0, -EINVAL },
		{ "2009-13-10T23:00:00Z", 0, -EINVAL },
		{ "2009-11-10T23:00:00Zjunk", 0, -EINVAL },
		{ "2009-11-10T23:00:00+1:00", 0, -EINVAL },
		{ "2009-11-10T23:00:00.123+", 0, -EINVAL },	/* fuzzer */
		{ "2009-11-10T23:00:00+01:00x", 0, -EINVAL },
		{ "yesterday", 0, -EINVAL },
		{ "", 0, -EINVAL },
	};
	int64_t v;
	size_t i;
	int err;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = -1;
		err = nydusfs_parse_rfc3339(t[i].s, &v);
		CHECK(err == t[i].err && (err || v == t[i].v),
		      "rfc3339 '%s': %d %lld", t[i].s, err, (long long)v);
	}
}

static void test_tokens(void)
{
	const int64_t now = 1257894000;	/* 2009-11-10T23:00:00Z */
	struct nydusfs_token t;
	const char *b;
	int err;

	b = "{\"token\":\"abc\",\"expires_in\":300,"
	    "\"issued_at\":\"2009-11-10T22:59:00Z\"}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && same(t.value, "abc") && t.expires_in == 300 &&
	      t.issued_at == now - 60 && t.expires_at == now + 240,
	      "token with issued_at: %d %lld", err, (long long)t.expires_at);
	CHECK(nydusfs_token_fresh(&t, now + 200), "fresh at +200");
	CHECK(!nydusfs_token_fresh(&t, now + 220), "renewed at 9/10");
	nydusfs_token_free(&t);

	/* access_token; no expires_in: 60 s */
	b = "{\"access_token\":\"xyz\"}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && same(t.value, "xyz") &&
	      t.expires_in == NYDUSFS_TOKEN_DEFAULT_TTL &&
	      t.expires_at == now + 60, "access_token: %d", err);
	nydusfs_token_free(&t);

	/* both: "token" wins; a short lifetime is honoured */
	b = "{\"token\":\"t\",\"access_token\":\"a\",\"expires_in\":3}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && same(t.value, "t") && t.expires_in == 3,
	      "token and access_token: %d", err);
	CHECK(nydusfs_token_fresh(&t, now), "3 s token fresh at once");
	CHECK(!nydusfs_token_fresh(&t, now + 1), "3 s token renewed at +1");
	nydusfs_token_free(&t);

	/* issued_at in the future or long ago: counted from now */
	b = "{\"token\":\"t\",\"expires_in\":100,"
	    "\"issued_at\":\"2009-11-10T23:30:00Z\"}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && t.expires_at == now + 100, "future issued_at");
	nydusfs_token_free(&t);
	b = "{\"token\":\"t\",\"expires_in\":100,"
	    "\"issued_at\":\"2001-01-01T00:00:00Z\"}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && t.expires_at == now + 100, "ancient issued_at");
	nydusfs_token_free(&t);

	/* odd expires_in values: the default */
	b = "{\"token\":\"t\",\"expires_in\":-5,\"issued_at\":\"bad\"}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && t.expires_in == 60 && !t.issued_at, "negative ttl");
	nydusfs_token_free(&t);
	b = "{\"token\":\"t\",\"expires_in\":8e88}";	/* fuzzer */
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && t.expires_in == 60, "huge real ttl");
	nydusfs_token_free(&t);
	b = "{\"token\":\"t\",\"expires_in\":90.5}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && t.expires_in == 90, "real ttl");
	nydusfs_token_free(&t);
	b = "{\"token\":\"t\",\"expires_in\":\"300\"}";
	err = nydusfs_auth_parse_token(b, strlen(b), now, &t);
	CHECK(!err && t.expires_in == 60, "string ttl");
	nydusfs_token_free(&t);

	/* no token */
	b = "{\"token\":\"\",\"expires_in\":300}";
	CHECK(nydusfs_auth_parse_token(b, strlen(b), now, &t) == -EINVAL,
	      "empty token");
	b = "{\"token\":7}";
	CHECK(nydusfs_auth_parse_token(b, strlen(b), now, &t) == -EINVAL,
	      "number token");
	b = "<html>";
	CHECK(nydusfs_auth_parse_token(b, strlen(b), now, &t) == -EINVAL,
	      "not json");
	CHECK(!nydusfs_token_fresh(&t, now), "a failed parse is not fresh");
}

static void test_scope(void)
{
	char *s = nydusfs_auth_scope("a/b", "pull,push");

	CHECK(s && !strcmp(s, "repository:a/b:pull,push"), "scope '%s'", s);
	free(s);
	s = nydusfs_auth_token_url("https://t/token", "reg ist",
				   "repository:a/b:pull  repository:c:pull,push");
	CHECK(s && !strcmp(s, "https://t/token?service=reg%20ist"
			   "&scope=repository%3Aa%2Fb%3Apull"
			   "&scope=repository%3Ac%3Apull%2Cpush"),
	      "token url '%s'", s);
	free(s);
	s = nydusfs_auth_token_url("https://t/token?x=1", NULL, NULL);
	CHECK(s && !strcmp(s, "https://t/token?x=1&service="),
	      "token url with a query '%s'", s);
	free(s);
}

static void test_schedule(void)
{
	struct nydusfs_token t = { .expires_in = 60, .expires_at = 1060 };
	uint64_t renew, end;

	nydusfs_token_schedule(&t, 1000, &renew, &end);
	CHECK(renew == 45000 && end == 60000, "60 s token: %llu %llu",
	      (unsigned long long)renew, (unsigned long long)end);
	/* issued a second before it arrived */
	t.expires_in = 2;
	t.expires_at = 1001;
	nydusfs_token_schedule(&t, 1000, &renew, &end);
	CHECK(renew == 750 && end == 1000, "2 s token: %llu %llu",
	      (unsigned long long)renew, (unsigned long long)end);
	nydusfs_token_schedule(&t, 2000, &renew, &end);
	CHECK(renew == 0 && end == 0, "an expired token");
}

/* ---- answers ---- */

static void test_content_range(void)
{
	static const struct {
		const char *v;
		int err;
		uint64_t first, last, total;
	} t[] = {
		{ "bytes 0-99/1000", 0, 0, 99, 1000 },
		{ "bytes 100-100/*", 0, 100, 100, UINT64_MAX },
		{ "Bytes  5-9/10", 0, 5, 9, 10 },
		{ "bytes 18446744073709551614-18446744073709551614/*", 0,
		  UINT64_MAX - 1, UINT64_MAX - 1, UINT64_MAX },
		{ "bytes 5-9/9", -EINVAL },		/* past the end */
		{ "bytes 9-5/10", -EINVAL },
		{ "bytes */1000", -EINVAL },
		{ "bytes -1-5/10", -EINVAL },
		{ "bytes 0-5/10 ", -EINVAL },
		{ "bytes 0-99999999999999999999/*", -EINVAL },
		{ "items 0-5/10", -EINVAL },
		{ "bytes 0-5", -EINVAL },
		{ "", -EINVAL },
	};
	uint64_t a, b, n;
	size_t i;
	int err;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err = nydusfs_http_content_range(t[i].v, &a, &b, &n);
		CHECK(err == t[i].err && (err || (a == t[i].first &&
						  b == t[i].last &&
						  n == t[i].total)),
		      "Content-Range '%s': %d", t[i].v, err);
	}
}

static void test_outcomes(void)
{
	char *v;

	CHECK(!nydusfs_http_status_errno(206) &&
	      nydusfs_http_status_errno(401) == -EACCES &&
	      nydusfs_http_status_errno(404) == -ENOENT &&
	      nydusfs_http_status_errno(429) == -EAGAIN &&
	      nydusfs_http_status_errno(503) == -EIO &&
	      nydusfs_http_status_errno(302) == -EPROTO, "status errno");
	CHECK(nydusfs_http_retryable(nydusfs_http_status_errno(503)) &&
	      nydusfs_http_retryable(nydusfs_http_status_errno(429)) &&
	      !nydusfs_http_retryable(nydusfs_http_status_errno(403)) &&
	      !nydusfs_http_retryable(nydusfs_http_status_errno(404)),
	      "retry 5xx and 429, not 403 and 404");
	CHECK(nydusfs_curl_errno(CURLE_RECV_ERROR) == -ECONNRESET &&
	      nydusfs_curl_errno(CURLE_PEER_FAILED_VERIFICATION) ==
	      -EKEYREJECTED &&
	      nydusfs_http_retryable(nydusfs_curl_errno(CURLE_COULDNT_CONNECT)) &&
	      !nydusfs_http_retryable(nydusfs_curl_errno(
		      CURLE_PEER_FAILED_VERIFICATION)), "curl errno");
	v = nydusfs_http_header_value("retry-after:  7 \r\n", 17,
				      "Retry-After");
	CHECK(v && !strcmp(v, "7"), "header value '%s'", v);
	free(v);
	v = nydusfs_http_header_value("Retry-After-X: 7\r\n", 18,
				      "Retry-After");
	CHECK(!v, "another header");
	free(v);
}

/* ---- Retry-After and origins ---- */

static void test_retry_after(void)
{
	const int64_t now = 784111777;	/* Sun, 06 Nov 1994 08:49:37 GMT */
	static const struct { const char *v; uint64_t ms; int err; } t[] = {
		{ "2", 2000, 0 },
		{ " 0", 0, 0 },
		{ "120", 60000, 0 },		/* capped */
		{ "99999999999999999999", 60000, 0 },
		{ "Sun, 06 Nov 1994 08:49:40 GMT", 3000, 0 },
		{ "Sun, 06 Nov 1994 08:49:00 GMT", 0, 0 },	/* past */
		{ "Mon, 07 Nov 1994 08:49:37 GMT", 60000, 0 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 0, -EINVAL },
		{ "Sun, 06 Foo 1994 08:49:40 GMT", 0, -EINVAL },
		{ "2s", 0, -EINVAL },
		{ "soon", 0, -EINVAL },
		{ "", 0, -EINVAL },
	};
	uint64_t ms;
	size_t i;
	int err;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ms = 12345;
		err = nydusfs_http_retry_after(t[i].v, now, 60000, &ms);
		CHECK(err == t[i].err && (err || ms == t[i].ms),
		      "Retry-After '%s': %d %llu", t[i].v, err,
		      (unsigned long long)ms);
	}
}

static void test_origins(void)
{
	static const struct { const char *a, *b; bool same; } t[] = {
		{ "https://h/v2/x", "https://h/v2/y?q", true },
		{ "https://h:443/a", "https://H/b", true },
		{ "http://h/a", "http://h:80/b", true },
		{ "http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000", true },
		{ "https://h/a", "http://h/a", false },
		{ "https://h/a", "https://h:8443/a", false },
		{ "https://h/a", "https://h.evil/a", false },
		{ "https://h/a", "https://x@h/a", true },
		{ "https://h@evil/a", "https://h/a", false },
		{ "https://h@evil@h/a", "https://h/a", true },	/* (curl refuses it) */
		{ "http://[::1]:5000/v2/", "http://[::1]:5000/x", true },
		{ "http://[::1]:5000/v2/", "http://[::1]:5001/x", false },
		{ "/v2/relative", "https://h/", false },
		{ "https://h:x/", "https://h/", false },
	};
	static const struct { const char *url, *host, *log; } u[] = {
		{ "https://u:p@h:5000/v2/x?X-Sig=s#f", "h:5000",
		  "https://h:5000/v2/x" },
		{ "http://[::1]:5000/v2/", "[::1]:5000", "http://[::1]:5000/v2/" },
		{ "https://h/a@b?q", "h", "https://h/a@b" },
		{ "h:5000/v2/", NULL, "h:5000/v2/" },
		/* found by the fuzzer: the '#' before "://" ended the URL */
		{ "x#:https://u:p@h/?q", NULL, "x" },
		{ "https://h/p?u:p@x#", "h", "https://h/p" },
		/* a password with an '@' in it: all of it goes */
		{ "https://u:p@ss@h:1/x", "h:1", "https://h:1/x" },
	};
	char buf[64], *h;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(nydusfs_url_same_origin(t[i].a, t[i].b) == t[i].same,
		      "origin '%s' '%s'", t[i].a, t[i].b);
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		h = nydusfs_url_host(u[i].url);
		CHECK(same(h, u[i].host), "host of '%s': '%s'", u[i].url, h);
		free(h);
		nydusfs_url_for_log(u[i].url, buf, sizeof(buf));
		CHECK(!strcmp(buf, u[i].log), "log of '%s': '%s'", u[i].url,
		      buf);
	}
}

/* ---- auth files ---- */

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void test_auth_files(void)
{
	char dir[] = "/tmp/registry_auth_test.XXXXXX", path[256], xdg[256];
	struct nydusfs_auth_files af;
	struct nydusfs_cred c;
	const char *from;
	int err;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	unsetenv("REGISTRY_AUTH_FILE");
	snprintf(xdg, sizeof(xdg), "%s/containers", dir);
	mkdir(xdg, 0700);
	snprintf(path, sizeof(path), "%s/containers/auth.json", dir);
	put_file(path, "{\"auths\":{\"a\":{\"auth\":\"!!\"}}}");
	snprintf(path, sizeof(path), "%s/config.json", dir);
	put_file(path, "{\"auths\":{\"a\":{\"auth\":\"dXNlcjpwYXNz\"},"
		 "\"b\":{\"auth\":\"!!\"}}}");
	setenv("XDG_RUNTIME_DIR", dir, 1);
	setenv("DOCKER_CONFIG", dir, 1);
	err = nydusfs_auth_files_load(&af, NULL);
	CHECK(!err && af.n == 2 && !af.f[0].err && !af.f[1].err,
	      "two auth files: %d %u", err, af.n);
	/* a bad entry in the first file: the second one's counts */
	err = nydusfs_auth_files_find(&af, "a", &c, &from);
	CHECK(!err && same(c.user, "user") && from && !strcmp(from, path),
	      "a: %d from %s", err, from);
	nydusfs_cred_free(&c);
	err = nydusfs_auth_files_find(&af, "b", &c, &from);
	CHECK(err == -EINVAL && from && !strcmp(from, path), "b: %d", err);
	CHECK(nydusfs_auth_files_find(&af, "c", &c, &from) == -ENOENT &&
	      !from, "c: none");
	nydusfs_auth_files_free(&af);

	/* a named file must exist; a missing candidate is only noted */
	snprintf(path, sizeof(path), "%s/nope.json", dir);
	CHECK(nydusfs_auth_files_load(&af, path) == -ENOENT, "named, missing");
	nydusfs_auth_files_free(&af);
	unsetenv("XDG_RUNTIME_DIR");
	setenv("DOCKER_CONFIG", path, 1);
	err = nydusfs_auth_files_load(&af, NULL);
	CHECK(!err && af.n == 1 && af.f[0].err == -ENOENT && !af.f[0].text,
	      "missing candidate: %d", err);
	nydusfs_auth_files_free(&af);
	unsetenv("DOCKER_CONFIG");
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path))
		printf("could not remove %s\n", dir);
}

/* ---- hostile input: nothing may crash or leak ---- */

static void test_garbage(void)
{
	static const char alphabet[] = "Bearer Basic realm= ,\"\\=:abc{}[]\t";
	struct nydusfs_auth_challenge c;
	struct nydusfs_cred cred;
	struct nydusfs_token tok;
	char buf[96];
	uint8_t out[96];
	char log[64];
	uint64_t ms, a, b;
	int64_t v;
	size_t n, j;
	unsigned int seed = 12345, i;

	for (i = 0; i < 20000; i++) {
		n = rand_r(&seed) % (sizeof(buf) - 1);
		for (j = 0; j < n; j++)
			buf[j] = i % 2 ? alphabet[rand_r(&seed) %
						  (sizeof(alphabet) - 1)] :
				 (char)(rand_r(&seed) % 255 + 1);
		buf[n] = '\0';
		if (!nydusfs_auth_parse_challenge(buf, &c))
			CHECK(c.scheme == NYDUSFS_AUTH_BASIC ||
			      (c.realm && *c.realm), "challenge '%s'", buf);
		nydusfs_auth_challenge_free(&c);
		nydusfs_auth_find_cred(buf, n, "h", &cred);
		nydusfs_cred_free(&cred);
		nydusfs_auth_parse_token(buf, n, 0, &tok);
		nydusfs_token_free(&tok);
		nydusfs_base64_decode(buf, n, out, &j);
		nydusfs_http_retry_after(buf, 0, 1000, &ms);
		nydusfs_parse_rfc3339(buf, &v);
		nydusfs_url_same_origin(buf, "https://h/");
		free(nydusfs_url_host(buf));
		nydusfs_url_for_log(buf, log, sizeof(log));
		nydusfs_http_content_range(buf, &a, &b, &ms);
		free(nydusfs_auth_token_url(buf, buf, buf));
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	test_challenges();
	test_base64();
	test_creds();
	test_rfc3339();
	test_tokens();
	test_scope();
	test_schedule();
	test_content_range();
	test_outcomes();
	test_retry_after();
	test_origins();
	test_auth_files();
	test_garbage();
	printf("registry_auth_test: %d cases, %d failed\n", cases, failures);
	return failures ? 1 : 0;
}
