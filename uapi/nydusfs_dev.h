/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * nydusfs upcall protocol on /dev/nydusfs.
 *
 * The kernel asks, a userspace daemon answers.  Each read() returns exactly
 * one request; each write() carries exactly one reply.  Both start with
 * struct nydusfs_dev_hdr, followed by the body for the opcode.  All fields
 * are in the byte order of the host.  Documentation/filesystems/
 * nydusfs-kernel.rst describes the exchange.
 */
#ifndef _UAPI_LINUX_NYDUSFS_DEV_H
#define _UAPI_LINUX_NYDUSFS_DEV_H

#include <linux/types.h>

#define NYDUSFS_DEV_VERSION		1

/* The largest request read() returns: read buffers must be this big. */
#define NYDUSFS_DEV_MSG_MAX		4096

/* Opcodes */
#define NYDUSFS_OP_INIT		0	/* handshake, first request on each fd */
#define NYDUSFS_OP_OPEN		1	/* give me the cache file of a blob */
#define NYDUSFS_OP_READ		2	/* put these chunks in the cache file */
#define NYDUSFS_OP_CLOSE	3	/* the kernel dropped a blob; no reply */

/*
 * Protocol features.  The kernel offers them in INIT; the daemon's INIT
 * reply names the ones it uses.
 *
 * NYDUSFS_DEV_F_PRESENT_AFTER: a READ reply is a struct
 *	nydusfs_dev_read_reply_after, which may also name the chunks right
 *	after the range that are in the cache file (the daemon fetched them
 *	ahead), so that reading them costs no upcall.
 */
#define NYDUSFS_DEV_F_PRESENT_AFTER	0x1U
#define NYDUSFS_DEV_FEATURES		NYDUSFS_DEV_F_PRESENT_AFTER

/* READ flags */
#define NYDUSFS_READ_REFETCH	0x1	/* cached bytes were wrong: fetch again */

/**
 * struct nydusfs_dev_hdr - start of every request and every reply
 * @len: length of the whole message in bytes, this header included
 * @id: request id; a reply carries the id of the request it answers
 * @opcode: NYDUSFS_OP_*; a reply carries its request's opcode
 * @reserved: zero
 * @error: request: zero; reply: 0 for success or a negative errno
 * @object_id: the kernel's blob object the request is about (0 for INIT);
 *	a reply carries its request's object_id
 * @reserved2: zero
 */
struct nydusfs_dev_hdr {
	__u32 len;
	__u32 id;
	__u16 opcode;
	__u16 reserved;
	__s32 error;
	__u32 object_id;
	__u32 reserved2;
};

/**
 * struct nydusfs_dev_init - body of an INIT request
 * @version: NYDUSFS_DEV_VERSION spoken by the kernel
 * @features: NYDUSFS_DEV_FEATURES supported by the kernel
 * @msg_max: NYDUSFS_DEV_MSG_MAX of the kernel
 * @reserved: zero
 */
struct nydusfs_dev_init {
	__u32 version;
	__u32 features;
	__u32 msg_max;
	__u32 reserved;
};

/**
 * struct nydusfs_dev_init_reply - body of an INIT reply
 * @version: must equal the request's version
 * @features: the features the daemon uses, a subset of the request's
 */
struct nydusfs_dev_init_reply {
	__u32 version;
	__u32 features;
};

/**
 * struct nydusfs_dev_blob - names a blob, in OPEN, READ and CLOSE requests
 * @digest: sha256 of the blob file, which is also its name
 * @compressed_size: size of the blob file
 * @uncompressed_size: size of its cache file (a multiple of 4096)
 * @chunk_count: chunks in the blob, bits in its presence bitmap
 * @reserved: zero
 */
struct nydusfs_dev_blob {
	__u8 digest[32];
	__u64 compressed_size;
	__u64 uncompressed_size;
	__u32 chunk_count;
	__u32 reserved;
};

/**
 * struct nydusfs_dev_open_reply - body of an OPEN reply
 * @fd: in the replying process, an fd of the blob's cache file, a
 *	regular file open for reading; the kernel takes its own reference
 * @bitmap_bytes: 0 (no chunk present) or (chunk_count + 7) / 8, the size
 *	of the bitmap that follows this body; bit i (byte i / 8, bit i % 8)
 *	set means chunk i is in the cache file.  Must be 0 with an error.
 */
struct nydusfs_dev_open_reply {
	__s32 fd;
	__u32 bitmap_bytes;
};

/**
 * struct nydusfs_dev_chunk - one chunk of a READ request
 * @compressed_offset: where its bytes start in the blob file
 * @uncompressed_offset: where its data goes in the cache file
 * @compressed_size: its bytes in the blob file
 * @uncompressed_size: its bytes once decompressed
 * @compressor: NYDUSFS_COMPR_* of uapi/nydusfs_fs.h
 * @reserved: zero
 * @digest: sha256 of the uncompressed bytes
 */
struct nydusfs_dev_chunk {
	__u64 compressed_offset;
	__u64 uncompressed_offset;
	__u32 compressed_size;
	__u32 uncompressed_size;
	__u8 compressor;
	__u8 reserved[7];
	__u8 digest[32];
};

/**
 * struct nydusfs_dev_read - body of a READ request
 * @blob: the blob
 * @chunk_index: first chunk of the range, an index in the blob
 * @chunk_count: chunks in the range, each described in @chunks
 * @flags: NYDUSFS_READ_*
 * @reserved: zero
 * @chunks: @chunk_count descriptors, for chunk_index, chunk_index + 1...
 */
struct nydusfs_dev_read {
	struct nydusfs_dev_blob blob;
	__u32 chunk_index;
	__u32 chunk_count;
	__u32 flags;
	__u32 reserved;
	struct nydusfs_dev_chunk chunks[];
};

/**
 * struct nydusfs_dev_read_reply - body of a READ reply
 * @chunk_index: the request's chunk_index
 * @chunk_count: the request's chunk_count
 *
 * Success means every chunk of the range is now in the cache file, at
 * its uncompressed_offset, and was checked against its digest.
 */
struct nydusfs_dev_read_reply {
	__u32 chunk_index;
	__u32 chunk_count;
};

/**
 * struct nydusfs_dev_read_reply_after - body of a READ reply with
 *	NYDUSFS_DEV_F_PRESENT_AFTER
 * @head: as struct nydusfs_dev_read_reply
 * @present_after: how many chunks right after the range, from
 *	chunk_index + chunk_count on, are in the cache file too, each at its
 *	uncompressed_offset and checked against its digest; 0 with an error.
 *	Like the OPEN bitmap, a claim the kernel checks at each one's first
 *	use, and the range plus these must lie within the blob's chunks.
 * @reserved: zero
 */
struct nydusfs_dev_read_reply_after {
	struct nydusfs_dev_read_reply head;
	__u32 present_after;
	__u32 reserved;
};

/*
 * Bodies by opcode:
 *
 *	opcode	request body			reply body
 *	INIT	struct nydusfs_dev_init		struct nydusfs_dev_init_reply
 *	OPEN	struct nydusfs_dev_blob		struct nydusfs_dev_open_reply
 *						+ bitmap_bytes of bitmap
 *	READ	struct nydusfs_dev_read		struct nydusfs_dev_read_reply, or
 *						struct nydusfs_dev_read_reply_after
 *						with NYDUSFS_DEV_F_PRESENT_AFTER
 *	CLOSE	struct nydusfs_dev_blob		none: CLOSE is not answered
 */

#endif /* _UAPI_LINUX_NYDUSFS_DEV_H */
