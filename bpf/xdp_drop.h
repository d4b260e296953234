/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between bpf/xdp_drop.c and harness/kernel/xdp_layout.ts (which mirrors
 * it; harness/kernel/xdp_layout_test.ts checks that the two agree). Only fixed-width types, no
 * implicit padding: every struct is a multiple of 8 bytes with fields in size order.
 */
#ifndef SQUALL_XDP_DROP_H
#define SQUALL_XDP_DROP_H

#include <linux/types.h>

#define SQ_MAX_RULES 16
#define SQ_MAX_FLOWS 4096

/* Rule modes. */
#define SQ_MODE_OFF 0       /* rule slot unused: never matches */
#define SQ_MODE_BERNOULLI 1 /* drop each matching packet with probability loss_good */
#define SQ_MODE_GILBERT 2   /* Gilbert-Elliott: two states, each with its own loss */
#define SQ_MODE_BLACKHOLE 3 /* drop every matching packet */

/* Protocols a rule matches on (IPv4 protocol numbers); 0 matches any IPv4 packet. */
#define SQ_PROTO_ANY 0
#define SQ_PROTO_TCP 6
#define SQ_PROTO_UDP 17

/* Verdicts, the second index of the counters. */
#define SQ_VERDICT_PASS 0
#define SQ_VERDICT_DROP 1
#define SQ_VERDICTS 2

/* Counter slots: rule * SQ_VERDICTS + verdict for rules 0..SQ_MAX_RULES-1, then the two
 * below. A packet counts a pass in every matching rule until one drops it (faults
 * compose), so per-rule counts are what each rule saw, and a drop is owed to one rule.
 * Slot s is counter[s % SQ_VERDICTS] of entry s / SQ_VERDICTS of the `counters` map. */
#define SQ_SLOT_NO_MATCH (SQ_MAX_RULES * SQ_VERDICTS)     /* IPv4, no rule matched */
#define SQ_SLOT_NOT_IPV4 (SQ_MAX_RULES * SQ_VERDICTS + 1) /* passed, not parsed */
#define SQ_COUNTER_SLOTS (SQ_MAX_RULES * SQ_VERDICTS + 2)
/* Entries of the `counters` map: one per rule, then one for the two slots above. */
#define SQ_COUNTER_ENTRIES (SQ_MAX_RULES + 1)
/* Probe flows whose drops a rule counts in its `counters` entry, per CPU; the drops of
 * any further flow go to the `flow_drops` map. */
#define SQ_ENTRY_FLOWS 2

/* Probabilities are fixed point: an event happens when a random u32 is below the value,
 * so 0 is never; 0xffffffff is always (sq_chance() in xdp_drop.c, chance() in TS). */
#define SQ_CHANCE_ALWAYS 0xffffffffU

/* The probe header squall's udpProbe puts at the start of every UDP payload. */
#define SQ_PROBE_MAGIC 0x53515031U /* "SQP1", big-endian on the wire */

/* Map "rules": array of SQ_MAX_RULES. Written by user space, read per packet. */
struct sq_rule {
	__u32 mode;       /* SQ_MODE_* */
	__u32 protocol;   /* SQ_PROTO_* */
	__u32 src_addr;   /* IPv4 source, network byte order; matched under src_mask */
	__u32 src_mask;   /* network byte order; 0 matches any source */
	__u32 dport_min;  /* destination port range, host byte order, inclusive; */
	__u32 dport_max;  /* 0-65535 matches any (and packets without ports) */
	__u32 loss_good;  /* Bernoulli: loss chance; Gilbert: loss chance in the good state */
	__u32 loss_bad;   /* Gilbert: loss chance in the bad state */
	__u32 p_enter_bad; /* Gilbert: chance good -> bad per packet (p) */
	__u32 p_leave_bad; /* Gilbert: chance bad -> good per packet (r) */
	/* The kernel time (bpf_ktime_get_ns(), CLOCK_MONOTONIC) from which and until which the
	 * rule applies: it matches while active_from_ns <= now < active_until_ns. From 0 until
	 * all ones (forever) is always, and reads no clock; until 0 is never. User space writes a
	 * rule with until 0 first, then with its window, so a packet that races the write
	 * never sees the new mode with a window that is not the new one. */
	__u64 active_from_ns;
	__u64 active_until_ns;
};

/* Map "chain": array of SQ_MAX_RULES, the Gilbert-Elliott state of each rule. */
struct sq_chain {
	__u32 bad;        /* 1 in the bad state */
	__u32 _pad;
};

/* A count of packets and bytes. xdp_count.c's map "counters" holds one per CPU. */
struct sq_counter {
	__u64 packets;
	__u64 bytes;
};

/* Drops of one probe flow, in a `counters` entry. A slot is free while packets is 0; the
 * first flow dropped takes the first free one and keeps it until user space zeroes the
 * entry, so a flow is in at most one slot of an entry. */
struct sq_flow_count {
	__u32 flow_id;    /* from the probe header */
	__u32 _pad;
	__u64 packets;
};

/* Map "counters": per-CPU array of SQ_COUNTER_ENTRIES. Entry r < SQ_MAX_RULES is rule r's:
 * its pass and drop counters, the drops of the first SQ_ENTRY_FLOWS probe flows it
 * dropped on this CPU, and the state of the random numbers its draws take on this CPU
 * (splitmix64, seeded from bpf_get_prandom_u32() at the first draw, and again whenever
 * user space zeroes the entry). Entry SQ_MAX_RULES holds the no-match and not-IPv4
 * counters; its other fields stay unused. One lookup finds all that a rule touches per
 * packet, in one or two adjacent cache lines. A rule with a window (which reads the clock
 * anyway) stamps its first and last drop (bpf_ktime_get_ns()), the last packet it matched
 * before its window and the first after, so user space can tell when it really dropped
 * and bracket each edge between two packets' kernel times (over the CPUs: the earliest
 * first and after, the latest last and before). A rule for all time stamps nothing. */
struct sq_counters {
	__u64 random_state;   /* 0: not seeded yet */
	__u64 random_next;    /* the next draw, computed one draw ahead */
	struct sq_counter counter[SQ_VERDICTS]; /* by verdict (entry SQ_MAX_RULES: by slot) */
	struct sq_flow_count flow[SQ_ENTRY_FLOWS];
	/* A windowed rule only, from the clock reading its window check took anyway: */
	__u64 first_drop_ns;  /* kernel time of the first drop on this CPU; 0: none yet */
	__u64 last_drop_ns;   /* kernel time of the last drop on this CPU */
	__u64 before_ns;      /* the last packet it matched before its window opened */
	__u64 after_ns;       /* the first packet it matched after its window closed; 0: none */
};

/* Map "flow_drops": per-CPU hash, drops of probe packets per flow and rule, of the flows
 * that found no slot in the rule's `counters` entry on that CPU. A flow's drops are the
 * sum of the two, over the CPUs. */
struct sq_flow_key {
	__u32 flow_id;    /* from the probe header */
	__u32 rule;
};

struct sq_flow_value {
	__u64 packets;
};

/* Map "config": array of 1, written by user space whenever a rule slot is set or
 * cleared. The rule walk stops at rule_slots, so a packet costs what the rules in use
 * cost, not all SQ_MAX_RULES. Slot 0 is read first whatever it says (a slot out of use
 * is off and matches nothing). */
struct sq_config {
	__u32 rule_slots; /* highest slot in use + 1; 0 when no rule is on */
	__u32 _pad;
};

#endif
