// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * squall's packet dropper: an XDP program for the receiving end of a veth link.
 *
 * Faults compose: each IPv4 packet goes through the rules in index order, and every
 * rule that is not off and matches gets its say (Bernoulli, Gilbert-Elliott or
 * blackhole). The first rule that drops it counts the drop and ends the walk; each
 * matching rule before it counts a pass. So two faults on one link drop what either
 * would, and each drop is owed to exactly one rule. A packet no rule matched counts as
 * no match. Counters are per-CPU packets and bytes per rule and verdict; drops of squall
 * probe datagrams are also counted per flow. Anything that does not parse as IPv4 passes
 * untouched.
 *
 * The cost per packet (measured by tests/bench/xdp.ts, at rates where the caches have
 * gone cold between two packets) follows the chains of loads that wait on one another,
 * about 4 ns per cold load in a chain, far more than the number of cache lines touched
 * (four independent cold loads cost about 2.5 ns together). So all that a rule touches
 * per packet on a CPU is in one per-CPU `counters` entry found by one lookup: its pass
 * and drop counters, the first probe flows it dropped, and the state of its random
 * numbers, a splitmix64 whose next draw is computed one draw ahead, so the verdict waits
 * on a load and a compare only (bpf_get_prandom_u32() is a call into a per-CPU state of
 * its own: about 3.5 ns). The packets probes send are parsed in one straight line
 * (parse_common) and everything else by a general parser kept out of that line
 * (parse_packet, a subprogram); both fill the same struct packet, so a packet matches
 * the same rules either way.
 * A rule can carry a time window (kernel time, bpf_ktime_get_ns(), CLOCK_MONOTONIC):
 * user space writes both ends of a link a little ahead of the instant a fault starts or
 * ends, so the two directions flip at one kernel instant whatever the agents' scheduling.
 * A rule for all time reads no clock; the first drop and the last drop of each rule are
 * stamped in its entry, so the edges can be checked as they happened.
 * The layout of the maps is bpf/xdp_drop.h, mirrored by harness/kernel/xdp_layout.ts.
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

/* Branch hints for the block layout (clang 14 follows them only in part). */
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

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
	__uint(max_entries, SQ_COUNTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct sq_counters);
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

/* What the rules match on, taken from the headers. */
struct packet {
	__u64 saddr;     /* network byte order */
	__u64 protocol;  /* IPv4 protocol number */
	__u64 port_lo;   /* with ports: the destination port (host byte order), else 0 */
	__u64 port_hi;   /* with ports: the destination port, else 65535 */
	void *l4;        /* the transport header when it has ports, else 0 */
};

/*
 * The packets squall's probes send, parsed in a straight line: untagged IPv4 without
 * options, not a later fragment, UDP or TCP with its whole header. 0 if `pkt` is filled,
 * -1 for anything else, which parse_packet() then reads.
 */
static __always_inline int parse_common(void *data, void *data_end, struct packet *pkt)
{
	struct iphdr *iph = data + sizeof(struct ethhdr);
	void *l4 = iph + 1;
	__u64 protocol;

	if ((void *)((struct tcphdr *)l4 + 1) > data_end)
		return -1; /* room for UDP too: a shorter UDP datagram goes the long way */
	if (*(__be16 *)(data + offsetof(struct ethhdr, h_proto)) != bpf_htons(ETH_P_IP))
		return -1;
	if (*(__u8 *)iph != 0x45) /* version 4, 5 words of header */
		return -1;
	if (iph->frag_off & bpf_htons(IPV4_FRAG_OFFSET))
		return -1;
	protocol = iph->protocol;
	if (protocol != IPPROTO_UDP && protocol != IPPROTO_TCP)
		return -1;
	pkt->saddr = iph->saddr;
	pkt->protocol = protocol;
	/* The destination port is at the same offset in both headers. */
	pkt->port_lo = pkt->port_hi = bpf_ntohs(((struct udphdr *)l4)->dest);
	pkt->l4 = l4;
	return 0;
}

/*
 * Fills `pkt` from any IPv4 packet (Ethernet, at most one 802.1Q tag, IPv4 with
 * options); -1 if the packet is not parsed as IPv4. A transport header that is cut short
 * leaves the packet without ports, like a non-first fragment.
 */
