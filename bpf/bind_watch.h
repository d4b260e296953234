/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between bpf/bind_watch.c and harness/kernel/bind_watch_layout.ts (which
 * mirrors it; harness/kernel/bind_watch_layout_test.ts checks that the two agree). Only
 * fixed-width types, no implicit padding: every struct is a multiple of 8 bytes with
 * fields in size order.
 */
#ifndef SQUALL_BIND_WATCH_H
#define SQUALL_BIND_WATCH_H

#include <linux/types.h>

/* Entries of the event ring: a power of two, so an index maps to its slot with a mask. */
#define BW_RING_SIZE 4096
/* Entries of the namespace filter. */
#define BW_MAX_NAMESPACES 1024
/* Bytes of a thread name (the kernel's TASK_COMM_LEN). */
#define BW_COMM_LEN 16

/* Cgroup levels whose ancestor ids an event records (levels 1 to BW_CGROUP_LEVELS of the
 * cgroup v2 hierarchy; level 0 is the root): a program under test's cgroup is one of
 * them for every process it starts, however deep those nest their own cgroups. */
#define BW_CGROUP_LEVELS 8
/* Bytes of the doorbell ring (BPF_MAP_TYPE_RINGBUF, a power of two pages): a record of 8
 * bytes per event, only to wake user space, which then reads "events". */
#define BW_DOORBELL_BYTES 4096

/* Event kinds. */
#define BW_KIND_FAILURE 1 /* a bind() that returned an error */
#define BW_KIND_SUCCESS 2 /* the first bind() to succeed on a (netns, port, type) after a failure */

/* Address families, as the kernel numbers them (AF_INET, AF_INET6); no others are watched. */
#define BW_AF_INET 2
#define BW_AF_INET6 10

/* Socket types, as the kernel numbers them (SOCK_STREAM, SOCK_DGRAM); 0 when unknown. */
#define BW_SOCK_UNKNOWN 0
#define BW_SOCK_STREAM 1
#define BW_SOCK_DGRAM 2

/*
 * Map "netns": hash of BW_MAX_NAMESPACES, key __u32 (a network namespace inode, as in
 * /proc/<pid>/ns/net), value __u32 (1). Written by user space: only calls of tasks in
 * these namespaces are followed.
 */

/*
 * Map "head": array of 1. The program claims ring index `claimed` (then adds one) for
 * each event and writes it to slot `claimed % BW_RING_SIZE` of "events"; user space reads
 * from where it left off up to `claimed`, and anything more than BW_RING_SIZE behind is
 * overwritten (lost).
 */
struct bw_head {
	__u64 claimed; /* events claimed since the program was loaded */
	__u64 untracked; /* bind() calls in watched namespaces not followed: too many in flight */
};

/*
 * Map "doorbell": BPF_MAP_TYPE_RINGBUF of BW_DOORBELL_BYTES. Each event, once complete,
 * also puts its ring index (a __u64) here, which wakes a reader waiting in epoll on the
 * map; the event itself is read from "events". When the doorbell is full the reader has
 * a wake-up pending anyway.
 */

/* Map "events": array of BW_RING_SIZE, the ring. */
struct bw_event {
	__u64 seq;        /* ring index + 1, written last: the event is complete when it matches */
	__u64 ktime_ns;   /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) when bind() was called */
	__u32 kind;       /* BW_KIND_* */
	__u32 pid;        /* process id (tgid) */
	__u32 tid;        /* thread id */
	__u32 netns;      /* network namespace inode of the calling task */
	__u32 family;     /* BW_AF_INET or BW_AF_INET6 */
	__u32 port;       /* requested port, host byte order (0 asks for any) */
	__u32 addr[4];    /* requested address, network byte order; IPv4 in addr[0], rest 0 */
	__u32 err;        /* errno (-return value) of a failure; 0 for a success */
	__u32 sock_type;  /* BW_SOCK_* or another SOCK_* number; 0 when not known */
	__u8 comm[BW_COMM_LEN]; /* name of the calling thread, NUL-terminated */
	__u64 cgroup_id;  /* cgroup v2 id of the calling task (the inode of its directory) */
	__u64 cgroup_ancestors[BW_CGROUP_LEVELS]; /* its ancestors' ids at levels 1, 2, ...
						     * (0 past its own level) */
};

#endif
