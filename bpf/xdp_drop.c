// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * squall's packet dropper: an XDP program for the receiving end of a veth link.
 *
 * Faults compose: each IPv4 packet goes through the rules in index order, and every
 * rule that is not off and matches gets its say (Bernoulli, Gilbert-Elliott or
 * blackhole). The first rule that drops it counts the drop and ends the walk; each
 * matching rule before it counts a pass. So two faults on one link drop what either
 * would, and each drop is owed to exactly one rule. A packet no rule matched counts as
 * no match. Counters are per-CPU arrays of packets and bytes per rule and verdict;
 * drops of squall probe datagrams are also counted per flow. Anything that does not
 * parse as IPv4 passes untouched.
 * The layout of the maps is bpf/xdp_drop.h, mirrored by harness/_xdp_layout.ts.
 *
 * Rebuild with `deno task bpf` (bpf/build.sh): the committed object must be byte-for-
 * byte what the script produces.
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdp_drop.h"

/* Not in the UAPI headers. */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

#define IPV4_FRAG_OFFSET 0x1fff /* fragment offset bits of iphdr.frag_off */
#define PROBE_PREFIX_BYTES 8    /* magic and flow id, the part of the probe header read here */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SQ_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sq_rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SQ_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sq_chain);
} chain SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SQ_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, struct sq_counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SQ_MAX_FLOWS);
	__type(key, struct sq_flow_key);
	__type(value, struct sq_flow_value);
} flow_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sq_config);
} config SEC(".maps");

/* Where the parsers are in the packet. */
struct cursor {
	void *pos;
	void *end;
};

/* What the rules match on, taken from the headers. */
struct packet {
	__u32 saddr;     /* network byte order */
	__u32 protocol;  /* IPv4 protocol number */
	__u32 dport;     /* host byte order; valid when has_ports */
	__u32 has_ports; /* UDP or TCP with a complete header, not a non-first fragment */
	struct udphdr *udp; /* the UDP header, or 0: its payload is read only on a drop */
};

/* Ethernet and at most one 802.1Q tag: the EtherType (host order), -1 if short. */
static __always_inline int parse_ethhdr(struct cursor *c)
{
	struct ethhdr *eth = c->pos;
	struct vlan_hdr *vlan;
	__u16 proto;

	if ((void *)(eth + 1) > c->end)
		return -1;
	c->pos = eth + 1;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		vlan = c->pos;
		if ((void *)(vlan + 1) > c->end)
			return -1;
		c->pos = vlan + 1;
		proto = vlan->h_vlan_encapsulated_proto;
	}
	return bpf_ntohs(proto);
}

/* IPv4 with options (IHL): the header, or -1 if short or not IPv4. */
static __always_inline int parse_iphdr(struct cursor *c, struct iphdr **iph_out)
{
	struct iphdr *iph = c->pos;
	__u32 len;

	if ((void *)(iph + 1) > c->end)
		return -1;
	if (iph->version != 4)
		return -1;
	len = iph->ihl * 4;
	if (len < sizeof(*iph))
		return -1;
	if (c->pos + len > c->end)
		return -1;
	c->pos += len;
	*iph_out = iph;
	return 0;
}

/* A UDP header: the destination port (host order), -1 if short. */
static __always_inline int parse_udphdr(struct cursor *c, struct udphdr **udp_out)
{
	struct udphdr *udp = c->pos;

	if ((void *)(udp + 1) > c->end)
		return -1;
	c->pos = udp + 1;
	*udp_out = udp;
	return bpf_ntohs(udp->dest);
}

/* A TCP header (the fixed 20 bytes): the destination port (host order), -1 if short. */
static __always_inline int parse_tcphdr(struct cursor *c)
{
	struct tcphdr *tcp = c->pos;

	if ((void *)(tcp + 1) > c->end)
		return -1;
	c->pos = tcp + 1;
	return bpf_ntohs(tcp->dest);
}

/* The start of a probe header: the flow id, or -1 if short or not a probe. */
static __always_inline int parse_probe(struct cursor *c, const struct udphdr *udp, __u32 *flow_id)
{
	__be32 *words = c->pos;

	if ((void *)words + PROBE_PREFIX_BYTES > c->end)
		return -1;
	if (bpf_ntohs(udp->len) < sizeof(*udp) + PROBE_PREFIX_BYTES)
		return -1; /* the bytes are Ethernet padding, not payload */
	if (words[0] != bpf_htonl(SQ_PROBE_MAGIC))
		return -1;
	*flow_id = bpf_ntohl(words[1]);
	return 0;
}

/*
 * Fills `pkt` from an IPv4 packet; -1 if the packet is not parsed as IPv4. A transport
 * header that is cut short leaves the packet without ports, like a non-first fragment.
 */