static __noinline int parse_packet(void *data, void *data_end, struct packet *pkt)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__u16 proto;
	__u32 len;
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vlan = (void *)(eth + 1);

		if ((void *)(vlan + 1) > data_end)
			return -1;
		proto = vlan->h_vlan_encapsulated_proto;
		iph = (void *)(vlan + 1);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return -1;
	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->version != 4)
		return -1;
	len = iph->ihl * 4;
	if (len < sizeof(*iph))
		return -1;
	l4 = (void *)iph + len;
	if (l4 > data_end)
		return -1;
	pkt->saddr = iph->saddr;
	pkt->protocol = iph->protocol;
	pkt->port_lo = 0;
	pkt->port_hi = 0xffff;
	pkt->l4 = 0;
	if (iph->frag_off & bpf_htons(IPV4_FRAG_OFFSET))
		return 0;
	if (iph->protocol == IPPROTO_UDP) {
		if (l4 + sizeof(struct udphdr) > data_end)
			return 0;
	} else if (iph->protocol == IPPROTO_TCP) {
		if (l4 + sizeof(struct tcphdr) > data_end)
			return 0;
	} else {
		return 0;
	}
	pkt->port_lo = pkt->port_hi = bpf_ntohs(((struct udphdr *)l4)->dest);
	pkt->l4 = l4;
	return 0;
}

/* The flow id of a probe datagram, or -1 if `pkt` is not one. */
static __always_inline int parse_probe(const struct packet *pkt, void *data_end, __u32 *flow_id)
{
	const struct udphdr *udp = pkt->l4;
	__be32 *words;

	if (pkt->protocol != IPPROTO_UDP || !udp)
		return -1;
	words = (void *)(udp + 1);
	if ((void *)words + PROBE_PREFIX_BYTES > data_end)
		return -1;
	if (bpf_ntohs(udp->len) < sizeof(*udp) + PROBE_PREFIX_BYTES)
		return -1; /* the bytes are Ethernet padding, not payload */
	if (words[0] != bpf_htonl(SQ_PROBE_MAGIC))
		return -1;
	*flow_id = bpf_ntohl(words[1]);
	return 0;
}

/* What rule_in_window() says of a rule for all time; a windowed rule says the time. */
#define SQ_WINDOW_OUTSIDE 0
#define SQ_WINDOW_ALWAYS 1

/*
 * A windowed rule's window check: the clock reading when the window holds now (always
 * above SQ_WINDOW_ALWAYS), SQ_WINDOW_OUTSIDE when it does not; a packet outside the
 * window stamps the rule's entry (`own`), so user space can bracket each edge between two
 * packets. A global function (not static): the verifier checks it once, not at each of
 * the 16 places the rule walk inlines a rule (inlined, the walk took 307k verified
 * instructions; this way fewer than the 218k before rules had windows).
 */
__noinline __u64 window_check(const struct sq_rule *rule, struct sq_counters *own)
{
	__u64 from, until, now;

	if (!rule || !own)
		return SQ_WINDOW_OUTSIDE;
	from = rule->active_from_ns;
	until = rule->active_until_ns;
	now = bpf_ktime_get_ns();
	if (now < from) {
		own->before_ns = now;
		return SQ_WINDOW_OUTSIDE;
	}
	if (now >= until) {
		/* Not while the rule is being written (until 0, below from). */
		if (until > from && own->after_ns == 0)
			own->after_ns = now;
		return SQ_WINDOW_OUTSIDE;
	}
	return now;
}

/*
 * Whether the rule's time window holds now: SQ_WINDOW_OUTSIDE, SQ_WINDOW_ALWAYS (a rule
 * for all time, from 0 until all ones: no clock read, ~35 ns on our VMs), or the clock
 * reading of a windowed rule. User space keeps a window only around a fault's edges. The
 * window sits in the rule's own value, beside the fields rule_matches() just loaded: no
 * further dependent load.
 */
static __always_inline __u64 rule_in_window(const struct sq_rule *rule, struct sq_counters *own)
{
	if (likely((rule->active_from_ns | ~rule->active_until_ns) == 0))
		return SQ_WINDOW_ALWAYS;
	return window_check(rule, own);
}

