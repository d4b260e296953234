// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * squall's packet duplicator: a tc (clsact egress) program for the sending end of a
 * veth link. Each IPv4 packet that matches the config (protocol, destination port range,
 * source address under a mask) is sent twice with probability `chance / 2^32`: once as
 * itself, once as a clone (bpf_clone_redirect to the same interface's egress). The clone
 * passes through this program again; it carries a mark that says so, which is cleared
 * on the way, so a clone is never cloned. Counters are per-CPU: packets matched and
 * packets duplicated. Loaded through libbpf (harness/kernel/tc_duplicator.ts), attached
 * with bpf_tc_attach; it goes with the interface, and the interface with its namespace.
 *
 * Rebuild with `deno task bpf` (bpf/build.sh).
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* The mark a clone carries through this program ("SQDP"). */
#define SQ_DUP_MARK 0x53514450

#define SQ_PROTO_ANY 0

struct sq_dup_config {
	__u32 chance;    /* duplicate when bpf_get_prandom_u32() < chance; 0: never */
	__u32 protocol;  /* IPPROTO_UDP, IPPROTO_TCP, or 0 for any */
	__u16 dport_min; /* host order */
	__u16 dport_max;
	__u32 src_addr;  /* network order */
	__u32 src_mask;  /* network order; 0: any source */
};

/* counters[0]: packets matched; counters[1]: packets duplicated. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sq_dup_config);
} dup_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} dup_counters SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&dup_counters, &slot);
	if (value)
		*value += 1;
}

SEC("tc")
int tc_dup(struct __sk_buff *skb)
{
	if (skb->mark == SQ_DUP_MARK) {
		skb->mark = 0;
		return TC_ACT_OK;
	}
	__u32 zero = 0;
	struct sq_dup_config *cfg = bpf_map_lookup_elem(&dup_config, &zero);
	if (!cfg || cfg->chance == 0)
		return TC_ACT_OK;

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return TC_ACT_OK;
	if (cfg->protocol != SQ_PROTO_ANY && ip->protocol != cfg->protocol)
		return TC_ACT_OK;
	if ((ip->saddr & cfg->src_mask) != (cfg->src_addr & cfg->src_mask))
		return TC_ACT_OK;
	if (cfg->dport_min != 0 || cfg->dport_max != 65535) {
		/* A port range needs a transport header; both start with the ports. */
		if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
			return TC_ACT_OK;
		struct udphdr *l4 = (void *)ip + ip->ihl * 4;
		if ((void *)(l4 + 1) > data_end)
			return TC_ACT_OK;
		__u16 dport = bpf_ntohs(l4->dest);
		if (dport < cfg->dport_min || dport > cfg->dport_max)
			return TC_ACT_OK;
	}
	count(0);
	if (bpf_get_prandom_u32() >= cfg->chance)
		return TC_ACT_OK;
	__u32 mark = skb->mark;
	skb->mark = SQ_DUP_MARK;
	if (bpf_clone_redirect(skb, skb->ifindex, 0) == 0)
		count(1);
	skb->mark = mark;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
