// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * squall's bind watch: two programs on the syscall tracepoints syscalls:sys_enter_bind
 * and syscalls:sys_exit_bind that catch failed bind() calls of any process (Go, Python,
 * C, Deno) in the network namespaces user space asks for, so squall can say which
 * program failed to bind which port with which error, and when, even when the program
 * swallows the error.
 *
 * Enter: a task whose network namespace is in "netns" and whose address is IPv4 or IPv6
 * has its call stashed (address, port, fd, time) under its pid_tgid; every other call
 * costs a namespace read and one hash lookup. The namespace is the task's, read at
 * enter: a thread cannot change it while it is inside bind().
 * Exit: a stashed call that failed becomes a failure event and marks (netns, port,
 * socket type) as pending; the first bind() that then succeeds on it becomes a success
 * event (so user space can tell how long until the port was bound after all); other
 * successes record nothing.
 * Events go to a ring (an array of BW_RING_SIZE and a counter, see bind_watch.h) that
 * user space drains; what it does not drain in time is overwritten and counted as lost.
 * Each complete event also rings a doorbell (a BPF ring buffer of its index) that wakes
 * user space at once, instead of at its next poll. An event carries the caller's cgroup
 * v2 id and its ancestors' ids, taken in the kernel while the caller is in bind(), so a
 * failure is owed to its program under test (which has a cgroup of its own) whatever
 * happens to the process afterwards.
 *
 * Kernel structures are declared here, only the fields read, with preserve_access_index:
 * libbpf relocates the offsets against the running kernel's BTF (CO-RE), so the object
 * does not depend on the headers of one kernel. The license must be GPL-compatible:
 * bpf_get_current_task, bpf_probe_read_user and bpf_probe_read_kernel are GPL-only.
 * The layout of the maps user space reads is bpf/bind_watch.h, mirrored by
 * harness/_bind_watch_layout.ts.
 *
 * Rebuild with `deno task bpf` (bpf/build.sh): the committed object must be byte-for-
 * byte what the script produces.
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/stat.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "bind_watch.h"

#define BW_MAX_CALLS 10240  /* bind() calls in flight at once, over all watched tasks */
#define BW_MAX_PENDING 4096 /* (netns, port) pairs with a failure not yet followed by a success */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The kernel's structures, only what is read; CO-RE finds the offsets. */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct net *net_ns;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data; /* the struct socket of a socket's file */
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct socket {
	short type;
} __attribute__((preserve_access_index));

struct task_struct {
	struct nsproxy *nsproxy;
	struct files_struct *files;
} __attribute__((preserve_access_index));

/* The tracepoints' records (events/syscalls/sys_{enter,exit}_bind/format in tracefs). */
struct bind_enter_args {
	__u64 common;     /* common_type, common_flags, common_preempt_count, common_pid */
	__s32 syscall_nr;
	__u32 _pad;
	__u64 fd;
	__u64 umyaddr;    /* struct sockaddr __user * */
	__u64 addrlen;
};

struct bind_exit_args {
	__u64 common;
	__s32 syscall_nr;
	__u32 _pad;
	__s64 ret;
};

/* A call between enter and exit. */
struct call {
	__u64 ktime_ns;
	__u32 netns;
	__u32 family;
	__u32 port;       /* host byte order */
	__u32 fd;
	__u32 addr[4];    /* network byte order */
};

/* What a failure leaves pending until the next success on the same port. */
struct pending_key {
	__u32 netns;
	__u32 port;
};

struct pending_value {
	__u64 types; /* bit (1 << socket type) per socket type with a failure pending; 64-bit
		      * for the atomics, which clang offers on 32 bits only with -mcpu=v3 */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BW_MAX_NAMESPACES);
	__type(key, __u32);
	__type(value, __u32);
} netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BW_MAX_CALLS);
	__type(key, __u64);
	__type(value, struct call);
} calls SEC(".maps");

/* LRU: a failure never followed by a success ages out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BW_MAX_PENDING);
	__type(key, struct pending_key);
	__type(value, struct pending_value);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bw_head);
} head SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BW_RING_SIZE);
	__type(key, __u32);
	__type(value, struct bw_event);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BW_DOORBELL_BYTES);
} doorbell SEC(".maps");

/* The sockaddr_in and sockaddr_in6 fields read, by offset (linux/in.h, linux/in6.h). */
#define SOCKADDR_PORT 2  /* sin_port, sin6_port: __be16 */
#define SOCKADDR_IN_ADDR 4 /* sin_addr: 4 bytes */
#define SOCKADDR_IN6_ADDR 8 /* sin6_addr: 16 bytes */

static __always_inline __u32 current_netns(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
}

/* The type of the socket behind `fd` of the current task; BW_SOCK_UNKNOWN if not one. */
static __always_inline __u32 socket_type(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = 0;
	struct socket *sock;
	__u16 mode;
	short type;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return BW_SOCK_UNKNOWN;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) < 0 || !file)
		return BW_SOCK_UNKNOWN;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return BW_SOCK_UNKNOWN;
	sock = BPF_CORE_READ(file, private_data);
	type = BPF_CORE_READ(sock, type);
	return type > 0 && type < 32 ? type : BW_SOCK_UNKNOWN;
}