static __always_inline int rule_matches(const struct sq_rule *rule, const struct packet *pkt)
{
	__u64 protocol = rule->protocol;

	if (rule->mode == SQ_MODE_OFF)
		return 0;
	if (protocol != SQ_PROTO_ANY && protocol != pkt->protocol)
		return 0;
	if ((pkt->saddr ^ rule->src_addr) & rule->src_mask)
		return 0;
	/* Without ports (0-65535), only a rule for every port matches. */
	return rule->dport_min <= pkt->port_lo && pkt->port_hi <= rule->dport_max;
}

/* splitmix64 (Steele, Lea and Flood 2014): a Weyl sequence through a 64-bit mixer. */
#define SQ_GOLDEN_GAMMA 0x9e3779b97f4a7c15ULL

static __always_inline __u64 sq_mix(__u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Starts the random numbers of a rule on this CPU from the kernel's (per CPU) generator. */
static __noinline void sq_seed(struct sq_counters *own)
{
	__u64 state = ((__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32()) | 1;

	own->random_state = state;
	own->random_next = sq_mix(state);
}

/*
 * A random u32 for this packet. It was computed at the previous draw, so all that stands
 * between the packet and its verdict is a load from the line its counters are in; the
 * next one is computed off that path. Cheaper per packet than bpf_get_prandom_u32(), a
 * call that reads a per-CPU state of its own.
 */
static __always_inline __u32 sq_random(struct sq_counters *own)
{
	__u64 draw, state;

	if (unlikely(own->random_state == 0))
		sq_seed(own);
	draw = own->random_next;
	state = own->random_state + SQ_GOLDEN_GAMMA;
	own->random_state = state;
	own->random_next = sq_mix(state);
	return draw >> 32;
}

/* Whether an event of fixed-point chance `chance` happens (see SQ_CHANCE_ALWAYS). */
static __always_inline int sq_chance(struct sq_counters *own, __u32 chance)
{
	if (unlikely(chance == SQ_CHANCE_ALWAYS))
		return 1;
	return sq_random(own) < chance;
}

/* Gilbert-Elliott: moves the rule's chain, then draws the loss of the new state. */
static __always_inline int gilbert_drops(__u32 index, const struct sq_rule *rule,
					 struct sq_counters *own)
{
	struct sq_chain *state = bpf_map_lookup_elem(&chain, &index);
	__u32 bad;

	if (!state)
		return 0;
	bad = state->bad != 0;
	if (bad ? sq_chance(own, rule->p_leave_bad) : sq_chance(own, rule->p_enter_bad)) {
		bad = !bad;
		state->bad = bad; /* shared by all CPUs: a racing update loses one step at most */
	}
	return sq_chance(own, bad ? rule->loss_bad : rule->loss_good);
}

/* Whether a matching rule drops this packet; `own` is the rule's counters entry. */
static __always_inline int rule_drops(__u32 index, const struct sq_rule *rule,
				      struct sq_counters *own)
{
	__u32 mode = rule->mode;

	if (likely(mode == SQ_MODE_BERNOULLI))
		return sq_chance(own, rule->loss_good);
	if (mode == SQ_MODE_GILBERT)
		return gilbert_drops(index, rule, own);
	return mode == SQ_MODE_BLACKHOLE; /* an unknown mode matches and passes */
}

/* Counts a packet in counter `which` (a verdict) of a counters entry; per-CPU, no atomics. */
static __always_inline void count(struct sq_counters *entry, __u32 which, __u64 bytes)
{
	struct sq_counter *counter = &entry->counter[which];

	counter->packets++;
	counter->bytes += bytes;
}

/* Counts a packet no rule counted, in slot SQ_SLOT_NO_MATCH or SQ_SLOT_NOT_IPV4. */
static __always_inline void count_other(__u32 slot, __u64 bytes)
{
	__u32 key = slot / SQ_VERDICTS;
	struct sq_counters *entry = bpf_map_lookup_elem(&counters, &key);

	if (likely(entry != 0))
		count(entry, slot % SQ_VERDICTS, bytes);
}

/* Counts the drop of a probe packet of flow `flow_id` by rule `rule` (`own`, its entry). */
static __always_inline void count_probe_drop(struct sq_counters *own, __u32 flow_id, __u32 rule)
{
	struct sq_flow_key key = { .flow_id = flow_id, .rule = rule };
	struct sq_flow_value one = { .packets = 1 };
	struct sq_flow_value *value;
	__u32 i;

	/* In the entry, beside the counters: no lookup, no line the packet had not touched. */
	for (i = 0; i < SQ_ENTRY_FLOWS; i++) {
		struct sq_flow_count *slot = &own->flow[i];

		if (slot->packets == 0 || slot->flow_id == flow_id) {
			slot->flow_id = flow_id;
			slot->packets++;
			return;
		}
	}
	value = bpf_map_lookup_elem(&flow_drops, &key);
	if (value)
		value->packets++; /* per-CPU: no other writer */
	else
		bpf_map_update_elem(&flow_drops, &key, &one, BPF_NOEXIST); /* fails when full */
}

/* What visit_rule() found. */
#define SQ_WALK_NO_MATCH 0
#define SQ_WALK_PASSED 1
#define SQ_WALK_DROPPED 2

/* Stamps a drop's kernel time in the rule's entry: the first on this CPU, and the last. */
static __always_inline void stamp_drop(struct sq_counters *own, __u64 now)
{
	if (own->first_drop_ns == 0)
		own->first_drop_ns = now;
	own->last_drop_ns = now;
}

/* Gives rule `index` its say on a packet, and counts what it did. */
static __always_inline int visit_rule(__u32 index, const struct packet *pkt, void *data_end,
				      __u64 bytes)
{
	const struct sq_rule *rule;
	struct sq_counters *own;
	__u32 key = index, flow_id;
	__u64 when;

	rule = bpf_map_lookup_elem(&rules, &key);
	own = bpf_map_lookup_elem(&counters, &key);
	if (!rule || !own || !rule_matches(rule, pkt))
		return SQ_WALK_NO_MATCH;
	when = rule_in_window(rule, own);
	if (when == SQ_WINDOW_OUTSIDE)
		return SQ_WALK_NO_MATCH;
	if (rule_drops(index, rule, own)) {
		/* Only a windowed rule, which read the clock anyway, stamps its drops. */
		if (unlikely(when != SQ_WINDOW_ALWAYS))
			stamp_drop(own, when);
		if (parse_probe(pkt, data_end, &flow_id) == 0)
			count_probe_drop(own, flow_id, index);
		count(own, SQ_VERDICT_DROP, bytes);
		return SQ_WALK_DROPPED;
	}
	count(own, SQ_VERDICT_PASS, bytes);
	return SQ_WALK_PASSED;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct packet pkt;
	struct sq_config *cfg;
	__u32 index, zero = 0, slots;
	int seen, matched;

	if (unlikely(parse_common(data, data_end, &pkt) < 0) &&
	    parse_packet(data, data_end, &pkt) < 0) {
		count_other(SQ_SLOT_NOT_IPV4, bytes);
		return XDP_PASS;
	}
	/*
	 * Slot 0 first, before config is read: a slot out of use is off and matches nothing,
	 * so this changes no verdict, and the usual case (one rule, in slot 0) runs as one
	 * straight line whose loads do not wait for config's (measured: 1 to 3.5 ns less
	 * per packet than walking from slot 0 in the loop).
	 */
	seen = visit_rule(0, &pkt, data_end, bytes);
	if (seen == SQ_WALK_DROPPED)
		return XDP_DROP;
	matched = seen;
	cfg = bpf_map_lookup_elem(&config, &zero);
	slots = likely(cfg != 0) ? cfg->rule_slots : SQ_MAX_RULES;
	for (index = 1; index < SQ_MAX_RULES; index++) {
		if (index >= slots)
			break;
		seen = visit_rule(index, &pkt, data_end, bytes);
		if (seen == SQ_WALK_DROPPED)
			return XDP_DROP;
		matched |= seen;
	}
	/* Every matching rule passed it, and counted so; or none matched. */
	if (likely(matched))
		return XDP_PASS;
	count_other(SQ_SLOT_NO_MATCH, bytes);
	return XDP_PASS;
}