static __always_inline int parse_packet(struct cursor *c, struct packet *pkt)
{
	struct iphdr *iph;
	struct udphdr *udp;
	int port;

	if (parse_ethhdr(c) != ETH_P_IP)
		return -1;
	if (parse_iphdr(c, &iph) < 0)
		return -1;
	pkt->saddr = iph->saddr;
	pkt->protocol = iph->protocol;
	if (iph->frag_off & bpf_htons(IPV4_FRAG_OFFSET))
		return 0;
	if (iph->protocol == IPPROTO_UDP) {
		port = parse_udphdr(c, &udp);
		if (port < 0)
			return 0;
		pkt->dport = port;
		pkt->has_ports = 1;
		pkt->udp = udp;
	} else if (iph->protocol == IPPROTO_TCP) {
		port = parse_tcphdr(c);
		if (port < 0)
			return 0;
		pkt->dport = port;
		pkt->has_ports = 1;
	}
	return 0;
}

static __always_inline int rule_matches(const struct sq_rule *rule, const struct packet *pkt)
{
	if (rule->mode == SQ_MODE_OFF)
		return 0;
	if (rule->protocol != SQ_PROTO_ANY && rule->protocol != pkt->protocol)
		return 0;
	if ((pkt->saddr & rule->src_mask) != (rule->src_addr & rule->src_mask))
		return 0;
	if (!pkt->has_ports)
		return rule->dport_min == 0 && rule->dport_max >= 0xffff;
	return rule->dport_min <= pkt->dport && pkt->dport <= rule->dport_max;
}

/* Whether an event of fixed-point chance `chance` happens (see SQ_CHANCE_ALWAYS). */
static __always_inline int sq_chance(__u32 chance)
{
	if (chance == SQ_CHANCE_ALWAYS)
		return 1;
	return bpf_get_prandom_u32() < chance;
}

/* Gilbert-Elliott: moves the rule's chain, then draws the loss of the new state. */
static __always_inline int gilbert_drops(__u32 index, const struct sq_rule *rule)
{
	struct sq_chain *state = bpf_map_lookup_elem(&chain, &index);
	__u32 bad;

	if (!state)
		return 0;
	bad = state->bad != 0;
	if (bad ? sq_chance(rule->p_leave_bad) : sq_chance(rule->p_enter_bad)) {
		bad = !bad;
		state->bad = bad; /* shared by all CPUs: a racing update loses one step at most */
	}
	return sq_chance(bad ? rule->loss_bad : rule->loss_good);
}

/* Whether a matching rule drops this packet. */
static __always_inline int rule_drops(__u32 index, const struct sq_rule *rule)
{
	switch (rule->mode) {
	case SQ_MODE_BERNOULLI:
		return sq_chance(rule->loss_good);
	case SQ_MODE_GILBERT:
		return gilbert_drops(index, rule);
	case SQ_MODE_BLACKHOLE:
		return 1;
	default: /* an unknown mode matches and passes, counted under its rule */
		return 0;
	}
}

static __always_inline void count_slot(__u32 slot, __u64 bytes)
{
	struct sq_counter *counter = bpf_map_lookup_elem(&counters, &slot);

	if (counter) {
		counter->packets++;
		counter->bytes += bytes;
	}
}

static __always_inline void count_probe_drop(__u32 flow_id, __u32 rule)
{
	struct sq_flow_key key = { .flow_id = flow_id, .rule = rule };
	struct sq_flow_value one = { .packets = 1 };
	struct sq_flow_value *value;

	value = bpf_map_lookup_elem(&flow_drops, &key);
	if (value)
		value->packets++; /* per-CPU: no other writer */
	else
		bpf_map_update_elem(&flow_drops, &key, &one, BPF_NOEXIST); /* fails when full */
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end };
	struct packet pkt = {};
	const struct sq_rule *rule;
	__u64 bytes = data_end - data;
	__u32 verdict = SQ_VERDICT_PASS;
	__u32 slot = SQ_SLOT_NOT_IPV4;
	struct sq_config *cfg;
	__u32 index, zero = 0, slots, flow_id;
	int matched = 0;

	if (parse_packet(&c, &pkt) < 0)
		goto out;
	slot = SQ_SLOT_NO_MATCH;
	cfg = bpf_map_lookup_elem(&config, &zero);
	slots = cfg ? cfg->rule_slots : SQ_MAX_RULES;
	for (index = 0; index < SQ_MAX_RULES; index++) {
		__u32 key = index;

		if (index >= slots)
			break;
		rule = bpf_map_lookup_elem(&rules, &key);
		if (!rule || !rule_matches(rule, &pkt))
			continue;
		matched = 1;
		if (rule_drops(index, rule)) {
			verdict = SQ_VERDICT_DROP;
			slot = index * SQ_VERDICTS + SQ_VERDICT_DROP;
			if (pkt.udp && parse_probe(&c, pkt.udp, &flow_id) == 0)
				count_probe_drop(flow_id, index);
			goto out;
		}
		count_slot(index * SQ_VERDICTS + SQ_VERDICT_PASS, bytes);
	}
	if (matched)
		return XDP_PASS; /* every matching rule passed it, and counted so */

out:
	count_slot(slot, bytes);
	return verdict == SQ_VERDICT_DROP ? XDP_DROP : XDP_PASS;
}