/* Claims the next ring slot and writes the event to it; `seq` last, so user space can
 * tell a complete event from one still being written. */
static __always_inline void record(const struct call *call, __u64 pid_tgid, __u32 kind,
				   __u32 err, __u32 sock_type)
{
	__u32 zero = 0, slot, level;
	struct bw_head *h = bpf_map_lookup_elem(&head, &zero);
	struct bw_event *ev;
	__u64 index;

	if (!h)
		return;
	index = __sync_fetch_and_add(&h->claimed, 1);
	slot = index & (BW_RING_SIZE - 1);
	ev = bpf_map_lookup_elem(&events, &slot);
	if (!ev)
		return; /* cannot happen: slot < BW_RING_SIZE */
	ev->ktime_ns = call->ktime_ns;
	ev->kind = kind;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->netns = call->netns;
	ev->family = call->family;
	ev->port = call->port;
	ev->addr[0] = call->addr[0];
	ev->addr[1] = call->addr[1];
	ev->addr[2] = call->addr[2];
	ev->addr[3] = call->addr[3];
	ev->err = err;
	ev->sock_type = sock_type;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->cgroup_id = bpf_get_current_cgroup_id();
	for (level = 0; level < BW_CGROUP_LEVELS; level++)
		ev->cgroup_ancestors[level] = bpf_get_current_ancestor_cgroup_id(level + 1);
	asm volatile("" ::: "memory"); /* every field above is stored before seq */
	*(volatile __u64 *)&ev->seq = index + 1;
	bpf_ringbuf_output(&doorbell, &index, sizeof(index), 0); /* wakes the reader */
}

SEC("tracepoint/syscalls/sys_enter_bind")
int bind_enter(struct bind_enter_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const void *addr = (const void *)ctx->umyaddr;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct call call = {};
	__u16 family;
	__be16 port;
	__u32 zero = 0;
	struct bw_head *h;

	call.netns = current_netns(task);
	if (!bpf_map_lookup_elem(&netns, &call.netns))
		return 0;
	if (bpf_probe_read_user(&family, sizeof(family), addr) < 0)
		return 0; /* bind() fails with EFAULT; nothing to say about a port */
	if (family == BW_AF_INET) {
		if (bpf_probe_read_user(&call.addr[0], 4, addr + SOCKADDR_IN_ADDR) < 0)
			return 0;
	} else if (family == BW_AF_INET6) {
		if (bpf_probe_read_user(&call.addr, 16, addr + SOCKADDR_IN6_ADDR) < 0)
			return 0;
	} else {
		return 0;
	}
	if (bpf_probe_read_user(&port, sizeof(port), addr + SOCKADDR_PORT) < 0)
		return 0;
	call.ktime_ns = bpf_ktime_get_ns();
	call.family = family;
	call.port = bpf_ntohs(port);
	call.fd = (__u32)ctx->fd;
	if (bpf_map_update_elem(&calls, &pid_tgid, &call, BPF_ANY) < 0) {
		h = bpf_map_lookup_elem(&head, &zero);
		if (h)
			__sync_fetch_and_add(&h->untracked, 1);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int bind_exit(struct bind_exit_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct call *call = bpf_map_lookup_elem(&calls, &pid_tgid);
	struct pending_key key;
	struct pending_value fresh = {}, *value;
	__u64 bit;
	__u32 type;

	if (!call)
		return 0;
	key.netns = call->netns;
	key.port = call->port;
	if (ctx->ret < 0) {
		type = socket_type(call->fd);
		bit = 1ULL << (type & 31);
		record(call, pid_tgid, BW_KIND_FAILURE, (__u32)-ctx->ret, type);
		value = bpf_map_lookup_elem(&pending, &key);
		if (value) {
			__sync_fetch_and_or(&value->types, bit);
		} else {
			fresh.types = bit;
			/* A racing failure on the same key may have added it meanwhile. */
			if (bpf_map_update_elem(&pending, &key, &fresh, BPF_NOEXIST) < 0) {
				value = bpf_map_lookup_elem(&pending, &key);
				if (value)
					__sync_fetch_and_or(&value->types, bit);
			}
		}
	} else {
		/* Successes are common (bind churn): one lookup unless a failure is pending. */
		value = bpf_map_lookup_elem(&pending, &key);
		if (value && value->types) {
			type = socket_type(call->fd);
			bit = 1ULL << (type & 31);
			/* Of two successes racing on it, only the one that clears the bit reports. */
			if (__sync_fetch_and_and(&value->types, ~bit) & bit)
				record(call, pid_tgid, BW_KIND_SUCCESS, 0, type);
		}
	}
	bpf_map_delete_elem(&calls, &pid_tgid);
	return 0;
}
