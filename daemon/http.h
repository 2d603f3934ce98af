/* SPDX-License-Identifier: GPL-2.0 */
/* nydusfsd: HTTP requests on the event loop (http.c), for the registry. */
#ifndef NYDUSFSD_HTTP_H
#define NYDUSFSD_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>

struct nydusfs_cred;

/* One transfer.  The owner embeds it and sets the two callbacks. */
struct hreq {
	CURL *easy;
	bool active;
	struct curl_slist *headers;
	/* bytes of the body: return @len to go on, anything else aborts */
	size_t (*on_body)(struct hreq *h, const char *buf, size_t len);
	void (*on_done)(struct hreq *h, CURLcode rc);
	/* headers of the last response */
	char *www_auth, *retry_after, *content_range, *location;
	char errbuf[CURL_ERROR_SIZE];
};

int http_init(void);
void http_exit(void);
int hreq_init(struct hreq *h, const char *url);
int hreq_start(struct hreq *h);
void hreq_cleanup(struct hreq *h);
void hreq_reset_headers(struct hreq *h);
long hreq_status(struct hreq *h);
/* Credentials for this request only (call after hreq_init). */
void hreq_basic_auth(struct hreq *h, const struct nydusfs_cred *cred);
void hreq_bearer_auth(struct hreq *h, const char *token);

#endif
